"""Snapshot sets, DR copies and pruning with botocore's Stubber: the cases moto cannot show
(pending copies, the copy limit, ResourceLimitExceeded, InvalidSnapshot.InUse / NotFound)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from smart_vault.backup.dr_copies import copy_tags, reconcile_copies, snapshots_needing_copy
from smart_vault.backup.instances import Instance, select_instances
from smart_vault.backup.prune import delete_snapshots, plan_both_regions
from smart_vault.backup.snapshots import create_snapshot_set, describe_managed_snapshots
from smart_vault.config import BackupSettings
from smart_vault.snapshot_model import Snapshot

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DR_KEY = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ENV = {
    "AWS_REGION": "eu-west-1",
    "SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
    "DR_REGION": "eu-central-1",
    "DR_KMS_KEY_ID": DR_KEY,
    "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
    "MAX_CONCURRENT_COPIES": "3",
    "DR_RETENTION_DAYS": "30",
}


@pytest.fixture
def settings():
    return BackupSettings.from_env(ENV)


def ec2(region="eu-central-1"):
    return boto3.client("ec2", region_name=region)


def primary(sid, minutes_old, state="completed", **tags):
    base = {
        "ManagedBy": "smart-vault",
        "smart-vault:source-instance": "i-1",
        "smart-vault:retention-days": "7",
    }
    base.update(tags)
    return Snapshot(sid, "eu-west-1", state, NOW - timedelta(minutes=minutes_old), "vol-1", tags=base)


def copy_of(source, state):
    tags = {"ManagedBy": "smart-vault", "smart-vault:source-snapshot": source}
    return Snapshot(f"snap-c{source[5:]}", "eu-central-1", state, NOW, "vol-ffffffff", tags=tags)


def expect_copy(stub, source_id, copy_id):
    stub.add_response(
        "copy_snapshot",
        {"SnapshotId": copy_id},
        {
            "SourceRegion": "eu-west-1",
            "SourceSnapshotId": source_id,
            "Description": ANY,
            "Encrypted": True,
            "KmsKeyId": DR_KEY,
            "TagSpecifications": ANY,
        },
    )


def test_copies_are_capped_by_the_copies_already_pending(settings):
    primaries = [primary(f"snap-{i:08x}", 100 - i) for i in range(5)]
    dr_snapshots = [copy_of("snap-aaaaaaaa", "pending"), copy_of("snap-bbbbbbbb", "completed")]
    client = ec2()
    with Stubber(client) as stub:
        # 3 allowed, 1 pending already: 2 start, oldest first.
        expect_copy(stub, "snap-00000000", "snap-1000000000")
        expect_copy(stub, "snap-00000001", "snap-1000000001")
        outcome = reconcile_copies(client, primaries, dr_snapshots, settings)
        stub.assert_no_pending_responses()
    assert [c["source_snapshot_id"] for c in outcome.started] == ["snap-00000000", "snap-00000001"]
    assert outcome.deferred == 3
    assert outcome.failures == []


def test_no_copy_starts_when_the_limit_is_already_reached(settings):
    primaries = [primary("snap-00000001", 10)]
    dr_snapshots = [copy_of(f"snap-f000000{i}", "pending") for i in range(3)]
    client = ec2()
    with Stubber(client) as stub:
        outcome = reconcile_copies(client, primaries, dr_snapshots, settings)
        stub.assert_no_pending_responses()
    assert outcome.started == [] and outcome.deferred == 1


def test_resource_limit_exceeded_defers_the_rest_and_is_no_failure(settings):
    primaries = [primary(f"snap-{i:08x}", 100 - i) for i in range(3)]
    client = ec2()
    with Stubber(client) as stub:
        expect_copy(stub, "snap-00000000", "snap-1000000000")
        stub.add_client_error("copy_snapshot", "ResourceLimitExceeded", "too many copies in progress")
        outcome = reconcile_copies(client, primaries, [], settings)
        stub.assert_no_pending_responses()
    assert len(outcome.started) == 1
    assert outcome.deferred == 2
    assert outcome.failures == []


def test_a_copy_error_fails_that_snapshot_only(settings):
    primaries = [primary("snap-00000001", 20), primary("snap-00000002", 10)]
    client = ec2()
    with Stubber(client) as stub:
        stub.add_client_error("copy_snapshot", "InvalidParameterValue", "bad key")
        expect_copy(stub, "snap-00000002", "snap-1000000002")
        outcome = reconcile_copies(client, primaries, [], settings)
    assert outcome.failures == [{"resource": "snap-00000001", "error": "InvalidParameterValue: bad key"}]
    assert [c["source_snapshot_id"] for c in outcome.started] == ["snap-00000002"]


def test_pending_primaries_and_copied_ones_are_not_copied_and_failed_copies_are_redone():
    primaries = [
        primary("snap-00000001", 30, state="pending"),
        primary("snap-00000002", 20),
        primary("snap-00000003", 10),
        primary("snap-00000004", 5),
        Snapshot("snap-00000005", "eu-west-1", "completed", NOW, tags={"Name": "not ours"}),
    ]
    dr = [copy_of("snap-00000002", "completed"), copy_of("snap-00000003", "error")]
    assert [s.snapshot_id for s in snapshots_needing_copy(primaries, dr)] == [
        "snap-00000003",
        "snap-00000004",
    ]


def test_dry_run_counts_the_copies_that_would_start_and_calls_nothing(settings):
    primaries = [primary(f"snap-{i:08x}", 100 - i) for i in range(5)]
    client = ec2()
    with Stubber(client) as stub:
        outcome = reconcile_copies(
            client, primaries, [copy_of("snap-ffffffff", "pending")], settings, dry_run=True
        )
        stub.assert_no_pending_responses()
    assert outcome.started == [] and outcome.deferred == 2


def test_copy_tags_carry_the_vault_tags_the_dr_retention_and_the_source():
    source = primary("snap-00000001", 5, Name="web", **{"smart-vault:hold": "true", "Owner": "team-a"})
    tags = copy_tags(source, BackupSettings.from_env(ENV))
    assert tags["smart-vault:retention-days"] == "30"
    assert tags["smart-vault:source-snapshot"] == "snap-00000001"
    assert tags["smart-vault:source-region"] == "eu-west-1"
    assert tags["Name"] == "web" and tags["ManagedBy"] == "smart-vault"
    assert "smart-vault:hold" not in tags and "Owner" not in tags


def test_an_instance_retention_override_reaches_the_copy():
    source = primary(
        "snap-00000001", 5, **{"smart-vault:retention-days": "90", "smart-vault:retention-override": "true"}
    )
    assert copy_tags(source, BackupSettings.from_env(ENV))["smart-vault:retention-days"] == "90"


def test_describe_asks_for_own_snapshots_in_pages_of_1000():
    client = ec2("eu-west-1")
    with Stubber(client) as stub:
        item = {"SnapshotId": "snap-00000001", "State": "completed", "StartTime": NOW, "VolumeId": "vol-1"}
        stub.add_response(
            "describe_snapshots",
            {"Snapshots": [item], "NextToken": "t"},
            {"OwnerIds": ["self"], "Filters": ANY, "MaxResults": 1000},
        )
        stub.add_response(
            "describe_snapshots",
            {"Snapshots": [{**item, "SnapshotId": "snap-00000002"}]},
            {"OwnerIds": ["self"], "Filters": ANY, "MaxResults": 1000, "NextToken": "t"},
        )
        found = describe_managed_snapshots(client, "eu-west-1")
    assert [s.snapshot_id for s in found] == ["snap-00000001", "snap-00000002"]


def test_select_instances_filters_state_and_tag_in_pages_of_1000(settings):
    client = ec2("eu-west-1")
    instance = {
        "InstanceId": "i-00000002",
        "Tags": [{"Key": "Name", "Value": "db"}, {"Key": "Backup-Retention-Days", "Value": "14"}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1"}}],
    }
    with Stubber(client) as stub:
        stub.add_response(
            "describe_instances",
            {"Reservations": [{"Instances": [instance, {"InstanceId": "i-00000001"}]}]},
            {
                "Filters": [
                    {"Name": "instance-state-name", "Values": ["running", "stopped"]},
                    {"Name": "tag:Backup-Tier", "Values": ["Gold"]},
                ],
                "MaxResults": 1000,
            },
        )
        stub.add_response(
            "describe_volumes",
            {"Volumes": [{"VolumeId": "vol-1", "VolumeType": "io2", "Iops": 4000}]},
            {
                "Filters": [{"Name": "attachment.instance-id", "Values": ["i-00000001", "i-00000002"]}],
                "MaxResults": 1000,
            },
        )
        found = select_instances(client, settings)
        stub.assert_no_pending_responses()
    assert [i.instance_id for i in found] == ["i-00000001", "i-00000002"]
    db = found[1]
    assert (db.instance_id, db.name, db.volumes, db.retention_days) == (
        "i-00000002",
        "db",
        (("/dev/xvda", "vol-1"),),
        14,
    )
    assert dict(db.volume_tags)["vol-1"] == (
        ("smart-vault:volume-type", "io2"),
        ("smart-vault:delete-on-termination", "false"),
        ("smart-vault:iops", "4000"),
    )


def test_a_set_is_one_create_snapshots_and_one_create_tags_per_snapshot(settings):
    client = ec2("eu-west-1")
    instance = Instance("i-00000001", "web", (("/dev/xvda", "vol-a"), ("/dev/sdf", "vol-b")))
    with Stubber(client) as stub:
        stub.add_response(
            "create_snapshots",
            {
                "Snapshots": [
                    {
                        "SnapshotId": "snap-0000000a",
                        "VolumeId": "vol-a",
                        "State": "pending",
                        "StartTime": NOW,
                    },
                    {
                        "SnapshotId": "snap-0000000b",
                        "VolumeId": "vol-b",
                        "State": "pending",
                        "StartTime": NOW,
                    },
                ]
            },
            {
                "InstanceSpecification": {"InstanceId": "i-00000001", "ExcludeBootVolume": False},
                "Description": ANY,
                "TagSpecifications": ANY,
            },
        )
        for sid, vol, dev in (
            ("snap-0000000a", "vol-a", "/dev/xvda"),
            ("snap-0000000b", "vol-b", "/dev/sdf"),
        ):
            stub.add_response(
                "create_tags",
                {},
                {
                    "Resources": [sid],
                    "Tags": [
                        {"Key": "smart-vault:device", "Value": dev},
                        {"Key": "smart-vault:source-volume", "Value": vol},
                    ],
                },
            )
        result = create_snapshot_set(client, instance, "run-1", settings)
        stub.assert_no_pending_responses()
    assert result.error is None
    assert result.snapshot_ids == ["snap-0000000a", "snap-0000000b"]
    assert all(s.state == "pending" for s in result.snapshots)


def test_a_tagging_failure_is_reported_and_the_snapshots_kept(settings):
    client = ec2("eu-west-1")
    instance = Instance("i-00000001", "", (("/dev/xvda", "vol-a"),))
    with Stubber(client) as stub:
        stub.add_response(
            "create_snapshots",
            {
                "Snapshots": [
                    {"SnapshotId": "snap-0000000a", "VolumeId": "vol-a", "State": "pending", "StartTime": NOW}
                ]
            },
        )
        stub.add_client_error("create_tags", "UnauthorizedOperation", "no tags")
        result = create_snapshot_set(client, instance, "run-1", settings)
    assert result.snapshot_ids == ["snap-0000000a"]
    assert "UnauthorizedOperation" in result.error


def test_delete_skips_in_use_counts_not_found_and_records_other_errors(settings):
    primaries = [primary(f"snap-0000000{i}", 60 * 24 * (40 - i)) for i in range(4)] + [
        primary("snap-00000009", 0)
    ]
    copies = [copy_of(p.snapshot_id, "completed") for p in primaries]
    decisions = plan_both_regions(primaries, [], settings, NOW)
    decisions = [d for d in decisions if d.snapshot.region == "eu-west-1"]
    # No completed copies were described: nothing may go.
    assert not any(d.delete for d in decisions)
    decisions = plan_both_regions(primaries, copies, settings, NOW)
    decisions = [d for d in decisions if d.snapshot.region == "eu-west-1"]
    client = ec2("eu-west-1")
    with Stubber(client) as stub:
        stub.add_client_error(
            "delete_snapshot",
            "InvalidSnapshot.InUse",
            "used by ami-1",
            expected_params={"SnapshotId": "snap-00000000"},
        )
        stub.add_client_error(
            "delete_snapshot",
            "InvalidSnapshot.NotFound",
            "gone",
            expected_params={"SnapshotId": "snap-00000001"},
        )
        stub.add_client_error(
            "delete_snapshot",
            "UnauthorizedOperation",
            "denied",
            expected_params={"SnapshotId": "snap-00000002"},
        )
        stub.add_response("delete_snapshot", {}, {"SnapshotId": "snap-00000003"})
        outcome = delete_snapshots({"eu-west-1": client}, decisions)
        stub.assert_no_pending_responses()
    assert outcome.deleted == [
        {"snapshot_id": "snap-00000001", "region": "eu-west-1"},
        {"snapshot_id": "snap-00000003", "region": "eu-west-1"},
    ]
    assert outcome.skipped_in_use == ["snap-00000000"]
    assert outcome.failures == [{"resource": "snap-00000002", "error": "UnauthorizedOperation: denied"}]


def test_dry_run_delete_lists_and_calls_nothing(settings):
    primaries = [primary("snap-00000001", 60 * 24 * 30), primary("snap-00000002", 0)]
    decisions = plan_both_regions(primaries, [copy_of("snap-00000001", "completed")], settings, NOW)
    client = ec2("eu-west-1")
    with Stubber(client) as stub:
        outcome = delete_snapshots({"eu-west-1": client, "eu-central-1": client}, decisions, dry_run=True)
        stub.assert_no_pending_responses()
    assert outcome.deleted == [{"snapshot_id": "snap-00000001", "region": "eu-west-1"}]
