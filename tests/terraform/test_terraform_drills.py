"""The drill stack as Terraform deploys it: where it runs, its schedule, its table, its isolated network, its
alarms (on the dimensions the handler emits) and the health dashboard."""

from __future__ import annotations

import pytest
import tfmodel

from smart_vault.drill.sweep import LAMBDA_MAX_SECONDS, SWEEP_AFTER
from support.logs import emf_metrics

DRILL = tfmodel.DRILL_DIR
ROOT = tfmodel.REPO


def resources(directory, kind):
    return tfmodel.labelled(directory, "resource", kind)


def test_the_drill_runs_in_the_dr_region_and_drill_regions_adds_the_primary():
    calls = tfmodel.module_calls(DRILL)
    assert set(calls) == {"drill_dr", "drill_primary"}
    assert calls["drill_dr"]["providers"] == {"aws": "${aws.dr}"}
    assert calls["drill_dr"]["count"] == "${local.drill_in_dr ? 1 : 0}"
    assert calls["drill_primary"]["count"] == "${local.drill_in_prime ? 1 : 0}"
    assert "providers" not in calls["drill_primary"]
    local = tfmodel.locals_of(ROOT)
    assert local["drill_regions"] == "${var.drill_regions == null ? [var.dr_region] : var.drill_regions}"
    variable = tfmodel.variables(ROOT)["drill_regions"]
    assert variable["default"] is None and variable["validation"]
    assert calls["drill_dr"]["sns_topic_arn"] == "${aws_sns_topic.dr_notifications.arn}"
    assert calls["drill_dr"]["kms_key_arn"] == "${aws_kms_key.dr.arn}"
    assert calls["drill_primary"]["kms_key_arn"] == "${aws_kms_key.primary.arn}"


def test_the_schedule_is_weekly_by_default():
    assert tfmodel.variables(ROOT)["drill_schedule"]["default"] == "cron(0 3 ? * SUN *)"
    rule = resources(DRILL, "aws_cloudwatch_event_rule")["schedule"]
    assert rule["schedule_expression"] == "${var.settings.schedule_expression}"
    # Every drill region gets the root's drill settings.
    assert {call["settings"] for call in tfmodel.module_calls(DRILL).values()} == {"${local.drill_settings}"}
    assert tfmodel.locals_of(ROOT)["drill_settings"]["schedule_expression"] == "${var.drill_schedule}"
    assert (
        resources(DRILL, "aws_cloudwatch_event_target")["schedule"]["arn"]
        == "${aws_lambda_function.drill.arn}"
    )
    permission = resources(DRILL, "aws_lambda_permission")["schedule"]
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.schedule.arn}"
    # A retried run would drill again.
    assert resources(DRILL, "aws_lambda_function_event_invoke_config")["drill"]["maximum_retry_attempts"] == 0


def test_the_results_table_keeps_400_days_with_pitr_and_kms():
    table = resources(DRILL, "aws_dynamodb_table")["results"]
    assert (table["hash_key"], table["range_key"]) == ("pk", "sk")
    assert [(a["name"], a["type"]) for a in table["attribute"]] == [("pk", "S"), ("sk", "S")]
    assert "global_secondary_index" not in table and "local_secondary_index" not in table
    assert table["ttl"] == [{"attribute_name": "expires_at", "enabled": True}]
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"] == [{"enabled": True, "kms_key_arn": "${var.kms_key_arn}"}]
    from smart_vault.drill.results import RETENTION

    assert RETENTION.days == 400


