"""Settings: defaults, every bad value fails fast with an error naming its variable."""

from __future__ import annotations

import pytest

from smart_vault.config import (
    BackupSettings,
    DrillSettings,
    RestoreApiSettings,
    RestoreWorkerSettings,
)
from smart_vault.errors import ConfigError

TOPIC = "arn:aws:sns:eu-west-1:123456789012:smart-vault"
DR_KEY = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def backup_env(**overrides: str) -> dict[str, str]:
    env = {
        "AWS_REGION": "eu-west-1",
        "SNS_TOPIC_ARN": TOPIC,
        "DR_REGION": "eu-central-1",
        "DR_KMS_KEY_ID": DR_KEY,
        "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def api_env(**overrides: str) -> dict[str, str]:
    env = {
        "AWS_REGION": "eu-west-1",
        "DR_REGION": "eu-central-1",
        "RESTORE_WORKER_FUNCTION": "smart-vault-restore-worker",
        "RESTORE_JOBS_TABLE": "smart-vault-restore-jobs",
        "IDEMPOTENCY_TABLE": "smart-vault-idempotency",
    }
    env.update(overrides)
    return env


def test_backup_defaults_follow_the_contract():
    settings = BackupSettings.from_env(backup_env())
    assert settings.tag_key == "Backup-Tier"
    assert settings.tag_values == ("Gold",)
    assert settings.retention_days == 7
    assert settings.dr_retention_days == 7
    assert settings.min_snapshots_kept == 1
    assert settings.max_concurrent_copies == 20
    assert settings.dry_run is False
    assert settings.region == "eu-west-1"
    assert settings.dr_region == "eu-central-1"


def test_dr_retention_defaults_to_retention_and_can_differ():
    assert BackupSettings.from_env(backup_env(RETENTION_DAYS="30")).dr_retention_days == 30
    settings = BackupSettings.from_env(backup_env(RETENTION_DAYS="30", DR_RETENTION_DAYS="90"))
    assert (settings.retention_days, settings.dr_retention_days) == (30, 90)


def test_tag_value_list_and_dry_run():
    settings = BackupSettings.from_env(backup_env(BACKUP_TAG_VALUE="Gold, Silver,,", DRY_RUN="TRUE"))
    assert settings.tag_values == ("Gold", "Silver")
    assert settings.dry_run is True


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("RETENTION_DAYS", "0", "between 1 and 3650"),
        ("RETENTION_DAYS", "3651", "between 1 and 3650"),
        ("RETENTION_DAYS", "seven", "integer"),
        ("DR_RETENTION_DAYS", "-1", "between 1 and 3650"),
        ("MIN_SNAPSHOTS_KEPT", "0", "between 1"),
        ("MAX_CONCURRENT_COPIES", "21", "between 1 and 20"),
        ("MAX_CONCURRENT_COPIES", "0", "between 1 and 20"),
        ("DRY_RUN", "maybe", "true or false"),
        ("DR_REGION", "eu-west-1", "must differ"),
        ("DR_REGION", "Frankfurt", "region"),
        ("SNS_TOPIC_ARN", "my-topic", "SNS topic ARN"),
        ("DR_KMS_KEY_ID", "arn:aws:kms:eu-west-1:123456789012:key/abc", "eu-central-1"),
        ("DR_KMS_KEY_ID", "not a key", "KMS"),
        ("BACKUP_TAG_VALUE", ",", "at least one"),
    ],
)
def test_bad_backup_values_name_the_variable(variable, value, fragment):
    with pytest.raises(ConfigError) as excinfo:
        BackupSettings.from_env(backup_env(**{variable: value}))
    assert excinfo.value.variable == variable
    assert str(excinfo.value).startswith(variable)
    assert fragment in str(excinfo.value)


@pytest.mark.parametrize("variable", ["SNS_TOPIC_ARN", "DR_REGION", "DR_KMS_KEY_ID", "AWS_REGION"])
def test_missing_required_backup_variable(variable):
    env = backup_env()
    del env[variable]
    with pytest.raises(ConfigError) as excinfo:
        BackupSettings.from_env(env)
    assert excinfo.value.variable == variable


