"""(v3) The vault's pure parts: settings that fail fast naming the variable, events, tags, sharing plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smart_vault.backup.retention import Snapshot
from smart_vault.backup.vault_share import announced_tags, plan_sharing
from smart_vault.config import BackupSettings, VaultSettings
from smart_vault.errors import ConfigError, ValidationError
from smart_vault.snapshot_locks import LockPolicy, lock_parameters, locks_to_repair
from smart_vault.vault.copies import vault_copy_tags
from smart_vault.vault.events import Announcement, Reconcile, Rejected, VaultCopyFinished, parse_event

BASE = {
    "AWS_REGION": "eu-central-1",
    "SNS_TOPIC_ARN": "arn:aws:sns:eu-central-1:210987654321:vault",
    "SOURCE_ACCOUNT_IDS": "123456789012",
    "VAULT_KMS_KEY_ID": "arn:aws:kms:eu-central-1:210987654321:key/abc",
    "VAULT_LEDGER_TABLE": "vault-ledger",
}
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"SOURCE_ACCOUNT_IDS": ""}, "SOURCE_ACCOUNT_IDS"),
        ({"SOURCE_ACCOUNT_IDS": "12345"}, "SOURCE_ACCOUNT_IDS"),
        ({"VAULT_KMS_KEY_ID": "arn:aws:kms:eu-west-1:210987654321:key/abc"}, "VAULT_KMS_KEY_ID"),
        ({"VAULT_LEDGER_TABLE": ""}, "VAULT_LEDGER_TABLE"),
        ({"LOCK_MODE": "forever"}, "LOCK_MODE"),
        ({"MAX_CONCURRENT_COPIES": "21"}, "MAX_CONCURRENT_COPIES"),
    ],
)
def test_vault_settings_fail_fast_naming_the_variable(override, variable):
    with pytest.raises(ConfigError, match=variable):
        VaultSettings.from_env({**BASE, **override})


def test_vault_settings_defaults():
    settings = VaultSettings.from_env(BASE)
    assert (settings.retention_days, settings.min_snapshots_kept, settings.max_concurrent_copies) == (
        35,
        1,
        20,
    )
    assert (settings.lock_mode, settings.lock_cool_off_hours) == ("none", 0)


def test_the_vault_bus_must_be_the_vault_accounts_in_the_dr_region():
    env = {
        "AWS_REGION": "eu-west-1",
        "SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
        "DR_REGION": "eu-central-1",
        "DR_KMS_KEY_ID": "alias/dr",
        "COPY_LEDGER_TABLE": "ledger",
        "VAULT_ACCOUNT_ID": "210987654321",
    }
    with pytest.raises(ConfigError, match="VAULT_EVENT_BUS_ARN"):
        BackupSettings.from_env(env)
    wrong = "arn:aws:events:eu-west-1:210987654321:event-bus/v"
    with pytest.raises(ConfigError, match="VAULT_EVENT_BUS_ARN"):
        BackupSettings.from_env({**env, "VAULT_EVENT_BUS_ARN": wrong})
    right = "arn:aws:events:eu-central-1:210987654321:event-bus/v"
    assert BackupSettings.from_env({**env, "VAULT_EVENT_BUS_ARN": right}).vault_event_bus_arn == right


def announcement(**detail):
    body = {
        "snapshot_id": "snap-0123456789abcdef0",
        "region": "eu-central-1",
        "account": "123456789012",
        "tags": {},
    }
    body.update(detail)
    return {
        "id": "e-1",
        "source": "smart-vault",
        "detail-type": "Smart Vault Snapshot Shared",
        "account": "123456789012",
        "detail": body,
    }


def test_events_are_read_as_the_contract_says():
    assert isinstance(parse_event(announcement()), Announcement)
    assert isinstance(parse_event({"reconcile": True}), Reconcile)
    copy_event = {
        "id": "c",
        "source": "aws.ec2",
        "detail-type": "EBS Snapshot Notification",
        "region": "eu-central-1",
        "detail": {
            "event": "copySnapshot",
            "result": "failed",
            "snapshot_id": "arn:aws:ec2::eu-central-1:snapshot/snap-0123456789abcdef0",
        },
    }
    finished = parse_event(copy_event)
    assert isinstance(finished, VaultCopyFinished) and not finished.succeeded
    assert isinstance(parse_event(announcement(snapshot_id="vol-1")), Rejected)
    assert isinstance(parse_event(announcement(account="999988887777")), Rejected)  # forged detail
    assert isinstance(parse_event(announcement(tags={"k": 1})), Rejected)
    with pytest.raises(ValidationError):
        parse_event({"hello": "world"})


def snap(sid, state="completed", age_h=1.0, **tags):
    return Snapshot(
        sid, "eu-central-1", state, NOW - timedelta(hours=age_h), owner_id="123456789012", tags=tags
    )


def test_announced_tags_are_the_vaults_and_name_only():
    tags = {"smart-vault:backup-set": "b", "Name": "web-1", "ManagedBy": "smart-vault", "owner": "team-a"}
    assert announced_tags(tags) == {"smart-vault:backup-set": "b", "Name": "web-1"}


def test_sharing_plans_share_the_new_and_reannounce_only_the_young():
    copies = [snap("snap-a", age_h=1), snap("snap-b", age_h=47), snap("snap-c", age_h=49)]
    to_share, again = plan_sharing(copies, {"snap-b", "snap-c"}, NOW, reannounce=True)
    assert [c.snapshot_id for c in to_share] == ["snap-a"]
    assert [c.snapshot_id for c in again] == ["snap-b"]
    assert plan_sharing(copies, {"snap-b"}, NOW, reannounce=False)[1] == []


def test_locks_are_repaired_only_where_missing_and_never_past_retention():
    policy = LockPolicy("compliance", 24)
    snaps = [
        snap("snap-a", **{"smart-vault:retention-days": "7"}),
        snap("snap-b", **{"smart-vault:retention-days": "7"}),
        snap("snap-c", age_h=24 * 8, **{"smart-vault:retention-days": "7"}),  # retention over: no lock
        snap("snap-d", state="error"),
    ]
    held = [{"SnapshotId": "snap-b", "LockState": "compliance", "LockExpiresOn": NOW + timedelta(days=6)}]
    needed = locks_to_repair(snaps, held, policy, 7, NOW)
    assert [(n.snapshot_id, n.expiration) for n in needed] == [
        ("snap-a", NOW - timedelta(hours=1) + timedelta(days=7))
    ]
    assert locks_to_repair(snaps, held, LockPolicy(), 7, NOW) == []
    params = lock_parameters("snap-a", needed[0].expiration, policy)
    assert (
        params["CoolOffPeriod"] == 24 and params["LockMode"] == "compliance" and "LockDuration" not in params
    )
    assert "CoolOffPeriod" not in lock_parameters("snap-a", needed[0].expiration, LockPolicy("governance"))


def test_a_vault_copy_keeps_its_own_tags_whatever_the_announcement_carries():
    settings = VaultSettings.from_env(BASE)
    announced = {f"smart-vault:extra-{i:02d}": str(i) for i in range(50)}  # as many as events.py accepts
    announced["smart-vault:retention-days"] = "7"  # the DR copy's: the vault's own replaces it

    tags = vault_copy_tags(announced, "123456789012", "snap-shared", settings)

    assert len(tags) == 50  # EC2's limit per resource
    assert tags["ManagedBy"] == "smart-vault"
    assert tags["smart-vault:retention-days"] == "35"
    assert tags["smart-vault:source-account"] == "123456789012"
    assert tags["smart-vault:vault-source-snapshot"] == "snap-shared"
    # The announced ones are kept in their order until the limit.
    assert [k for k in tags if k.startswith("smart-vault:extra-")] == [
        f"smart-vault:extra-{i:02d}" for i in range(46)
    ]
