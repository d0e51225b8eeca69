"""Pure logic of the local stack's CloudWatch side: EMF parsing, alarm evaluation, schedule expressions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from smart_vault.local.alarm_evaluation import ALARM, INSUFFICIENT, OK, alarm_state
from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.monitoring import AlarmSpec
from smart_vault.local.rules import rules
from smart_vault.local.schedule import ScheduleError, fire_times, tick_plan
from smart_vault.local.telemetry import emf_metric_data

ALARM_SPEC = AlarmSpec("r", "a", "SmartVault", "M", {}, "Maximum", 3600, 10, "notBreaching", "r")


def test_emf_line_becomes_one_datum_per_value_and_dimension_set():
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_700_000_000_000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "SmartVault",
                        "Dimensions": [["Region"]],
                        "Metrics": [{"Name": "Age", "Unit": "Seconds"}],
                    }
                ],
            },
            "Region": "eu-west-1",
            "Age": [5, 7],
        }
    )
    data = emf_metric_data(line)
    assert [(ns, d["MetricName"], d["Value"], d["Dimensions"]) for ns, d in data] == [
        ("SmartVault", "Age", 5.0, [{"Name": "Region", "Value": "eu-west-1"}]),
        ("SmartVault", "Age", 7.0, [{"Name": "Region", "Value": "eu-west-1"}]),
    ]
    assert data[0][1]["Timestamp"] == datetime.fromtimestamp(1_700_000_000, UTC)


@pytest.mark.parametrize("line", ["plain text", '{"level": "INFO"}', '{"_aws": 3}', "[1]"])
def test_other_lines_are_not_metrics(line):
    assert emf_metric_data(line) == []


@pytest.mark.parametrize(
    ("treat", "values", "current", "expected"),
    [
        ("notBreaching", [11.0], OK, ALARM),
        ("notBreaching", [10.0], ALARM, OK),  # GreaterThanThreshold: equal is not a breach
        ("notBreaching", [None], ALARM, OK),
        ("breaching", [None], OK, ALARM),
        ("ignore", [None], ALARM, ALARM),  # the state holds
        ("missing", [None], OK, INSUFFICIENT),
        ("missing", [None, 12.0], OK, ALARM),  # missing periods are skipped
    ],
)
def test_alarm_state_follows_cloudwatch_missing_data_rules(treat, values, current, expected):
    alarm = replace(ALARM_SPEC, treat_missing_data=treat, evaluation_periods=len(values))
    assert alarm_state(alarm, values, current) == expected


def test_datapoints_to_alarm_m_of_n():
    alarm = replace(ALARM_SPEC, evaluation_periods=3, datapoints_to_alarm=2)
    assert alarm_state(alarm, [11.0, 1.0, 1.0], OK) == OK
    assert alarm_state(alarm, [11.0, 1.0, 12.0], OK) == ALARM


def test_cron_and_rate_fire_times():
    start = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a Saturday
    end = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    assert list(fire_times("cron(0 2 * * ? *)", start, end)) == [
        datetime(2026, 12, d, 2, 0, tzinfo=UTC) for d in (6, 7, 8)
    ]
    assert list(fire_times("cron(0 3 ? * SUN *)", start, end)) == [datetime(2026, 12, 6, 3, 0, tzinfo=UTC)]
    assert len(list(fire_times("rate(30 minutes)", start, end))) == 3 * 48
    assert list(fire_times("cron(15 10 ? * MON-FRI 2027)", start, end)) == []


@pytest.mark.parametrize("expression", ["cron(0 2 * *)", "rate(3 weeks)", "cron(61 2 * * ? *)", "daily"])
def test_bad_schedules_are_refused(expression):
    with pytest.raises(ScheduleError):
        list(fire_times(expression, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)))


def test_tick_plan_runs_the_days_schedules_in_order_merging_repeats():
    scheduled = [r for r in rules(DeploymentConfig()) if r.schedule]
    start = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # Saturday noon: Sunday 02:00 backup, 03:00 drill

    plan = tick_plan(scheduled, start, days=1)

    assert [(f.at.strftime("%a %H:%M"), f.rule.name) for f in plan] == [
        ("Sat 12:30", "smart-vault-copy-reconciliation"),
        ("Sun 02:00", "smart-vault-backup-schedule"),
        ("Sun 02:00", "smart-vault-copy-reconciliation"),
        ("Sun 03:00", "smart-vault-dr-drill-schedule"),
        ("Sun 03:30", "smart-vault-copy-reconciliation"),
    ]
