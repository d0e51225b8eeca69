"""The Terraform's EventBridge rules, their targets and the Lambda permissions that let them invoke, as data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.lambda_service import ACCOUNT_ID, LambdaPermission


@dataclass(frozen=True)
class RuleSpec:
    region: str
    name: str
    description: str
    schedule: str | None = None
    pattern: dict[str, Any] | None = None
    target_function: str | None = None  # a function of the rule's region
    target_bus_region: str | None = None  # forward to that region's default bus
    target_input: dict[str, Any] | None = None
    statement_id: str | None = None  # the aws_lambda_permission letting the rule invoke the target

    @property
    def arn(self) -> str:
        return f"arn:aws:events:{self.region}:{ACCOUNT_ID}:rule/{self.name}"


def rules(config: DeploymentConfig) -> list[RuleSpec]:
    """backup.tf's rules and targets, and each drill stack's schedule."""
    return backup_rules(config) + drill_rules(config)


def tamper_rule_names(config: DeploymentConfig, region: str) -> list[str]:
    """The rules the tamper alarms of `region` watch (vault.tf): backup.tf's rules of that region, those
    that invoke the backup function in the primary region and the copy-completion forwarding in the DR one,
    then the schedule of the region's drill stack where there is one."""
    return [rule.name for rule in rules(config) if rule.region == region]


def backup_rules(config: DeploymentConfig) -> list[RuleSpec]:
    """backup.tf's rules and targets."""
    p, dr, prefix, backup = (
        config.primary_region,
        config.dr_region,
        config.name_prefix,
        config.backup_function_name,
    )
    copy_event = {"source": ["aws.ec2"], "detail-type": ["EBS Snapshot Notification"]}
    return [
        RuleSpec(
            p,
            f"{prefix}-backup-schedule",
            "Smart Vault daily backup run (EventBridge cron is UTC).",
            schedule=config.backup_schedule,
            target_function=backup,
            statement_id="AllowScheduleRule",
        ),
        RuleSpec(
            p,
            f"{prefix}-snapshot-completion",
            "EBS snapshot completion events: start the DR copies of managed snapshots at once.",
            pattern={
                "source": ["aws.ec2"],
                "detail-type": ["EBS Multi-Volume Snapshots Completion Status", "EBS Snapshot Notification"],
                "detail": {"event": ["createSnapshot", "createSnapshots"]},
            },
            target_function=backup,
            statement_id="AllowSnapshotCompletionRule",
        ),
        RuleSpec(
            dr,
            f"{prefix}-dr-copy-completion",
            "EBS copySnapshot results in the DR region, forwarded to the primary region's default bus.",
            pattern={**copy_event, "detail": {"event": ["copySnapshot"]}},
            target_bus_region=p,
        ),
        RuleSpec(
            p,
            f"{prefix}-copy-completion",
            "DR copySnapshot results (forwarded from the DR region): free a slot, start owed copies.",
            pattern={**copy_event, "region": [dr], "detail": {"event": ["copySnapshot"]}},
            target_function=backup,
            statement_id="AllowCopyCompletionRule",
        ),
        RuleSpec(
            p,
            f"{prefix}-copy-reconciliation",
            "Smart Vault: start owed DR copies into free slots.",
            schedule=f"rate({config.copy_reconcile_minutes} minutes)",
            target_function=backup,
            target_input={"reconcile_copies": True},
            statement_id="AllowCopyReconciliationRule",
        ),
    ]


def drill_rules(config: DeploymentConfig) -> list[RuleSpec]:
    """Each drill stack's schedule (modules/drill_stack/main.tf)."""
    return [
        RuleSpec(
            stack.region,
            f"{stack.name_prefix}-drill-schedule",
            f"Smart Vault restore drills in {stack.region} (EventBridge cron is UTC).",
            schedule=config.drill_schedule,
            target_function=stack.function_name,
            statement_id="AllowDrillSchedule",
        )
        for stack in config.drill_stacks()
    ]


def function_permissions(
    config: DeploymentConfig, region: str, function: str
) -> tuple[LambdaPermission, ...]:
    """The aws_lambda_permission statements of the rules that invoke `function`."""
    return tuple(
        LambdaPermission(rule.statement_id, "events.amazonaws.com", rule.arn)
        for rule in rules(config)
        if rule.region == region and rule.target_function == function and rule.statement_id
    )


def rule_arguments(rule: RuleSpec) -> dict[str, Any]:
    arguments: dict[str, Any] = {"Name": rule.name, "Description": rule.description, "State": "ENABLED"}
    if rule.schedule:
        arguments["ScheduleExpression"] = rule.schedule
    if rule.pattern:
        arguments["EventPattern"] = json.dumps(rule.pattern)
    return arguments
