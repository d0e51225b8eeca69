"""What the Terraform deploys, as data: names, tables, functions and their environment variables.

The local stack provisions exactly this, and `tests/local/test_terraform_parity.py` parses the *.tf files
and fails when the two drift apart. Defaults are the Terraform variables' defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LAMBDA_HANDLERS = {
    "backup": "smart_vault.backup.handler",
    "restore_api": "smart_vault.restore_api.handler",
    "restore_worker": "smart_vault.restore_worker.handler",
    "drill": "smart_vault.drill.handler",
}
API_STAGE = "v1"


@dataclass(frozen=True)
class DeploymentConfig:
    """The Terraform variables that shape what the local stack provisions (same names, same defaults)."""

    primary_region: str = "eu-west-1"
    dr_region: str = "eu-central-1"
    name_prefix: str = "smart-vault"
    backup_tag_key: str = "Backup-Tier"
    backup_tag_values: tuple[str, ...] = ("Gold",)
    retention_days: int = 7
    dr_retention_days: int | None = None
    min_snapshots_kept: int = 1
    max_concurrent_copies: int = 20
    dry_run: bool = False
    backup_timeout_seconds: int = 900
    backup_memory_mb: int = 512
    restore_in_dr_region: bool = True
    allowed_instance_types: tuple[str, ...] = ("t3.micro", "t3.small", "t3.medium", "t3.large")
    allowed_subnet_ids: tuple[str, ...] = ()
    dr_subnet_id: str | None = None
    dr_security_group_ids: tuple[str, ...] = ()
    allowed_instance_profile_arns: tuple[str, ...] = ()
    # (v2) restore drills (drill.tf): None drills the DR region only
    drill_regions: tuple[str, ...] | None = None
    drill_schedule: str = "cron(0 3 ? * SUN *)"
    drill_max_instances: int = 5
    drill_rotation_days: int = 7
    drill_instance_type: str | None = None
    drill_timeout_seconds: int = 600
    drill_vpc_cidr: str = "10.250.0.0/16"
    # alarms, schedules and logs (alarms.tf, backup.tf, notifications.tf)
    backup_schedule: str = "cron(0 2 * * ? *)"
    copy_reconcile_minutes: int = 30
    rpo_threshold_hours: int = 26
    dr_rpo_threshold_hours: int = 36
    owed_copy_threshold_hours: int = 24
    drill_rto_threshold_seconds: int = 480
    enable_billing_alarm: bool = True
    billing_alarm_threshold_usd: int = 100
    log_retention_days: int = 365
    tags: tuple[tuple[str, str], ...] = ()
    # (v3) the trails the tamper rules depend on (vault.tf)
    tamper_trail_arns: tuple[str, ...] = ()

    def resource_tags(self) -> dict[str, str]:
        """The providers' default_tags: var.tags merged with ManagedBy=smart-vault (main.tf local.tags)."""
        return {**dict(self.tags), "ManagedBy": "smart-vault"}

    def drill_stacks(self) -> list[DrillStack]:
        """The drill_stack module instances: the DR region's, and the primary's when drill_regions adds it."""
        regions = (self.dr_region,) if self.drill_regions is None else self.drill_regions
        stacks = []
        if self.dr_region in regions:
            stacks.append(DrillStack(f"{self.name_prefix}-dr", self.dr_region))
        if self.primary_region in regions:
            stacks.append(DrillStack(self.name_prefix, self.primary_region))
        return stacks

    def function_names(self, region: str) -> list[str]:
        """The functions deployed in `region` (vault.tf `local.primary_function_names` / `dr_function_names`):
        the backup function in the primary region only, each restore and drill stack's in its own region."""
        names = [self.backup_function_name] if region == self.primary_region else []
        for stack in self.restore_stacks():
            if stack.region == region:
                names += [stack.api_function_name, stack.worker_function_name]
        return names + [stack.function_name for stack in self.drill_stacks() if stack.region == region]

    def tamper_function_names(self, region: str) -> list[str]:
        """What the tamper alarms of `region` watch (vault.tf `local.tamper_function_names`): each function of
        the region by name (the rules match every form the Lambda API takes), or, with none there, a name no
        function has."""
        side = "primary" if region == self.primary_region else "dr"
        return self.function_names(region) or [f"{self.name_prefix}-{side}-no-function"]

    def tamper_trail_names(self, region: str) -> list[str]:
        """The trails of `tamper_trail_arns` homed in `region` (vault.tf `local.tamper_trail_names`), each by
        ARN and by name: a trail is stopped, updated or deleted in its home region only."""
        return [
            named
            for arn in self.tamper_trail_arns
            if arn.split(":")[3] == region
            for named in (arn, arn.split(":trail/", 1)[1])
        ]

    def restore_networks(self) -> dict[str, dict[str, Any]]:
        """RESTORE_NETWORKS as main.tf builds it (`local.restore_networks`)."""
        if self.dr_subnet_id is None and not self.dr_security_group_ids:
            return {}
        groups = list(self.dr_security_group_ids) or None
        return {self.dr_region: {"subnet_id": self.dr_subnet_id, "security_group_ids": groups}}

    @property
    def backup_function_name(self) -> str:
        return f"{self.name_prefix}-backup"

    @property
    def copy_ledger_table(self) -> str:
        return f"{self.name_prefix}-copy-ledger"

    def restore_stacks(self) -> list[RestoreStack]:
        """The restore API + worker stacks: primary region, and the DR region unless disabled."""
        stacks = [
            RestoreStack(self.name_prefix, self.primary_region, peer_region=self.dr_region, is_dr=False)
        ]
        if self.restore_in_dr_region:
            stacks.append(
                RestoreStack(
                    f"{self.name_prefix}-dr", self.dr_region, peer_region=self.primary_region, is_dr=True
                )
            )
        return stacks

    def topic_name(self, region: str) -> str:
        return (
            f"{self.name_prefix}-notifications"
            if region == self.primary_region
            else f"{self.name_prefix}-dr-notifications"
        )

    def kms_alias(self, region: str) -> str:
        return (
            f"alias/{self.name_prefix}" if region == self.primary_region else f"alias/{self.name_prefix}-dr"
        )

    def notification_queue_name(self, region: str) -> str:
        """Local only: the SQS queue subscribed to the region's topic, standing in for the operator's inbox."""
        return f"{self.topic_name(region)}-local-inbox"


