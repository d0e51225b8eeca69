"""Settings from the environment: one frozen dataclass per function, built once, errors name the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from smart_vault.env_vars import (
    ACCOUNT_ID_RE,
    SG_RE,
    SNS_TOPIC_ARN_RE,
    SUBNET_RE,
    RestoreNetwork,
    account_id,
    env_bool,
    env_choice,
    env_csv,
    env_float,
    env_get,
    env_int,
    env_networks,
    env_optional_table_name,
    env_profile_arns,
    env_region,
    env_required,
    env_table_name,
)
from smart_vault.errors import ConfigError

KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:(key|alias)/.+$")
KMS_ID_RE = re.compile(
    r"^(alias/[A-Za-z0-9/_-]{1,256}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# A function name, name:alias or (partial) ARN, as Lambda Invoke accepts it.
FUNCTION_NAME_RE = re.compile(
    r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
)

DEFAULT_ALLOWED_INSTANCE_TYPES = "t3.micro,t3.small,t3.medium,t3.large"
# AWS allows 20 concurrent snapshot copies into one destination region.
AWS_MAX_CONCURRENT_COPIES = 20


def _price(env: Mapping[str, str]) -> float:
    return env_float(env, "SNAPSHOT_PRICE_PER_GB_MONTH", 0.05, 0.0, 100.0)


def _change_settings(env: Mapping[str, str]) -> dict[str, float]:
    """(v3) Change-rate anomalies: the backup function's three settings."""
    return {
        "change_anomaly_factor": env_float(env, "CHANGE_ANOMALY_FACTOR", 5.0, 0.0, 1000.0),
        "change_anomaly_min_gib": env_float(env, "CHANGE_ANOMALY_MIN_GIB", 1.0, 0.0, 65536.0),
        "snapshot_price_per_gb_month": _price(env),
    }


APP_CONSISTENT_ON_FAILURE_VALUES = ("crash-consistent", "skip")


LOCK_MODES = ("none", "governance", "compliance")
EVENT_BUS_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:events:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):event-bus/[A-Za-z0-9._/-]{1,256}$"
)


def lock_settings(env: Mapping[str, str]) -> tuple[str, int]:
    """(v3) `LOCK_MODE` and `LOCK_COOL_OFF_HOURS` (compliance mode only), for the backup and vault functions."""
    mode = (env_get(env, "LOCK_MODE") or "none").lower()
    if mode not in LOCK_MODES:
        raise ConfigError("LOCK_MODE", f"must be one of {', '.join(LOCK_MODES)}, got {mode!r}")
    cool_off = env_int(env, "LOCK_COOL_OFF_HOURS", 0, 0, 72)
    if cool_off and mode != "compliance":
        raise ConfigError(
            "LOCK_COOL_OFF_HOURS", f"applies to LOCK_MODE=compliance only (LOCK_MODE is {mode})"
        )
    return mode, cool_off


def vault_target(env: Mapping[str, str], dr_region: str) -> tuple[str | None, str | None]:
    """(v3) `VAULT_ACCOUNT_ID` (empty: no vault account) and `VAULT_EVENT_BUS_ARN` (required with it: a bus
    of the vault account in `DR_REGION`)."""
    if env_get(env, "VAULT_ACCOUNT_ID") is None:
        return None, None
    vault = account_id(env, "VAULT_ACCOUNT_ID")
    bus = env_required(env, "VAULT_EVENT_BUS_ARN")
    match = EVENT_BUS_ARN_RE.match(bus)
    if not match:
        raise ConfigError("VAULT_EVENT_BUS_ARN", f"is not an event bus ARN: {bus!r}")
    if match.group("account") != vault or match.group("region") != dr_region:
        raise ConfigError(
            "VAULT_EVENT_BUS_ARN", f"must be a bus of account {vault} in {dr_region} (DR_REGION), got {bus!r}"
        )
    return vault, bus


def _current_region(env: Mapping[str, str]) -> str:
    if env_get(env, "AWS_REGION") is None and env_get(env, "AWS_DEFAULT_REGION") is not None:
        return env_region(env, "AWS_DEFAULT_REGION")
    return env_region(env, "AWS_REGION")


