"""What the Terraform deploys around the functions, as data: alarms, EventBridge rules and their targets,
log groups, roles and the health dashboard.

`provision_monitoring` creates exactly this in the emulator; `tests/local/test_local_terraform_parity.py`
parses the *.tf files and fails when the two drift apart (names, metrics, dimensions, thresholds, schedules,
patterns, targets). Everything is derived from `DeploymentConfig`, whose defaults are the variables'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.rules import RuleSpec, rules

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
    function = {"FunctionName": config.backup_function_name}
    alarms = [
        _backup_alarm(
            config, "backup-failures", "SmartVault", "BackupFailures", SERVICE_DIMENSION, ok_actions=True
        ),
        *_age_alarms(config),
        # (v3) An anomalous change rate on a volume (alarms.tf `backup_counts["change-anomaly"]`).
        _backup_alarm(
            config, "change-anomaly", "SmartVault", "ChangeAnomalies", SERVICE_DIMENSION, ok_actions=True
        ),
        _backup_alarm(config, "backup-errors", "AWS/Lambda", "Errors", function),
        _backup_alarm(config, "backup-throttles", "AWS/Lambda", "Throttles", function),
        _backup_alarm(
            config,
            "backup-dlq-messages",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": f"{config.name_prefix}-backup-dlq"},
            statistic="Maximum",
        ),
    ]
    if config.enable_billing_alarm:
        alarms.append(billing_alarm(config))
    return alarms


def _backup_alarm(
    config: DeploymentConfig, name: str, namespace: str, metric: str, dimensions: dict[str, str], **kw: Any
) -> AlarmSpec:
    """One alarm of alarms.tf in the primary region: a 5-minute sum over 0 unless `kw` says otherwise."""
    kw.setdefault("statistic", "Sum")
    kw.setdefault("period", 300)
    kw.setdefault("threshold", 0)
    kw.setdefault("treat_missing_data", "notBreaching")
    kw.setdefault("topic_region", config.primary_region)
    return AlarmSpec(
        config.primary_region, f"{config.name_prefix}-{name}", namespace, metric, dimensions, **kw
    )


def _age_alarms(config: DeploymentConfig) -> list[AlarmSpec]:
    """The recovery point age of each region and the oldest owed copy: hourly maxima over a number of hours."""

    def age(name: str, metric: str, dimensions: dict[str, str], hours: float, **kw: Any) -> AlarmSpec:
        return _backup_alarm(
            config,
            name,
            "SmartVault",
            metric,
            dimensions,
            statistic="Maximum",
            period=3600,
            threshold=hours * 3600,
            ok_actions=True,
            **kw,
        )

    return [
        age(
            "rpo-breach",
            "RecoveryPointAgeSeconds",
            {"Region": config.primary_region},
            config.rpo_threshold_hours,
            treat_missing_data="ignore",
            insufficient_data_actions=True,
            datapoints_to_alarm=1,
        ),
        age(
            "dr-rpo-breach",
            "RecoveryPointAgeSeconds",
            {"Region": config.dr_region},
            config.dr_rpo_threshold_hours,
            treat_missing_data="missing",
            insufficient_data_actions=True,
        ),
        age("owed-copy-age", "OldestOwedCopySeconds", SERVICE_DIMENSION, config.owed_copy_threshold_hours),
    ]


def billing_alarm(config: DeploymentConfig) -> AlarmSpec:
    """alarms.tf's `billing` (count = enable_billing_alarm): in us-east-1, to the billing topic."""
    return AlarmSpec(
        BILLING_REGION,
        f"{config.name_prefix}-estimated-charges",
        "AWS/Billing",
        "EstimatedCharges",
        {"Currency": "USD"},
        "Maximum",
        21600,
        config.billing_alarm_threshold_usd,
        "notBreaching",
        "billing",
    )


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
        # (name, metric, statistic, threshold, missing data): every one hourly, with OK notifications too.
        drill_metrics = (
            ("drills-failed", "DrillsFailed", "Sum", 0, "notBreaching"),
            ("drill-leftovers", "DrillLeftovers", "Sum", 0, "notBreaching"),
            ("drills-overdue", "DrillOverdue", "Maximum", 0, "ignore"),
            ("drill-rto", "DrillRtoSeconds", "Maximum", config.drill_rto_threshold_seconds, "notBreaching"),
        )
        alarms += [
            AlarmSpec(
                r,
                f"{prefix}-{name}",
                "SmartVault",
                metric,
                region,
                statistic,
                3600,
                threshold,
                missing,
                r,
                ok_actions=True,
            )
            for name, metric, statistic, threshold, missing in drill_metrics
        ]
        alarms.append(
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
            )
        )
    return alarms


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