@dataclass(frozen=True)
class RestoreStack:
    """One instance of the restore_stack module: API, worker, job table and idempotency table."""

    name_prefix: str
    region: str
    peer_region: str
    is_dr: bool
    api_timeout_seconds: int = 29
    worker_timeout_seconds: int = 900
    memory_mb: int = 256
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def api_function_name(self) -> str:
        return f"{self.name_prefix}-restore-api"

    @property
    def worker_function_name(self) -> str:
        return f"{self.name_prefix}-restore-worker"

    @property
    def jobs_table(self) -> str:
        return f"{self.name_prefix}-restore-jobs"

    @property
    def idempotency_table(self) -> str:
        return f"{self.name_prefix}-idempotency"

    @property
    def api_name(self) -> str:
        return f"{self.name_prefix}-restore"


@dataclass(frozen=True)
class DrillStack:
    """One instance of the drill_stack module: the drill function, its results table and its network."""

    name_prefix: str
    region: str
    timeout_seconds: int = 900
    memory_mb: int = 256

    @property
    def function_name(self) -> str:
        return f"{self.name_prefix}-drill"

    @property
    def results_table(self) -> str:
        return f"{self.name_prefix}-drill-results"

    def table_definition(self) -> dict[str, Any]:
        """CreateTable arguments (plus the TTL attribute) of the drill results table."""
        return table_definition(self.results_table, "expires_at", "pk", "sk")


def drill_environment(
    config: DeploymentConfig, stack: DrillStack, topic_arn: str, subnet_id: str, security_group_ids: list[str]
) -> dict[str, str]:
    return {
        "SNS_TOPIC_ARN": topic_arn,
        "DRILL_RESULTS_TABLE": stack.results_table,
        "DRILL_SUBNET_ID": subnet_id,
        "DRILL_SECURITY_GROUP_IDS": ",".join(security_group_ids),
        "DRILL_MAX_INSTANCES": str(config.drill_max_instances),
        "DRILL_ROTATION_DAYS": str(config.drill_rotation_days),
        "DRILL_INSTANCE_TYPE": config.drill_instance_type or "",
        "DRILL_TIMEOUT_SECONDS": str(config.drill_timeout_seconds),
        "DRILL_VALIDATION_FUNCTION": "",
        "ALLOWED_INSTANCE_PROFILE_ARNS": "",
    }