def _dr_region(env: Mapping[str, str], region: str) -> str:
    dr_region = env_region(env, "DR_REGION")
    if dr_region == region:
        raise ConfigError("DR_REGION", f"must differ from AWS_REGION ({region})")
    return dr_region


def _topic_arn(env: Mapping[str, str]) -> str:
    value = env_required(env, "SNS_TOPIC_ARN")
    if not SNS_TOPIC_ARN_RE.match(value):
        raise ConfigError("SNS_TOPIC_ARN", f"is not an SNS topic ARN: {value!r}")
    return value


@dataclass(frozen=True)
class BackupSettings:
    region: str
    sns_topic_arn: str
    tag_key: str
    tag_values: tuple[str, ...]
    retention_days: int
    dr_retention_days: int
    min_snapshots_kept: int
    dr_region: str
    dr_kms_key_id: str
    max_concurrent_copies: int
    dry_run: bool
    copy_ledger_table: str = ""
    # (v3) Change-rate anomalies: 0 turns detection off; changes under the minimum are never anomalous.
    change_anomaly_factor: float = 5.0
    change_anomaly_min_gib: float = 1.0
    snapshot_price_per_gb_month: float = 0.05
    # (v3) Snapshot Lock and the vault account
    lock_mode: str = "none"
    lock_cool_off_hours: int = 0
    lock_primary: bool = False
    vault_account_id: str | None = None
    vault_event_bus_arn: str | None = None
    # (v3) Application-consistent sets: how long a pre-script (and a post-script) may run, and what a failed
    # pre-script means (APP_CONSISTENT_ON_FAILURE: take a crash-consistent set anyway, or fail the instance).
    app_consistent_timeout_seconds: int = 60
    app_consistent_on_failure: str = "crash-consistent"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackupSettings:
        env = os.environ if env is None else env
        region = _current_region(env)
        dr_region = _dr_region(env, region)
        kms_key = env_required(env, "DR_KMS_KEY_ID")
        arn = KMS_ARN_RE.match(kms_key)
        if arn:
            if arn.group("region") != dr_region:
                raise ConfigError(
                    "DR_KMS_KEY_ID",
                    f"key is in {arn.group('region')}, but DR copies need a key in {dr_region}",
                )
        elif not KMS_ID_RE.match(kms_key):
            raise ConfigError("DR_KMS_KEY_ID", f"must be a KMS key ARN, key id or alias/..., got {kms_key!r}")
        tag_key = env_get(env, "BACKUP_TAG_KEY") or "Backup-Tier"
        if len(tag_key) > 128:
            raise ConfigError("BACKUP_TAG_KEY", "must be at most 128 characters")
        tag_values = env_csv(env, "BACKUP_TAG_VALUE", "Gold")
        if not tag_values:
            raise ConfigError("BACKUP_TAG_VALUE", "must name at least one value")
        retention = env_int(env, "RETENTION_DAYS", 7, 1, 3650)
        lock_mode, cool_off = lock_settings(env)
        vault_account, vault_bus = vault_target(env, dr_region)
        return cls(
            region=region,
            sns_topic_arn=_topic_arn(env),
            tag_key=tag_key,
            tag_values=tag_values,
            retention_days=retention,
            dr_retention_days=env_int(env, "DR_RETENTION_DAYS", retention, 1, 3650),
            min_snapshots_kept=env_int(env, "MIN_SNAPSHOTS_KEPT", 1, 1, 1000),
            dr_region=dr_region,
            dr_kms_key_id=kms_key,
            max_concurrent_copies=env_int(
                env, "MAX_CONCURRENT_COPIES", AWS_MAX_CONCURRENT_COPIES, 1, AWS_MAX_CONCURRENT_COPIES
            ),
            dry_run=env_bool(env, "DRY_RUN", False),
            copy_ledger_table=env_table_name(env, "COPY_LEDGER_TABLE"),
            **_change_settings(env),
            lock_mode=lock_mode,
            lock_cool_off_hours=cool_off,
            lock_primary=env_bool(env, "LOCK_PRIMARY", False),
            vault_account_id=vault_account,
            vault_event_bus_arn=vault_bus,
            app_consistent_timeout_seconds=env_int(env, "APP_CONSISTENT_TIMEOUT_SECONDS", 60, 10, 300),
            app_consistent_on_failure=env_choice(
                env, "APP_CONSISTENT_ON_FAILURE", "crash-consistent", APP_CONSISTENT_ON_FAILURE_VALUES
            ),
        )


