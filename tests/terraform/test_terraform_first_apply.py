"""Ordering a first `terraform apply` needs that Terraform cannot infer from references alone."""

from __future__ import annotations

import tfmodel


def test_api_gateway_account_waits_for_its_logging_role_policy_attachment():
    account = tfmodel.labelled(tfmodel.MODULE_DIR, "resource", "aws_api_gateway_account")["this"]
    assert "${var.api_gateway_logs_role_policy_attachment}" in account.get("depends_on", [])
    calls = tfmodel.module_calls()
    assert {"restore_primary", "restore_dr"} <= set(calls)
    for name in ("restore_primary", "restore_dr"):
        passed = calls[name].get("api_gateway_logs_role_policy_attachment", "")
        assert passed == "${aws_iam_role_policy_attachment.api_gateway_logs.id}", name
    attachment = tfmodel.labelled(tfmodel.REPO, "resource", "aws_iam_role_policy_attachment")[
        "api_gateway_logs"
    ]
    assert attachment["role"] == "${aws_iam_role.api_gateway_logs.name}"


def test_rpo_alarm_clears_once_the_latest_run_reports_an_age_under_the_threshold():
    # With M of N hourly datapoints and M=1, one breach kept the alarm in ALARM for N hours.
    alarm = tfmodel.labelled(tfmodel.REPO, "resource", "aws_cloudwatch_metric_alarm")["rpo_breach"]
    assert alarm["period"] == 3600
    assert alarm["evaluation_periods"] == 1
    assert alarm.get("datapoints_to_alarm", 1) == 1
    assert alarm["treat_missing_data"] == "ignore"
