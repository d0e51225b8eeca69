"""(v3) A copy is locked right after CopySnapshot answers, while EC2 may still answer `InvalidSnapshot.NotFound`
for it (eventual consistency, which moto does not have): the lock is retried, not left to the reconciliation.
botocore's Stubber plays EC2; the retry engine_clock run on a recorded clock."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import ANY, Stubber

from smart_vault.backup.dr_copies import start_copy
from smart_vault.backup.ledger import OwedCopy
from smart_vault.config import VaultSettings
from smart_vault.vault.copies import copy_once
from support.backup_world import backup_settings

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
DR_REGION = "eu-central-1"


def vault_settings() -> VaultSettings:
    return VaultSettings.from_env(
        {
            "AWS_REGION": DR_REGION,
            "SNS_TOPIC_ARN": f"arn:aws:sns:{DR_REGION}:123456789012:vault",
            "SOURCE_ACCOUNT_IDS": "123456789012",
            "VAULT_KMS_KEY_ID": f"arn:aws:kms:{DR_REGION}:123456789012:key/abc",
            "VAULT_LEDGER_TABLE": "vault-ledger",
            "LOCK_MODE": "governance",
        }
    )


def not_yet_visible(stub: Stubber, times: int) -> None:
    for _ in range(times):
        stub.add_client_error(
            "lock_snapshot", "InvalidSnapshot.NotFound", "The snapshot 'snap-copy' does not exist."
        )


def test_a_dr_copy_that_ec2_does_not_show_yet_is_locked_once_it_does(engine_clock):
    ec2 = boto3.client("ec2", DR_REGION)
    with Stubber(ec2) as stub:
        stub.add_response("copy_snapshot", {"SnapshotId": "snap-copy"})
        not_yet_visible(stub, 2)
        stub.add_response("lock_snapshot", {"SnapshotId": "snap-copy", "LockState": "governance"})

        copy_id = start_copy(
            ec2,
            "eu-west-1",
            "snap-primary",
            {"ManagedBy": "smart-vault"},
            backup_settings(LOCK_MODE="governance"),
            NOW,
        )

        stub.assert_no_pending_responses()
    assert copy_id == "snap-copy"
    assert engine_clock.slept == [1.0, 2.0]


def test_a_vault_copy_that_ec2_does_not_show_yet_is_locked_once_it_does(engine_clock):
    ec2 = boto3.client("ec2", DR_REGION)
    owed = OwedCopy("snap-shared", DR_REGION, NOW, {"ManagedBy": "smart-vault"})
    with Stubber(ec2) as stub:
        stub.add_response("copy_snapshot", {"SnapshotId": "snap-copy"})
        not_yet_visible(stub, 1)
        stub.add_response(
            "lock_snapshot",
            {"SnapshotId": "snap-copy", "LockState": "governance"},
            {"SnapshotId": "snap-copy", "LockMode": "governance", "ExpirationDate": ANY},
        )

        copy_once(ec2, owed, vault_settings(), NOW)

        stub.assert_no_pending_responses()
    assert engine_clock.slept == [1.0]