@dataclass(frozen=True)
class RestoreApiSettings:
    region: str
    dr_region: str
    restore_worker_function: str
    restore_jobs_table: str
    idempotency_table: str
    allowed_instance_types: tuple[str, ...]
    allowed_subnet_ids: tuple[str, ...]
    restore_networks: Mapping[str, RestoreNetwork] = field(default_factory=dict)
    allowed_instance_profile_arns: tuple[str, ...] = ()
    drill_results_table: str | None = None
    # (v3) The change measurements of the primary region's snapshots (the backup's ledger table; None: not
    # read, `changed_bytes` comes from the DR copies' tags only) and the price of the cost estimates.
    change_ledger_table: str | None = None
    snapshot_price_per_gb_month: float = 0.05

    @property
    def regions(self) -> tuple[str, str]:
        return (self.region, self.dr_region)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RestoreApiSettings:
        env = os.environ if env is None else env
        region = _current_region(env)
        types = env_csv(env, "ALLOWED_INSTANCE_TYPES", DEFAULT_ALLOWED_INSTANCE_TYPES)
        if not types:
            raise ConfigError("ALLOWED_INSTANCE_TYPES", "must name at least one instance type")
        for item in types:
            if not INSTANCE_TYPE_RE.match(item):
                raise ConfigError("ALLOWED_INSTANCE_TYPES", f"{item!r} is not an instance type")
        subnets = env_csv(env, "ALLOWED_SUBNET_IDS", "")
        for item in subnets:
            if not SUBNET_RE.match(item):
                raise ConfigError("ALLOWED_SUBNET_IDS", f"{item!r} is not a subnet id")
        return cls(
            region=region,
            dr_region=_dr_region(env, region),
            restore_worker_function=env_required(env, "RESTORE_WORKER_FUNCTION"),
            restore_jobs_table=env_table_name(env, "RESTORE_JOBS_TABLE"),
            idempotency_table=env_table_name(env, "IDEMPOTENCY_TABLE"),
            allowed_instance_types=types,
            allowed_subnet_ids=subnets,
            restore_networks=env_networks(env, "RESTORE_NETWORKS"),
            allowed_instance_profile_arns=env_profile_arns(env, "ALLOWED_INSTANCE_PROFILE_ARNS"),
            drill_results_table=env_optional_table_name(env, "DRILL_RESULTS_TABLE"),
            change_ledger_table=env_optional_table_name(env, "COPY_LEDGER_TABLE"),
            snapshot_price_per_gb_month=_price(env),
        )


@dataclass(frozen=True)
class RestoreWorkerSettings:
    region: str
    sns_topic_arn: str
    restore_jobs_table: str
    restore_networks: Mapping[str, RestoreNetwork] = field(default_factory=dict)
    allowed_instance_profile_arns: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RestoreWorkerSettings:
        env = os.environ if env is None else env
        return cls(
            region=_current_region(env),
            sns_topic_arn=_topic_arn(env),
            restore_jobs_table=env_table_name(env, "RESTORE_JOBS_TABLE"),
            restore_networks=env_networks(env, "RESTORE_NETWORKS"),
            allowed_instance_profile_arns=env_profile_arns(env, "ALLOWED_INSTANCE_PROFILE_ARNS"),
        )


