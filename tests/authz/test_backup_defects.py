"""The two defects issue 17 names, each shown as AWS would evaluate the backup role (smart_vault.authz):
- the copy ledger is encrypted with the primary key, which the backup role could use only through SNS,
  SQS and Lambda: DynamoDB answered `AccessDeniedException: KMS key access denied` to every ledger call;
- CopySnapshot authorizes the source snapshot too (since the 2024 change of EBS resource-level
  permissions), which no statement named: every DR copy answered `UnauthorizedOperation`.
Both pass with backup_iam.tf's UsePrimaryKeyForCopyLedger and CopyOnlyOwnPrimarySnapshots, and fail with
the statements main had. The tests of what each narrowing condition refuses are here too.
"""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.exceptions import ClientError
from fakes import ACCOUNT, FakeFacts

from smart_vault import backup
from smart_vault.authz.enforce import Call, Enforcer
from smart_vault.authz.facts import Ec2Resource, MotoFacts
from support.backup_world import (
    COPY_LEDGER_TABLE,
    DR_KEY_ARN,
    DR_REGION,
    PRIMARY_REGION,
    backup_context,
    backup_env,
    make_fleet,
    primary_key_arn,
)

MANAGED = {"ManagedBy": "smart-vault"}
COPY_PARAMS = {
    "SourceRegion": PRIMARY_REGION,
    "SourceSnapshotId": "snap-0123456789abcdef0",
    "Encrypted": True,
    "KmsKeyId": DR_KEY_ARN,
    "TagSpecifications": [
        {"ResourceType": "snapshot", "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]}
    ],
}
LEDGER_KEY = f"arn:aws:kms:{PRIMARY_REGION}:{ACCOUNT}:key/primary"


@pytest.fixture
def env(monkeypatch):
    backup_env(monkeypatch)
    monkeypatch.setenv("AWS_REGION", PRIMARY_REGION)
    return os.environ


def decide(facts, operation, params, region, env, service="ec2"):
    outcomes, _, _ = Enforcer(facts).decide(Call("backup", service, operation, params, region, env))
    return outcomes


def refused(outcomes):
    return sorted({(o.request.action, o.request.resource) for o in outcomes if not o.allowed})


# ---------------------------------------------------------------- (a) the copy ledger's key


@pytest.mark.parametrize("operation", ["PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query"])
def test_copy_ledger_calls_may_use_the_primary_key_through_dynamodb(env, operation):
    facts = FakeFacts(tables={COPY_LEDGER_TABLE: LEDGER_KEY})
    outcomes = decide(facts, operation, {"TableName": COPY_LEDGER_TABLE}, PRIMARY_REGION, env, "dynamodb")
    assert [o.request.action for o in outcomes] == [f"dynamodb:{operation}", "kms:Decrypt"]
    assert refused(outcomes) == []
    assert "UsePrimaryKeyForCopyLedger" in outcomes[1].allowed_by


def test_a_full_reconciliation_with_the_ledger_encrypted_as_in_terraform_succeeds(moto_aws, env):
    fleet = make_fleet()
    primary_key_arn()
    volume = fleet.ec2.create_volume(AvailabilityZone=f"{PRIMARY_REGION}a", Size=8)["VolumeId"]
    fleet.ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": [
                    {"Key": "ManagedBy", "Value": "smart-vault"},
                    {"Key": "smart-vault:retention-days", "Value": "7"},
                    {"Key": "smart-vault:source-instance", "Value": "i-0123456789abcdef0"},
                ],
            }
        ],
    )
    table = boto3.client("dynamodb", PRIMARY_REGION).describe_table(TableName=COPY_LEDGER_TABLE)["Table"]
    assert table["SSEDescription"]["KMSMasterKeyArn"] == primary_key_arn()

    report = backup.handler({"reconcile_copies": True}, backup_context())

    assert report["status"] == "SUCCEEDED", report
    assert len(fleet.snapshots(DR_REGION)) == 1


