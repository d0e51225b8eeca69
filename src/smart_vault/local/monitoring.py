"""What the Terraform deploys around the functions, as data: alarms, EventBridge rules and their targets,
log groups, roles and the health dashboard.

`provision_monitoring` creates exactly this in the emulator; `tests/local/test_local_terraform_parity.py`
parses the *.tf files and fails when the two drift apart (names, metrics, dimensions, thresholds, schedules,
patterns, targets). Everything is derived from `DeploymentConfig`, whose defaults are the variables'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.lambda_service import ACCOUNT_ID, LambdaPermission

BILLING_REGION = "us-east-1"
SERVICE_DIMENSION = {"service": "smart-vault"}


@dataclass(frozen=True)
class AlarmSpec:
    region: str
    name: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    statistic: str
    period: int
    threshold: float
    treat_missing_data: str
    topic_region: str  # whose notification topic the actions name ("billing": the billing topic)
    ok_actions: bool = False
    insufficient_data_actions: bool = False
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    comparison: str = "GreaterThanThreshold"


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


@dataclass(frozen=True)
class RoleSpec:
    name: str
    service: str  # the service principal that assumes it
    description: str


@dataclass(frozen=True)
class Monitoring:
    alarms: list[AlarmSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    log_groups: dict[str, list[str]] = field(default_factory=dict)  # region -> names
    roles: list[RoleSpec] = field(default_factory=list)
    dashboard_name: str = ""
    dashboard_widgets: list[dict[str, Any]] = field(default_factory=list)


def backup_alarms(config: DeploymentConfig) -> list[AlarmSpec]:
    """alarms.tf."""
    p, dr, prefix = config.primary_region, config.dr_region, config.name_prefix
    function = {"FunctionName": config.backup_function_name}

    def alarm(name: str, namespace: str, metric: str, dimensions: dict[str, str], **kw: Any) -> AlarmSpec:
        kw.setdefault("statistic", "Sum")
        kw.setdefault("period", 300)
        kw.setdefault("threshold", 0)
        kw.setdefault("treat_missing_data", "notBreaching")
        kw.setdefault("topic_region", p)
        return AlarmSpec(p, f"{prefix}-{name}", namespace, metric, dimensions, **kw)

    alarms = [
        alarm("backup-failures", "SmartVault", "BackupFailures", SERVICE_DIMENSION, ok_actions=True),
        alarm(
            "rpo-breach",
            "SmartVault",
            "RecoveryPointAgeSeconds",
            {"Region": p},
            statistic="Maximum",
            period=3600,
            threshold=config.rpo_threshold_hours * 3600,
            treat_missing_data="ignore",
            ok_actions=True,
            insufficient_data_actions=True,
            datapoints_to_alarm=1,
        ),
        alarm(
            "dr-rpo-breach",
            "SmartVault",
            "RecoveryPointAgeSeconds",
            {"Region": dr},
            statistic="Maximum",
            period=3600,
            threshold=config.dr_rpo_threshold_hours * 3600,
            treat_missing_data="missing",
            ok_actions=True,
            insufficient_data_actions=True,
        ),
        alarm(
            "owed-copy-age",
            "SmartVault",
            "OldestOwedCopySeconds",
            SERVICE_DIMENSION,
            statistic="Maximum",
            period=3600,
            threshold=config.owed_copy_threshold_hours * 3600,
            ok_actions=True,
        ),
        alarm("backup-errors", "AWS/Lambda", "Errors", function),
        alarm("backup-throttles", "AWS/Lambda", "Throttles", function),
        alarm(
            "backup-dlq-messages",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": f"{prefix}-backup-dlq"},
            statistic="Maximum",
        ),
    ]
    if config.enable_billing_alarm:
        billing = alarm(
            "estimated-charges",
            "AWS/Billing",
            "EstimatedCharges",
            {"Currency": "USD"},
            statistic="Maximum",
            period=21600,
            threshold=config.billing_alarm_threshold_usd,
            topic_region="billing",
        )
        alarms.append(AlarmSpec(**{**billing.__dict__, "region": BILLING_REGION}))
    return alarms


def restore_alarms(config: DeploymentConfig) -> list[AlarmSpec]:
    """modules/restore_stack/alarms.tf, once per restore stack."""
    alarms = []
    for stack in config.restore_stacks():
        r, prefix = stack.region, stack.name_prefix
        functions = {"restore-api": stack.api_function_name, "restore-worker": stack.worker_function_name}
        for short, function in functions.items():
            for metric in ("Errors", "Throttles"):
                alarms.append(
                    AlarmSpec(
                        r,
                        f"{prefix}-{short}-{metric.lower()}",
                        "AWS/Lambda",
                        metric,
                        {"FunctionName": function},
                        "Sum",
                        300,
                        0,
                        "notBreaching",
                        r,
                    )
                )
        alarms.append(
            AlarmSpec(
                r,
                f"{prefix}-restore-worker-dlq-messages",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": f"{prefix}-restore-worker-dlq"},
                "Maximum",
                300,
                0,
                "notBreaching",
                r,
            )
        )
        alarms.append(
            AlarmSpec(
                r,
                f"{prefix}-restore-api-5xx",
                "AWS/ApiGateway",
                "5XXError",
                {"ApiName": stack.api_name, "Stage": "v1"},
                "Sum",
                300,
                0,
                "notBreaching",
                r,
            )
        )
    return alarms


def drill_alarms(config: DeploymentConfig) -> list[AlarmSpec]:
    """modules/drill_stack/alarms.tf, once per drill stack."""
    alarms = []
    for stack in config.drill_stacks():
        r, prefix, region = stack.region, stack.name_prefix, {"Region": stack.region}
        alarms += [
            AlarmSpec(
                r,
                f"{prefix}-drills-failed",
                "SmartVault",
                "DrillsFailed",
                region,
                "Sum",
                3600,
                0,
                "notBreaching",
                r,
                ok_actions=True,
            ),
            AlarmSpec(
                r,
                f"{prefix}-drills-overdue",
                "SmartVault",
                "DrillOverdue",
                region,
                "Maximum",
                3600,
                0,
                "ignore",
                r,
                ok_actions=True,
            ),
            AlarmSpec(
                r,
                f"{prefix}-drill-rto",
                "SmartVault",
                "DrillRtoSeconds",
                region,
                "Maximum",
                3600,
                config.drill_rto_threshold_seconds,
                "notBreaching",
                r,
                ok_actions=True,
            ),
            AlarmSpec(
                r,
                f"{prefix}-drill-errors",
                "AWS/Lambda",
                "Errors",
                {"FunctionName": stack.function_name},
                "Sum",
                300,
                0,
                "notBreaching",
                r,
            ),
        ]
    return alarms


def rules(config: DeploymentConfig) -> list[RuleSpec]:
    """backup.tf's rules and targets, and each drill stack's schedule."""
    p, dr, prefix, backup = (
        config.primary_region,
        config.dr_region,
        config.name_prefix,
        config.backup_function_name,
    )
    copy_event = {"source": ["aws.ec2"], "detail-type": ["EBS Snapshot Notification"]}
    found = [
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
    for stack in config.drill_stacks():
        found.append(
            RuleSpec(
                stack.region,
                f"{stack.name_prefix}-drill-schedule",
                f"Smart Vault restore drills in {stack.region} (EventBridge cron is UTC).",
                schedule=config.drill_schedule,
                target_function=stack.function_name,
                statement_id="AllowDrillSchedule",
            )
        )
    return found


def function_permissions(
    config: DeploymentConfig, region: str, function: str
) -> tuple[LambdaPermission, ...]:
    """The aws_lambda_permission statements of the rules that invoke `function`."""
    return tuple(
        LambdaPermission(rule.statement_id, "events.amazonaws.com", rule.arn)
        for rule in rules(config)
        if rule.region == region and rule.target_function == function and rule.statement_id
    )


def log_groups(config: DeploymentConfig) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {config.primary_region: [f"/aws/lambda/{config.backup_function_name}"]}
    for stack in config.restore_stacks():
        groups.setdefault(stack.region, []).extend(
            [
                f"/aws/lambda/{stack.api_function_name}",
                f"/aws/lambda/{stack.worker_function_name}",
                f"/aws/apigateway/{stack.name_prefix}-restore-access",
            ]
        )
    for drill in config.drill_stacks():
        groups.setdefault(drill.region, []).append(f"/aws/lambda/{drill.function_name}")
    return groups


def roles(config: DeploymentConfig) -> list[RoleSpec]:
    prefix = config.name_prefix
    found = [
        RoleSpec(
            f"{prefix}-backup",
            "lambda.amazonaws.com",
            "Smart Vault backup function: snapshot sets, DR copies, pruning of managed snapshots.",
        ),
        RoleSpec(
            f"{prefix}-copy-event-forwarder",
            "events.amazonaws.com",
            "Smart Vault: forwards DR copySnapshot events to the primary region's default bus.",
        ),
        RoleSpec(
            f"{prefix}-apigw-logs",
            "apigateway.amazonaws.com",
            "Lets API Gateway write the restore APIs' execution logs to CloudWatch Logs.",
        ),
    ]
    for stack in config.restore_stacks():
        found += [
            RoleSpec(
                stack.api_function_name,
                "lambda.amazonaws.com",
                f"Smart Vault restore API function ({stack.region}): pre-checks, job records, worker start.",
            ),
            RoleSpec(
                stack.worker_function_name,
                "lambda.amazonaws.com",
                f"Smart Vault restore worker ({stack.region}): volumes and instances from managed snapshots.",
            ),
        ]
    for drill in config.drill_stacks():
        found.append(
            RoleSpec(
                drill.function_name,
                "lambda.amazonaws.com",
                f"Smart Vault restore drills ({drill.region}): temporary AMIs and instances from managed snapshots.",
            )
        )
    return found


def monitoring(config: DeploymentConfig) -> Monitoring:
    from smart_vault.local.dashboard_body import dashboard_widgets

    return Monitoring(
        alarms=backup_alarms(config) + restore_alarms(config) + drill_alarms(config),
        rules=rules(config),
        log_groups=log_groups(config),
        roles=roles(config),
        dashboard_name=f"{config.name_prefix}-health",
        dashboard_widgets=dashboard_widgets(config),
    )


def rule_arguments(rule: RuleSpec) -> dict[str, Any]:
    arguments: dict[str, Any] = {"Name": rule.name, "Description": rule.description, "State": "ENABLED"}
    if rule.schedule:
        arguments["ScheduleExpression"] = rule.schedule
    if rule.pattern:
        arguments["EventPattern"] = json.dumps(rule.pattern)
    return arguments