def test_kms_alias_and_key_id_are_accepted():
    assert (
        BackupSettings.from_env(backup_env(DR_KMS_KEY_ID="alias/smart-vault-dr")).dr_kms_key_id
        == "alias/smart-vault-dr"
    )
    key_id = "11111111-2222-3333-4444-555555555555"
    assert BackupSettings.from_env(backup_env(DR_KMS_KEY_ID=key_id)).dr_kms_key_id == key_id


def test_restore_api_defaults_and_allowlists():
    settings = RestoreApiSettings.from_env(api_env())
    assert settings.allowed_instance_types == ("t3.micro", "t3.small", "t3.medium", "t3.large")
    assert settings.allowed_subnet_ids == ()
    assert settings.regions == ("eu-west-1", "eu-central-1")
    settings = RestoreApiSettings.from_env(api_env(ALLOWED_SUBNET_IDS="subnet-0123456789abcdef0"))
    assert settings.allowed_subnet_ids == ("subnet-0123456789abcdef0",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALLOWED_SUBNET_IDS", "subnet-xyz"),
        ("ALLOWED_INSTANCE_TYPES", "t3 micro"),
        ("RESTORE_JOBS_TABLE", "a b"),
        ("RESTORE_WORKER_FUNCTION", ""),
        ("DR_REGION", "eu-west-1"),
    ],
)
def test_bad_restore_api_values_name_the_variable(variable, value):
    with pytest.raises(ConfigError) as excinfo:
        RestoreApiSettings.from_env(api_env(**{variable: value}))
    assert excinfo.value.variable == variable


def test_worker_settings():
    env = {"AWS_REGION": "eu-central-1", "SNS_TOPIC_ARN": TOPIC, "RESTORE_JOBS_TABLE": "jobs"}
    settings = RestoreWorkerSettings.from_env(env)
    assert (settings.region, settings.restore_jobs_table) == ("eu-central-1", "jobs")
    with pytest.raises(ConfigError, match="RESTORE_JOBS_TABLE"):
        RestoreWorkerSettings.from_env({"AWS_REGION": "eu-central-1", "SNS_TOPIC_ARN": TOPIC})


def test_restore_networks_and_instance_profiles():
    settings = RestoreApiSettings.from_env(
        api_env(
            RESTORE_NETWORKS='{"eu-central-1": {"subnet_id": "subnet-0123456789abcdef0", "security_group_ids": null}}',
            ALLOWED_INSTANCE_PROFILE_ARNS="arn:aws:iam::123456789012:instance-profile/web",
        )
    )
    network = settings.restore_networks["eu-central-1"]
    assert network.subnet_id == "subnet-0123456789abcdef0" and network.security_group_ids == ()
    assert settings.allowed_instance_profile_arns == ("arn:aws:iam::123456789012:instance-profile/web",)
    assert RestoreApiSettings.from_env(api_env()).restore_networks == {}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RESTORE_NETWORKS", "not json"),
        ("RESTORE_NETWORKS", "[]"),
        ("RESTORE_NETWORKS", '{"eu-central-1": {"subnet_id": "sub-1"}}'),
        ("RESTORE_NETWORKS", '{"eu-central-1": {"security_group_ids": ["x"]}}'),
        ("RESTORE_NETWORKS", '{"eu-central-1": {"vpc_id": "vpc-1"}}'),
        ("ALLOWED_INSTANCE_PROFILE_ARNS", "arn:aws:iam::123456789012:role/web"),
    ],
)
def test_bad_restore_networks_and_profiles_name_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        RestoreApiSettings.from_env(api_env(**{variable: value}))


