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
