"""(v3) The emulator's second account: sharing, tagless visibility, the cross-account copy and event bus."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from smart_vault.local.moto_accounts import credentials_for, policy_allows
from support.vault_world import dr_key_policy

REGION = "eu-central-1"
WORKLOAD = "123456789012"
VAULT = "210987654321"


def _client(service, creds=None):
    extra = {}
    if creds:
        extra = {
            "aws_access_key_id": creds["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": creds["AWS_SESSION_TOKEN"],
        }
    return boto3.client(service, region_name=REGION, **extra)


def _key_policy(grant_vault: bool) -> str:
    return dr_key_policy(VAULT if grant_vault else None, WORKLOAD)


@pytest.fixture
def shared(moto_aws):
    ec2 = _client("ec2")
    key = _client("kms").create_key(Policy=_key_policy(grant_vault=True))["KeyMetadata"]["Arn"]
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)
    snap = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    copy = ec2.copy_snapshot(
        SourceRegion=REGION,
        SourceSnapshotId=snap,
        Encrypted=True,
        KmsKeyId=key,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]}
        ],
    )["SnapshotId"]
    return {"ec2": ec2, "key": key, "snapshot": copy, "vault": credentials_for(VAULT, REGION)}


def test_credentials_belong_to_the_vault_account(shared):
    assert _client("sts", shared["vault"]).get_caller_identity()["Account"] == VAULT


def test_an_unshared_snapshot_is_invisible_and_cannot_be_copied(shared):
    vault_ec2 = _client("ec2", shared["vault"])
    assert vault_ec2.describe_snapshots(RestorableByUserIds=["self"], OwnerIds=[WORKLOAD])["Snapshots"] == []
    with pytest.raises(ClientError) as error:
        vault_ec2.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=shared["snapshot"], Encrypted=True)
    assert error.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"


def test_a_shared_snapshot_is_listed_to_the_recipient_without_the_owners_tags(shared):
    ec2 = shared["ec2"]
    ec2.modify_snapshot_attribute(
        SnapshotId=shared["snapshot"],
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[VAULT],
    )
    owner_view = ec2.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[VAULT])["Snapshots"]
    assert [s["SnapshotId"] for s in owner_view] == [shared["snapshot"]]
    vault_ec2 = _client("ec2", shared["vault"])
    seen = vault_ec2.describe_snapshots(SnapshotIds=[shared["snapshot"]])["Snapshots"]
    assert seen[0]["OwnerId"] == WORKLOAD and not seen[0].get("Tags")
    assert vault_ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    tagged = vault_ec2.describe_snapshots(Filters=[{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}])
    assert tagged["Snapshots"] == []


def test_the_cross_account_copy_needs_the_key_grant(moto_aws):
    ec2 = _client("ec2")
    key = _client("kms").create_key(Policy=_key_policy(grant_vault=False))["KeyMetadata"]["Arn"]
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)
    snap = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    copy = ec2.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snap, Encrypted=True, KmsKeyId=key)[
        "SnapshotId"
    ]
    ec2.modify_snapshot_attribute(
        SnapshotId=copy, Attribute="createVolumePermission", OperationType="add", UserIds=[VAULT]
    )
    vault_ec2 = _client("ec2", credentials_for(VAULT, REGION))
    with pytest.raises(ClientError) as error:
        vault_ec2.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=copy, Encrypted=True)
    assert error.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_the_cross_account_copy_is_the_recipients_own(shared):
    shared["ec2"].modify_snapshot_attribute(
        SnapshotId=shared["snapshot"],
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[VAULT],
    )
    vault_ec2 = _client("ec2", shared["vault"])
    vault_key = _client("kms", shared["vault"]).create_key()["KeyMetadata"]["Arn"]
    copy = vault_ec2.copy_snapshot(
        SourceRegion=REGION,
        SourceSnapshotId=shared["snapshot"],
        Encrypted=True,
        KmsKeyId=vault_key,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}],
    )["SnapshotId"]
    mine = vault_ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [(s["SnapshotId"], s["OwnerId"], s["KmsKeyId"]) for s in mine] == [(copy, VAULT, vault_key)]
    assert mine[0]["Tags"] == [{"Key": "k", "Value": "v"}]
    # A scheduled deletion of the source's key stops further copies, never the one made.
    _client("kms").schedule_key_deletion(KeyId=shared["key"].split("/")[-1], PendingWindowInDays=7)
    with pytest.raises(ClientError) as error:
        vault_ec2.copy_snapshot(
            SourceRegion=REGION, SourceSnapshotId=shared["snapshot"], Encrypted=True, KmsKeyId=vault_key
        )
    assert error.value.response["Error"]["Code"] == "IncorrectState"
    assert len(vault_ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 1


def test_put_events_reaches_another_accounts_bus_only_with_its_policy(moto_aws):
    vault = credentials_for(VAULT, REGION)
    events_v, sqs_v = _client("events", vault), _client("sqs", vault)
    bus = events_v.create_event_bus(Name="smart-vault")["EventBusArn"]
    queue = sqs_v.create_queue(QueueName="announcements")["QueueUrl"]
    queue_arn = sqs_v.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events_v.put_rule(
        Name="shared", EventBusName="smart-vault", EventPattern=json.dumps({"source": ["smart-vault"]})
    )
    events_v.put_targets(Rule="shared", EventBusName="smart-vault", Targets=[{"Id": "q", "Arn": queue_arn}])
    entry = {
        "Source": "smart-vault",
        "DetailType": "Smart Vault Snapshot Shared",
        "Detail": "{}",
        "EventBusName": bus,
    }
    refused = _client("events").put_events(Entries=[entry])
    assert refused["FailedEntryCount"] == 1 and refused["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    events_v.put_permission(
        EventBusName="smart-vault", Action="events:PutEvents", Principal=WORKLOAD, StatementId="workload"
    )
    assert _client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    messages = sqs_v.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    delivered = json.loads(messages[0]["Body"])
    assert delivered["account"] == WORKLOAD and delivered["detail-type"] == "Smart Vault Snapshot Shared"


def test_policy_allows_reads_principals_and_wildcards():
    policy = _key_policy(grant_vault=True)
    assert policy_allows(policy, VAULT, "kms:ReEncryptFrom")
    assert not policy_allows(policy, VAULT, "kms:ScheduleKeyDeletion")
    assert policy_allows(policy, WORKLOAD, "kms:ScheduleKeyDeletion")