def test_the_default_drill_network_is_isolated():
    vpc = resources(DRILL, "aws_vpc")["drill"]
    assert vpc["count"] == "${local.given_subnet_id == null ? 1 : 0}"
    subnet = resources(DRILL, "aws_subnet")["drill"]
    assert subnet["map_public_ip_on_launch"] is False
    for kind in (
        "aws_internet_gateway",
        "aws_egress_only_internet_gateway",
        "aws_nat_gateway",
        "aws_vpc_peering_connection",
        "aws_route",
        "aws_vpc_endpoint",
    ):
        assert resources(DRILL, kind) == {}, kind
    group = resources(DRILL, "aws_security_group")["drill"]
    assert "ingress" not in group and "egress" not in group
    assert resources(DRILL, "aws_vpc_security_group_ingress_rule") == {}
    assert resources(DRILL, "aws_security_group_rule") == {}
    default = resources(DRILL, "aws_default_security_group")["drill"]
    assert "ingress" not in default and "egress" not in default
    local = tfmodel.locals_of(DRILL)
    assert local["subnet_id"] == "${coalesce(local.given_subnet_id, try(aws_subnet.drill[0].id, null))}"
    assert local["given_subnet_id"] == "${lookup(var.settings.subnet_ids, var.region, null)}"
    assert local["given_security_group_ids"] == "${lookup(var.settings.security_group_ids, var.region, [])}"
    for name in ("drill_subnet_ids", "drill_security_group_ids"):
        assert tfmodel.variables(ROOT)[name]["default"] == {}
        assert tfmodel.locals_of(ROOT)["drill_settings"][name.removeprefix("drill_")] == f"${{var.{name}}}"


def test_the_drill_function_environment():
    function = resources(DRILL, "aws_lambda_function")["drill"]
    env = function["environment"][0]["variables"]
    assert env["DRILL_RESULTS_TABLE"] == "${aws_dynamodb_table.results.name}"
    assert env["DRILL_SUBNET_ID"] == "${local.subnet_id}"
    assert env["DRILL_SECURITY_GROUP_IDS"] == '${join(",", local.security_group_ids)}'
    # Not coalesce(x, ""): Terraform fails the plan when every argument of coalesce is null or "".
    assert env["DRILL_VALIDATION_FUNCTION"] == (
        '${local.validation_function_arn == null ? "" : local.validation_function_arn}'
    )
    assert (
        env["DRILL_INSTANCE_TYPE"]
        == '${var.settings.instance_type == null ? "" : var.settings.instance_type}'
    )
    assert tfmodel.locals_of(DRILL)["validation_function_arn"] == (
        "${lookup(var.settings.validation_function_arns, var.region, null)}"
    )
    assert function["timeout"] == 900
    # The sweep of killed drills' leftovers takes a drill as over once Lambda's limit (and a margin) has passed.
    assert function["timeout"] <= LAMBDA_MAX_SECONDS < SWEEP_AFTER.total_seconds()
    assert env["DRILL_TIMEOUT_SECONDS"] == "${tostring(var.settings.timeout_seconds)}"
    assert tfmodel.locals_of(ROOT)["drill_settings"]["timeout_seconds"] == "${var.drill_timeout_seconds}"
    assert tfmodel.variables(ROOT)["drill_timeout_seconds"]["default"] == 600


def test_the_restore_api_of_each_drill_region_reads_its_drill_results():
    calls = tfmodel.module_calls()
    assert calls["restore_dr"]["drill_results_table_arn"] == "${one(module.drill_dr[*].results_table_arn)}"
    assert calls["restore_primary"]["drill_results_table_arn"] == (
        "${one(module.drill_primary[*].results_table_arn)}"
    )
    queries = {s.sid: s for s in tfmodel.role_statements("restore_api") if s.allows("dynamodb:Query")}
    # (v3) ReadChangeMeasurements: GET /recovery-points reads the backup's ledger in the primary region.
    assert set(queries) == {"ReadDrillResults", "ReadChangeMeasurements"}
    assert queries["ReadDrillResults"].resources == ("${statement.value}",)


def emitted_drill_metrics(capsys, monkeypatch):
    from smart_vault.drill import entry

    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    capsys.readouterr()
    entry.emit_metrics(
        {
            "region": "eu-central-1",
            "dry_run": False,
            "overdue": 2,
            "drills": [
                {"status": "PASSED", "rto_seconds": 301.5, "leftovers": []},
                {"status": "FAILED", "rto_seconds": None, "leftovers": ["i-0123456789abcdef0"]},
            ],
            # What the sweep removed of an earlier drill that never reached its teardown, and could not.
            "sweep": {
                "swept": [
                    {
                        "drill_id": "d-1",
                        "removed": ["i-0fedcba9876543210", "ami-0123456789abcdef0"],
                        "left": ["volume vol-0123456789abcdef0 was not deleted (VolumeInUse: ...)"],
                    }
                ],
                "recent": [],
                "deferred": [],
                "error": None,
            },
        }
    )
    return emf_metrics(capsys.readouterr().out)


