"""The environment variables of each Lambda function, as the contract lists them: tests/terraform checks the
Terraform and the code against this table, and the drill's test world leaves unset those it does not set."""

from __future__ import annotations

# contract.md, "Configuration (environment variables)": the variables each function reads.
CONTRACT_ENVIRONMENT = {
    "backup": {
        "SNS_TOPIC_ARN",
        "BACKUP_TAG_KEY",
        "BACKUP_TAG_VALUE",
        "RETENTION_DAYS",
        "DR_RETENTION_DAYS",
        "MIN_SNAPSHOTS_KEPT",
        "DR_REGION",
        "DR_KMS_KEY_ID",
        "MAX_CONCURRENT_COPIES",
        "DRY_RUN",
        "COPY_LEDGER_TABLE",
        "CHANGE_ANOMALY_FACTOR",
        "CHANGE_ANOMALY_MIN_GIB",
        "SNAPSHOT_PRICE_PER_GB_MONTH",
        # (v3) Application-consistent sets
        "APP_CONSISTENT_TIMEOUT_SECONDS",
        "APP_CONSISTENT_ON_FAILURE",
    },
    "restore_api": {
        "DR_REGION",
        "RESTORE_WORKER_FUNCTION",
        "RESTORE_JOBS_TABLE",
        "IDEMPOTENCY_TABLE",
        "ALLOWED_INSTANCE_TYPES",
        "ALLOWED_SUBNET_IDS",
        "RESTORE_NETWORKS",
        "ALLOWED_INSTANCE_PROFILE_ARNS",
        "DRILL_RESULTS_TABLE",
        "COPY_LEDGER_TABLE",
        "SNAPSHOT_PRICE_PER_GB_MONTH",
    },
    "restore_worker": {
        "SNS_TOPIC_ARN",
        "RESTORE_JOBS_TABLE",
        "RESTORE_NETWORKS",
        "ALLOWED_INSTANCE_PROFILE_ARNS",
    },
    "drill": {
        "SNS_TOPIC_ARN",
        "DRILL_RESULTS_TABLE",
        "DRILL_SUBNET_ID",
        "DRILL_SECURITY_GROUP_IDS",
        "DRILL_MAX_INSTANCES",
        "DRILL_ROTATION_DAYS",
        "DRILL_INSTANCE_TYPE",
        "DRILL_TIMEOUT_SECONDS",
        "DRILL_VALIDATION_FUNCTION",
        "ALLOWED_INSTANCE_PROFILE_ARNS",
    },
}

# (v3) contract.md, "The vault account": the vault function's variables.
CONTRACT_ENVIRONMENT["vault"] = {
    "SOURCE_ACCOUNT_IDS",
    "VAULT_KMS_KEY_ID",
    "VAULT_LEDGER_TABLE",
    "RETENTION_DAYS",
    "MIN_SNAPSHOTS_KEPT",
    "MAX_CONCURRENT_COPIES",
    "LOCK_MODE",
    "LOCK_COOL_OFF_HOURS",
    "SNS_TOPIC_ARN",
}
# (v3) contract.md, "Snapshot Lock" and "The vault account": the workload side of both.
CONTRACT_ENVIRONMENT["backup"] |= {
    "LOCK_MODE",
    "LOCK_COOL_OFF_HOURS",
    "LOCK_PRIMARY",
    "VAULT_ACCOUNT_ID",
    "VAULT_EVENT_BUS_ARN",
}
