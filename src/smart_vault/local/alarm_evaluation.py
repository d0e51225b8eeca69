"""CloudWatch's alarm evaluation, for the emulator (moto stores alarms and metrics but never evaluates).

`alarm_state` is CloudWatch's rule as documented ("Evaluating an alarm", "Configuring how CloudWatch alarms
treat missing data"): the latest `EvaluationPeriods` periods are read; missing ones count as the
`TreatMissingData` says (`breaching`, `notBreaching`, or skipped for `ignore` / `missing`); `DatapointsToAlarm`
(default: all of them) breaching ones make ALARM. With every period missing, `missing` means
INSUFFICIENT_DATA and `ignore` keeps the current state. A change of state publishes the alarm notification to
the alarm's actions for the new state, as CloudWatch does.

Guess: CloudWatch looks back a few extra periods when every evaluated one is missing; this does not.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_vault.local.monitoring import AlarmSpec

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def alarm_state(alarm: AlarmSpec, values: list[float | None], current: str) -> str:
    """The state of `alarm` given the statistic of each evaluated period (None: no datapoint)."""
    breaches = COMPARISONS[alarm.comparison]
    if all(v is None for v in values):
        return {"breaching": ALARM, "notBreaching": OK, "ignore": current}.get(
            alarm.treat_missing_data, INSUFFICIENT
        )
    counted = []
    for value in values:
        if value is not None:
            counted.append(breaches(value, alarm.threshold))
        elif alarm.treat_missing_data in ("breaching", "notBreaching"):
            counted.append(alarm.treat_missing_data == "breaching")
    needed = alarm.datapoints_to_alarm or alarm.evaluation_periods
    return ALARM if sum(counted) >= min(needed, len(counted)) else OK


def period_values(cloudwatch: Any, alarm: AlarmSpec, now: datetime) -> list[float | None]:
    """The alarm's statistic in each of its latest evaluation periods, oldest first."""
    end = datetime.fromtimestamp(now.timestamp() // alarm.period * alarm.period + alarm.period, UTC)
    start = end - timedelta(seconds=alarm.period * alarm.evaluation_periods)
    points = cloudwatch.get_metric_statistics(
        Namespace=alarm.namespace,
        MetricName=alarm.metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in alarm.dimensions.items()],
        StartTime=start,
        EndTime=end,
        Period=alarm.period,
        Statistics=[alarm.statistic],
    )["Datapoints"]
    by_start = {int(p["Timestamp"].timestamp()) // alarm.period: p[alarm.statistic] for p in points}
    first = int(start.timestamp()) // alarm.period
    return [by_start.get(first + i) for i in range(alarm.evaluation_periods)]


def evaluate_alarms(client_for: Any, alarms: list[AlarmSpec], now: datetime | None = None) -> dict[str, str]:
    """Evaluate every alarm now; set the changed states and notify their actions. Returns name -> state."""
    now = now or datetime.now(UTC)
    states = {}
    for alarm in alarms:
        cloudwatch = client_for("cloudwatch", alarm.region)
        described = cloudwatch.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"][0]
        new = alarm_state(alarm, period_values(cloudwatch, alarm, now), described["StateValue"])
        states[alarm.name] = new
        if new == described["StateValue"]:
            continue
        reason = f"Threshold Crossed: the latest {alarm.evaluation_periods} period(s) evaluated {new} (local stack)"
        cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=new, StateReason=reason)
        actions = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT: "InsufficientDataActions"}[new]
        message = json.dumps(
            {
                "AlarmName": alarm.name,
                "NewStateValue": new,
                "OldStateValue": described["StateValue"],
                "NewStateReason": reason,
                "Region": alarm.region,
                "StateChangeTime": now.isoformat(),
            }
        )
        for topic in described.get(actions) or []:
            region = topic.split(":")[3]
            client_for("sns", region).publish(
                TopicArn=topic,
                Subject=f'ALARM: "{alarm.name}"'[:100] if new == ALARM else f"{new}: {alarm.name}"[:100],
                Message=message,
            )
    return states