def test_drill_alarms_watch_what_the_handler_emits(capsys, monkeypatch):
    emitted = emitted_drill_metrics(capsys, monkeypatch)
    region = {"Region": "eu-central-1"}
    assert emitted == {
        "DrillOverdue": [(2, region)],
        "DrillsPassed": [(1, region)],
        "DrillsFailed": [(1, region)],
        "DrillLeftovers": [(2, region)],  # the drill's one and the sweep's one
        "DrillLeftoversSwept": [(2, region)],
        "DrillRtoSeconds": [(301.5, region)],
    }
    alarms = resources(DRILL, "aws_cloudwatch_metric_alarm")
    by_metric = {a["metric_name"]: a for a in alarms.values() if a["namespace"] == "SmartVault"}
    assert set(by_metric) == {"DrillsFailed", "DrillOverdue", "DrillRtoSeconds", "DrillLeftovers"}
    for alarm in by_metric.values():
        assert tfmodel.resolve(alarm["dimensions"], DRILL) == {"Region": "${var.region}"}
        assert alarm["comparison_operator"] == "GreaterThanThreshold"
        assert alarm["alarm_actions"] == ["${var.sns_topic_arn}"]
    assert by_metric["DrillsFailed"]["threshold"] == 0
    assert by_metric["DrillOverdue"]["threshold"] == 0
    # Leftovers the sweep could not remove fail no drill: their own alarm, on the first one.
    assert by_metric["DrillLeftovers"]["threshold"] == 0 and by_metric["DrillLeftovers"]["statistic"] == "Sum"
    assert by_metric["DrillRtoSeconds"]["threshold"] == "${var.settings.rto_threshold_seconds}"
    assert tfmodel.module_calls(DRILL)["drill_dr"]["settings"] == "${local.drill_settings}"
    assert (
        tfmodel.locals_of(ROOT)["drill_settings"]["rto_threshold_seconds"]
        == "${var.drill_rto_threshold_seconds}"
    )


@pytest.mark.parametrize(
    "metric",
    [
        "RecoveryPointAgeSeconds",
        "CopyBacklog",
        "OldestOwedCopySeconds",
        "DrillsPassed",
        "DrillsFailed",
        "DrillRtoSeconds",
        "BackupFailures",
    ],
)
def test_the_dashboard_shows_the_vaults_health(metric):
    dashboard = resources(ROOT, "aws_cloudwatch_dashboard")["health"]
    assert "".join(dashboard["dashboard_body"].split()) == "${jsonencode({widgets=local.dashboard_widgets})}"
    widgets = tfmodel.locals_of(ROOT)["dashboard_widgets"]
    assert f'"SmartVault", "{metric}"' in widgets


def test_change_measurements_are_read_only_by_the_primary_restore_api_and_measured_only_on_managed_snapshots():
    calls = tfmodel.module_calls()
    assert calls["restore_primary"]["change_ledger_table_arn"] == "${aws_dynamodb_table.copy_ledger.arn}"
    assert "change_ledger_table_arn" not in calls["restore_dr"]
    measure = [s for s in tfmodel.role_statements("backup") if s.allows("ebs:ListChangedBlocks")]
    assert [s.sid for s in measure] == ["MeasureChangedBlocksOfManagedSnapshots"]
    assert measure[0].allows("ebs:ListSnapshotBlocks") and not measure[0].allows("ebs:GetSnapshotBlock")
    assert measure[0].resources == ("arn:${local.partition}:ec2:${var.primary_region}::snapshot/*",)
    assert any(c[1].startswith("aws:ResourceTag/") for c in measure[0].conditions)
    [dr_tags] = [s for s in tfmodel.role_statements("backup") if s.sid == "MarkSuspectAndHeldDrCopies"]
    assert set(dr_tags.actions) == {"ec2:CreateTags"}
    assert (
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        ("smart-vault:suspect", "smart-vault:hold"),
    ) in dr_tags.conditions