def test_the_primary_key_is_not_usable_through_dynamodb_for_another_table(env):
    facts = FakeFacts(tables={"someone-elses-table": LEDGER_KEY})
    outcomes = decide(facts, "GetItem", {"TableName": "someone-elses-table"}, PRIMARY_REGION, env, "dynamodb")
    assert refused(outcomes) == [
        ("dynamodb:GetItem", f"arn:aws:dynamodb:{PRIMARY_REGION}:{ACCOUNT}:table/someone-elses-table"),
        ("kms:Decrypt", LEDGER_KEY),
    ]


def test_a_refused_table_key_answers_as_dynamodb_does(env):
    deny = {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    facts = FakeFacts(tables={COPY_LEDGER_TABLE: LEDGER_KEY}, policies={LEDGER_KEY: {"Statement": [deny]}})
    with pytest.raises(ClientError) as raised:
        Enforcer(facts).check(
            Call("backup", "dynamodb", "GetItem", {"TableName": COPY_LEDGER_TABLE}, PRIMARY_REGION, env)
        )
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["Error"]["Message"].startswith("KMS key access denied")


# ---------------------------------------------------------------- (b) CopySnapshot's source snapshot


def copy_world(encrypted=False, owner=ACCOUNT, tags=None):
    facts = FakeFacts()
    facts.add(PRIMARY_REGION, Ec2Resource("snap-0123456789abcdef0", tags or MANAGED, encrypted, None, owner))
    return facts


@pytest.mark.parametrize("encrypted", [False, True], ids=["unencrypted-source", "encrypted-source"])
def test_copy_snapshot_authorizes_the_primary_source_and_the_encrypted_dr_copy(env, encrypted):
    outcomes = decide(copy_world(encrypted), "CopySnapshot", COPY_PARAMS, DR_REGION, env)
    copy_requests = {
        o.request.resource: o.allowed_by for o in outcomes if o.request.action == "ec2:CopySnapshot"
    }
    assert copy_requests == {
        f"arn:aws:ec2:{PRIMARY_REGION}::snapshot/snap-0123456789abcdef0": ("CopyOnlyOwnPrimarySnapshots",),
        f"arn:aws:ec2:{DR_REGION}::snapshot/*": ("CreateDrCopiesOnlyTaggedManagedAndEncrypted",),
    }
    assert refused(outcomes) == []


def test_copy_snapshot_refuses_a_source_snapshot_of_another_account(env):
    outcomes = decide(copy_world(owner="210987654321"), "CopySnapshot", COPY_PARAMS, DR_REGION, env)
    assert refused(outcomes) == [
        ("ec2:CopySnapshot", f"arn:aws:ec2:{PRIMARY_REGION}::snapshot/snap-0123456789abcdef0")
    ]


def test_copy_snapshot_refuses_an_unencrypted_or_untagged_copy(env):
    unencrypted = {**COPY_PARAMS, "Encrypted": False}
    unencrypted.pop("KmsKeyId")
    untagged = {k: v for k, v in COPY_PARAMS.items() if k != "TagSpecifications"}
    for params in (unencrypted, untagged):
        assert refused(decide(copy_world(), "CopySnapshot", params, DR_REGION, env)) == [
            ("ec2:CopySnapshot", f"arn:aws:ec2:{DR_REGION}::snapshot/*")
        ]


def test_a_refused_copy_answers_as_ec2_does(env):
    with pytest.raises(ClientError) as raised:
        Enforcer(copy_world(owner="210987654321")).check(
            Call("backup", "ec2", "CopySnapshot", COPY_PARAMS, DR_REGION, env)
        )
    assert raised.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_moto_facts_see_the_source_snapshot_owner_and_encryption(moto_aws, env):
    fleet = make_fleet()
    volume = fleet.ec2.create_volume(AvailabilityZone=f"{PRIMARY_REGION}a", Size=8)["VolumeId"]
    snapshot = fleet.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    found = MotoFacts().ec2(PRIMARY_REGION, snapshot)
    assert (found.owner, found.encrypted) == (ACCOUNT, False)
