"""Ordering a first `terraform apply` needs that Terraform cannot infer from references alone."""

from __future__ import annotations

import tfmodel


def test_api_gateway_account_waits_for_its_logging_role_policy_attachment():
    account = tfmodel.labelled(tfmodel.MODULE_DIR, "resource", "aws_api_gateway_account")["this"]
    assert "${var.api_gateway_logging}" in account.get("depends_on", [])
    assert account["cloudwatch_role_arn"] == "${var.api_gateway_logging.role_arn}"
    calls = tfmodel.module_calls()
    assert {"restore_primary", "restore_dr"} <= set(calls)
    for name in ("restore_primary", "restore_dr"):
        assert calls[name]["api_gateway_logging"] == "${local.api_gateway_logging}", name
    logging = tfmodel.locals_of(tfmodel.REPO)["api_gateway_logging"]
    assert "role_policy_attachment = aws_iam_role_policy_attachment.api_gateway_logs.id" in logging
    attachment = tfmodel.labelled(tfmodel.REPO, "resource", "aws_iam_role_policy_attachment")[
        "api_gateway_logs"
    ]
    assert attachment["role"] == "${aws_iam_role.api_gateway_logs.name}"


def test_the_api_gateway_account_count_is_known_before_its_role_exists():
    """On a first apply the logging role's ARN is unknown at plan time, and a count on `arn == null` cannot be
    planned ("Invalid count argument"; tests/terraform/plan plans it with Terraform). The count tests an
    object that is null only where the operator manages the setting, a value known at plan time."""
    account = tfmodel.labelled(tfmodel.MODULE_DIR, "resource", "aws_api_gateway_account")["this"]
    assert account["count"] == "${var.api_gateway_logging == null ? 0 : 1}"
    logging = tfmodel.locals_of(tfmodel.REPO)["api_gateway_logging"]
    assert logging.startswith("${var.manage_api_gateway_account ? {") and logging.endswith("} : null}")


def test_rpo_alarm_clears_once_the_latest_run_reports_an_age_under_the_threshold():
    # With M of N hourly datapoints and M=1, one breach kept the alarm in ALARM for N hours.
    alarm = tfmodel.labelled(tfmodel.REPO, "resource", "aws_cloudwatch_metric_alarm")[
        'rpo_breaches["rpo-breach"]'
    ]
    assert alarm["period"] == 3600
    assert alarm["evaluation_periods"] == 1
    assert alarm.get("datapoints_to_alarm", 1) == 1
    assert alarm["treat_missing_data"] == "ignore"


def test_no_reserved_concurrency_by_default_so_a_new_account_with_a_quota_of_10_can_apply():
    # Lambda keeps 100 executions of the region unreserved (reservations: at most the quota minus 100); a
    # new account's quota is often 10, so any default reservation fails PutFunctionConcurrency there.
    root = tfmodel.variables(tfmodel.REPO)
    assert root["backup_reserved_concurrency"]["default"] is None
    assert root["restore_reserved_concurrency"]["default"] is None
    # Both restore stacks get the root's (modules/restore_stack's `settings`), null when left out.
    calls = tfmodel.module_calls()
    assert {call["settings"] for call in calls.values()} == {"${local.restore_settings}"}
    settings = tfmodel.locals_of(tfmodel.REPO)["restore_settings"]
    assert settings["reserved_concurrency"] == "${var.restore_reserved_concurrency}"
    module = tfmodel.variables(tfmodel.MODULE_DIR)
    assert "reserved_concurrency = optional(number)" in module["settings"]["type"]
