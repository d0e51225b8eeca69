"""EC2 snapshot-completion events (the documented samples) against moto: copies start at once."""

from __future__ import annotations

import json

import pytest

from smart_vault.backup import entry as backup
from support.backup_world import (
    DR_KEY_ARN,
    DR_REGION,
    PRIMARY_REGION,
    CallCounter,
    backup_context,
    completion_event,
    tags_of,
)


def managed_set(fleet, volumes=2):
    """A snapshot set the vault made (tags as at creation), without running the full backup."""
    tags = {"smart-vault:run-id": "earlier-run", "smart-vault:retention-days": "7"}
    return fleet.managed_set("gold", volumes, tags)


def test_multi_volume_completion_copies_the_set_to_dr_and_sends_nothing(fleet, inbox):
    snapshot_ids = managed_set(fleet)
    counter = CallCounter(fleet.ec2, fleet.dr)
    event = completion_event("ebs_create_snapshots_succeeded.json", snapshot_ids)

    report = backup.handler(event, backup_context())
    calls, describes = dict(counter.calls), list(counter.params["DescribeSnapshots"])

    assert report["run_id"] == event["id"]
    assert report["status"] == "SUCCEEDED"
    assert sorted(c["source_snapshot_id"] for c in report["copies_started"]) == sorted(snapshot_ids)
    assert report["instances"] == [] and report["snapshots_created"] == [] and report["deleted"] == []
    copies = fleet.managed(DR_REGION)
    assert {tags_of(c)["smart-vault:source-snapshot"] for c in copies.values()} == set(snapshot_ids)
    for copy in copies.values():
        assert copy["Encrypted"] is True and copy["KmsKeyId"] == DR_KEY_ARN
        assert tags_of(copy)["smart-vault:source-region"] == PRIMARY_REGION
    assert calls["CopySnapshot"] == 2
    # The event's snapshots by id, the pending snapshots in DR, and the DR copies of those ids: 3 pages,
    # whatever the size of the fleet.
    assert calls["DescribeSnapshots"] == 3
    assert "CreateSnapshots" not in calls and "DeleteSnapshot" not in calls
    # Completion events look the snapshots up by id through a filter, still owner self, still paged.
    for params in describes:
        assert params["OwnerIds"] == ["self"] and params["MaxResults"] == 1000
    assert inbox.messages() == []


def test_single_snapshot_completion_copies_it(fleet, inbox):
    snapshot_id = managed_set(fleet, volumes=1)[0]
    report = backup.handler(
        completion_event("ebs_create_snapshot_succeeded.json", [snapshot_id]), backup_context()
    )
    assert [c["source_snapshot_id"] for c in report["copies_started"]] == [snapshot_id]
    assert len(fleet.managed(DR_REGION)) == 1


def test_the_same_completion_event_twice_copies_once(fleet, inbox):
    snapshot_ids = managed_set(fleet)
    event = completion_event("ebs_create_snapshots_succeeded.json", snapshot_ids)
    backup.handler(event, backup_context())
    again = backup.handler(event, backup_context())
    assert again["copies_started"] == []
    assert len(fleet.managed(DR_REGION)) == 2


def test_completion_of_snapshots_the_vault_does_not_manage_copies_nothing(fleet, inbox):
    instance = fleet.launch("other")
    reply = fleet.ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})
    ids = [s["SnapshotId"] for s in reply["Snapshots"]]
    report = backup.handler(completion_event("ebs_create_snapshots_succeeded.json", ids), backup_context())
    assert report["copies_started"] == [] and report["status"] == "SUCCEEDED"
    assert fleet.snapshots(DR_REGION) == []
    assert inbox.messages() == []


@pytest.mark.parametrize("sample", ["ebs_create_snapshots_failed.json", "ebs_create_snapshot_failed.json"])
def test_failed_creation_is_a_failed_notification_and_a_failure_metric(fleet, inbox, capsys, sample):
    snapshot_ids = managed_set(fleet)[:1] if "snapshot_failed" in sample else managed_set(fleet)
    event = completion_event(sample, snapshot_ids)

    report = backup.handler(event, backup_context())

    assert report["status"] == "FAILED"
    assert {f["resource"] for f in report["failures"]} == set(snapshot_ids)
    assert all("is in status error" in f["error"] for f in report["failures"])
    assert fleet.snapshots(DR_REGION) == []
    messages = inbox.messages()
    assert len(messages) == 1
    assert messages[0]["Subject"].startswith("Smart Vault backup") and messages[0]["Subject"].endswith(
        ": FAILED"
    )
    assert json.loads(messages[0]["Message"])["failures"] == report["failures"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"BackupFailures"' in line]
    assert emf and emf[-1]["BackupFailures"] == [float(len(snapshot_ids))]


def test_other_ec2_snapshot_events_are_ignored(fleet, inbox):
    event = completion_event("ebs_create_snapshot_succeeded.json", ["snap-0123456789abcdef0"])
    event["detail"]["event"] = "copySnapshot"
    report = backup.handler(event, backup_context())
    assert report["status"] == "SUCCEEDED" and report["copies_started"] == []
    assert inbox.messages() == []