def drill_env(**overrides: str | None) -> dict[str, str]:
    env = {
        "AWS_REGION": "eu-central-1",
        "SNS_TOPIC_ARN": "arn:aws:sns:eu-central-1:123456789012:smart-vault-dr",
        "DRILL_RESULTS_TABLE": "smart-vault-dr-drill-results",
        "DRILL_SUBNET_ID": "subnet-0123456789abcdef0",
        "DRILL_SECURITY_GROUP_IDS": "sg-0123456789abcdef0",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_drill_defaults_follow_the_contract():
    settings = DrillSettings.from_env(drill_env())
    assert settings.region == "eu-central-1"
    assert settings.max_instances == 5
    assert settings.rotation_days == 7
    assert settings.instance_type is None
    assert settings.timeout_seconds == 600
    assert settings.validation_function is None
    assert settings.security_group_ids == ("sg-0123456789abcdef0",)
    assert settings.allowed_instance_profile_arns == ()


def test_drill_settings_read_every_variable():
    settings = DrillSettings.from_env(
        drill_env(
            DRILL_SECURITY_GROUP_IDS="sg-0123456789abcdef0, sg-0123456789abcdef1",
            DRILL_MAX_INSTANCES="50",
            DRILL_ROTATION_DAYS="365",
            DRILL_INSTANCE_TYPE="t3.small",
            DRILL_TIMEOUT_SECONDS="840",
            DRILL_VALIDATION_FUNCTION="smart-vault-drill-check",
            ALLOWED_INSTANCE_PROFILE_ARNS="arn:aws:iam::123456789012:instance-profile/web",
        )
    )
    assert settings.security_group_ids == ("sg-0123456789abcdef0", "sg-0123456789abcdef1")
    assert (settings.max_instances, settings.rotation_days, settings.timeout_seconds) == (50, 365, 840)
    assert settings.instance_type == "t3.small"
    assert settings.validation_function == "smart-vault-drill-check"
    assert settings.allowed_instance_profile_arns == ("arn:aws:iam::123456789012:instance-profile/web",)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DRILL_RESULTS_TABLE", None),
        ("DRILL_RESULTS_TABLE", "x"),
        ("DRILL_SUBNET_ID", None),
        ("DRILL_SUBNET_ID", "vpc-0123456789abcdef0"),
        ("DRILL_SECURITY_GROUP_IDS", None),
        ("DRILL_SECURITY_GROUP_IDS", " , "),
        ("DRILL_SECURITY_GROUP_IDS", "sg-0123456789abcdef0,default"),
        ("DRILL_SECURITY_GROUP_IDS", ",".join(f"sg-0123456789abcdef{i}" for i in range(6))),
        ("DRILL_MAX_INSTANCES", "0"),
        ("DRILL_MAX_INSTANCES", "51"),
        ("DRILL_MAX_INSTANCES", "five"),
        ("DRILL_ROTATION_DAYS", "0"),
        ("DRILL_ROTATION_DAYS", "366"),
        ("DRILL_TIMEOUT_SECONDS", "59"),
        ("DRILL_TIMEOUT_SECONDS", "841"),
        ("DRILL_INSTANCE_TYPE", "large"),
        ("DRILL_VALIDATION_FUNCTION", "not a function"),
        ("SNS_TOPIC_ARN", None),
        ("SNS_TOPIC_ARN", "smart-vault"),
        ("ALLOWED_INSTANCE_PROFILE_ARNS", "arn:aws:iam::123456789012:role/web"),
        ("AWS_REGION", "Frankfurt"),
    ],
)
def test_bad_drill_settings_name_their_variable(variable, value):
    with pytest.raises(ConfigError) as raised:
        DrillSettings.from_env(drill_env(**{variable: value}))
    assert raised.value.variable == variable


def test_drill_results_table_is_optional_for_the_restore_api():
    assert RestoreApiSettings.from_env(api_env()).drill_results_table is None
    assert RestoreApiSettings.from_env(api_env(DRILL_RESULTS_TABLE="")).drill_results_table is None
    settings = RestoreApiSettings.from_env(api_env(DRILL_RESULTS_TABLE="smart-vault-drill-results"))
    assert settings.drill_results_table == "smart-vault-drill-results"
    with pytest.raises(ConfigError) as raised:
        RestoreApiSettings.from_env(api_env(DRILL_RESULTS_TABLE="x"))
    assert raised.value.variable == "DRILL_RESULTS_TABLE"