def backup_environment(config: DeploymentConfig, topic_arn: str, dr_kms_key_arn: str) -> dict[str, str]:
    env = {
        "SNS_TOPIC_ARN": topic_arn,
        "BACKUP_TAG_KEY": config.backup_tag_key,
        "BACKUP_TAG_VALUE": ",".join(config.backup_tag_values),
        "RETENTION_DAYS": str(config.retention_days),
        "DR_RETENTION_DAYS": str(config.dr_retention_days or config.retention_days),
        "MIN_SNAPSHOTS_KEPT": str(config.min_snapshots_kept),
        "DR_REGION": config.dr_region,
        "DR_KMS_KEY_ID": dr_kms_key_arn,
        "MAX_CONCURRENT_COPIES": str(config.max_concurrent_copies),
        "DRY_RUN": "true" if config.dry_run else "false",
        "COPY_LEDGER_TABLE": config.copy_ledger_table,
        # (v3) Change-rate anomalies, at the Terraform defaults.
        "CHANGE_ANOMALY_FACTOR": "5",
        "CHANGE_ANOMALY_MIN_GIB": "1",
        "SNAPSHOT_PRICE_PER_GB_MONTH": "0.05",
        # (v3) Terraform's defaults: governance locks on DR copies, no vault account in the local stack.
        "LOCK_MODE": "governance",
        "LOCK_COOL_OFF_HOURS": "0",
        "LOCK_PRIMARY": "false",
        "VAULT_ACCOUNT_ID": "",
        "VAULT_EVENT_BUS_ARN": "",
        # (v3) As Terraform sets them (variables.tf defaults).
        "APP_CONSISTENT_TIMEOUT_SECONDS": "60",
        "APP_CONSISTENT_ON_FAILURE": "crash-consistent",
    }
    return env


def restore_api_environment(config: DeploymentConfig, stack: RestoreStack) -> dict[str, str]:
    env = {
        "DR_REGION": stack.peer_region,
        "RESTORE_WORKER_FUNCTION": stack.worker_function_name,
        "RESTORE_JOBS_TABLE": stack.jobs_table,
        "IDEMPOTENCY_TABLE": stack.idempotency_table,
        "ALLOWED_INSTANCE_TYPES": ",".join(config.allowed_instance_types),
        "ALLOWED_SUBNET_IDS": ",".join(config.allowed_subnet_ids),
        **restore_shared_environment(config),
        # GET /drills reads the drill results of the stack's own region, when a drill runs there.
        "DRILL_RESULTS_TABLE": next(
            (d.results_table for d in config.drill_stacks() if d.region == stack.region), ""
        ),
        # (v3) The primary snapshots' measured changes: the backup's ledger, in the primary region only.
        "COPY_LEDGER_TABLE": "" if stack.is_dr else config.copy_ledger_table,
        "SNAPSHOT_PRICE_PER_GB_MONTH": "0.05",
    }
    return env


def restore_shared_environment(config: DeploymentConfig) -> dict[str, str]:
    """What both restore functions read (the same on both stacks)."""
    return {
        "RESTORE_NETWORKS": json.dumps(config.restore_networks(), separators=(",", ":")),
        "ALLOWED_INSTANCE_PROFILE_ARNS": ",".join(config.allowed_instance_profile_arns),
    }


def restore_worker_environment(
    stack: RestoreStack, topic_arn: str, config: DeploymentConfig | None = None
) -> dict[str, str]:
    return {
        "SNS_TOPIC_ARN": topic_arn,
        "RESTORE_JOBS_TABLE": stack.jobs_table,
        **restore_shared_environment(config or DeploymentConfig()),
    }


def ledger_table_definition(config: DeploymentConfig) -> dict[str, Any]:
    """CreateTable arguments (plus the TTL attribute) of the backup's copy ledger (primary region)."""
    return table_definition(config.copy_ledger_table, "expires_at", "pk", "sk")


def table_definitions(stack: RestoreStack) -> list[dict[str, Any]]:
    """CreateTable arguments (plus the TTL attribute) of the two tables of a restore stack."""
    return [
        table_definition(stack.jobs_table, "expires_at", "restore_id"),
        table_definition(stack.idempotency_table, "expiration", "id"),
    ]


def create_table_arguments(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A table definition's CreateTable arguments: all but its TTL attribute (UpdateTimeToLive's)."""
    return {k: v for k, v in definition.items() if k != "ttl_attribute"}


def table_definition(
    name: str, ttl_attribute: str, hash_key: str, range_key: str | None = None
) -> dict[str, Any]:
    """CreateTable arguments (plus the TTL attribute) of an on-demand table with string keys."""
    keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": kind} for key, kind in keys],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
        "BillingMode": "PAY_PER_REQUEST",
        "ttl_attribute": ttl_attribute,
    }