@dataclass(frozen=True)
class DrillSettings:
    """The drill function's settings (contract "(v2) Restore drills"); its region is the region it drills."""

    region: str
    sns_topic_arn: str
    results_table: str
    subnet_id: str
    security_group_ids: tuple[str, ...]
    max_instances: int = 5
    rotation_days: int = 7
    instance_type: str | None = None
    timeout_seconds: int = 600
    validation_function: str | None = None
    allowed_instance_profile_arns: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DrillSettings:
        env = os.environ if env is None else env
        subnet = env_required(env, "DRILL_SUBNET_ID")
        if not SUBNET_RE.match(subnet):
            raise ConfigError("DRILL_SUBNET_ID", f"is not a subnet id: {subnet!r}")
        groups = env_csv(env, "DRILL_SECURITY_GROUP_IDS", "")
        if not groups:
            raise ConfigError("DRILL_SECURITY_GROUP_IDS", "is required but not set")
        if len(groups) > 5:
            raise ConfigError(
                "DRILL_SECURITY_GROUP_IDS", f"names {len(groups)} groups; an instance may have 5"
            )
        for group in groups:
            if not SG_RE.match(group):
                raise ConfigError("DRILL_SECURITY_GROUP_IDS", f"{group!r} is not a security group id")
        instance_type = env_get(env, "DRILL_INSTANCE_TYPE")
        if instance_type is not None and not INSTANCE_TYPE_RE.match(instance_type):
            raise ConfigError("DRILL_INSTANCE_TYPE", f"is not an instance type: {instance_type!r}")
        validation = env_get(env, "DRILL_VALIDATION_FUNCTION")
        if validation is not None and not FUNCTION_NAME_RE.match(validation):
            raise ConfigError(
                "DRILL_VALIDATION_FUNCTION", f"is not a Lambda function name or ARN: {validation!r}"
            )
        return cls(
            region=_current_region(env),
            sns_topic_arn=_topic_arn(env),
            results_table=env_table_name(env, "DRILL_RESULTS_TABLE"),
            subnet_id=subnet,
            security_group_ids=groups,
            max_instances=env_int(env, "DRILL_MAX_INSTANCES", 5, 1, 50),
            rotation_days=env_int(env, "DRILL_ROTATION_DAYS", 7, 1, 365),
            instance_type=instance_type,
            timeout_seconds=env_int(env, "DRILL_TIMEOUT_SECONDS", 600, 60, 840),
            validation_function=validation,
            allowed_instance_profile_arns=env_profile_arns(env, "ALLOWED_INSTANCE_PROFILE_ARNS"),
        )


@dataclass(frozen=True)
class VaultSettings:
    """(v3) The vault function, in the vault account, in the workload's DR region."""

    region: str
    sns_topic_arn: str
    source_account_ids: tuple[str, ...]
    vault_kms_key_id: str
    vault_ledger_table: str
    retention_days: int = 35
    min_snapshots_kept: int = 1
    max_concurrent_copies: int = AWS_MAX_CONCURRENT_COPIES
    lock_mode: str = "none"
    lock_cool_off_hours: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VaultSettings:
        env = os.environ if env is None else env
        region = _current_region(env)
        sources = env_csv(env, "SOURCE_ACCOUNT_IDS", "")
        if not sources:
            raise ConfigError("SOURCE_ACCOUNT_IDS", "is required but not set")
        for item in sources:
            if not ACCOUNT_ID_RE.match(item):
                raise ConfigError("SOURCE_ACCOUNT_IDS", f"{item!r} is not a 12-digit AWS account id")
        key = env_required(env, "VAULT_KMS_KEY_ID")
        arn = KMS_ARN_RE.match(key)
        if arn and arn.group("region") != region:
            raise ConfigError(
                "VAULT_KMS_KEY_ID", f"key is in {arn.group('region')}, the vault runs in {region}"
            )
        if not arn and not KMS_ID_RE.match(key):
            raise ConfigError("VAULT_KMS_KEY_ID", f"must be a KMS key ARN, key id or alias/..., got {key!r}")
        lock_mode, cool_off = lock_settings(env)
        return cls(
            region=region,
            sns_topic_arn=_topic_arn(env),
            source_account_ids=sources,
            vault_kms_key_id=key,
            vault_ledger_table=env_table_name(env, "VAULT_LEDGER_TABLE"),
            retention_days=env_int(env, "RETENTION_DAYS", 35, 1, 3650),
            min_snapshots_kept=env_int(env, "MIN_SNAPSHOTS_KEPT", 1, 1, 1000),
            max_concurrent_copies=env_int(
                env, "MAX_CONCURRENT_COPIES", AWS_MAX_CONCURRENT_COPIES, 1, AWS_MAX_CONCURRENT_COPIES
            ),
            lock_mode=lock_mode,
            lock_cool_off_hours=cool_off,
        )
