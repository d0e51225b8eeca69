"""Pruning against moto, with frozen clocks: what is deleted and what stays, in both regions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from smart_vault.backup import entry as backup
from support.backup_world import (
    DAY,
    DR_REGION,
    PRIMARY_REGION,
    T0,
    backup_context,
    scheduled_event,
    tags_of,
)

pytestmark = pytest.mark.backup_env(RETENTION_DAYS="7", DR_RETENTION_DAYS="10")


def run_at(when, event_id, event=None):
    with freeze_time(when):
        return backup.handler(event or scheduled_event(event_id), backup_context())


def ids_by_run(fleet, region):
    found = {}
    for snap_id, snap in fleet.managed(region).items():
        found.setdefault(tags_of(snap)["smart-vault:run-id"], set()).add(snap_id)
    return found


def test_primary_is_pruned_only_when_strictly_older_than_its_retention(fleet):
    fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=2)
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")

    at_boundary = run_at(T0 + 7 * DAY, "r7")
    assert at_boundary["deleted"] == []
    assert set(ids_by_run(fleet, PRIMARY_REGION)) == {"r0", "r1", "r7"}

    past = run_at(T0 + 7 * DAY + timedelta(seconds=1), "r7b")
    primaries = ids_by_run(fleet, PRIMARY_REGION)
    assert "r0" not in primaries and {"r1", "r7", "r7b"} <= set(primaries)
    deleted_primary = {d["snapshot_id"] for d in past["deleted"] if d["region"] == PRIMARY_REGION}
    assert len(deleted_primary) == 2
    # The DR copies have their own retention (10 days): the copies of r0 stay.
    copies = ids_by_run(fleet, DR_REGION)
    assert {"r0", "r1", "r7", "r7b"} <= set(copies)
    assert all(d["region"] == PRIMARY_REGION for d in past["deleted"])


def test_dr_copies_follow_the_dr_retention(fleet):
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    run_at(T0, "r0")
    for snap in fleet.managed(DR_REGION).values():
        assert tags_of(snap)["smart-vault:retention-days"] == "10"
    run_at(T0 + 10 * DAY, "r10")
    assert "r0" in ids_by_run(fleet, DR_REGION)
    report = run_at(T0 + 10 * DAY + timedelta(seconds=1), "r10b")
    assert "r0" not in ids_by_run(fleet, DR_REGION)
    assert {d["region"] for d in report["deleted"]} == {DR_REGION}


def test_the_newest_completed_snapshot_of_a_volume_is_kept_however_old(fleet):
    """A terminated instance keeps its last good backup in both regions."""
    instance = fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=2)
    run_at(T0, "r0")
    fleet.ec2.terminate_instances(InstanceIds=[instance])
    fleet.launch("other", {"Backup-Tier": "Gold"})

    report = run_at(T0 + 365 * DAY, "r365")

    assert report["deleted"] == []
    assert len(ids_by_run(fleet, PRIMARY_REGION)["r0"]) == 2
    assert len(ids_by_run(fleet, DR_REGION)["r0"]) == 2


def test_min_snapshots_kept_keeps_the_newest_n_per_volume(fleet, env):
    env.setenv("MIN_SNAPSHOTS_KEPT", "2")
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")
    run_at(T0 + 2 * DAY, "r2")
    report = run_at(T0 + 60 * DAY, "r60")
    # Primary: r60 is the newest, with N = 2 the next one (r2) stays too; r0 and r1 are expired and go.
    assert set(ids_by_run(fleet, PRIMARY_REGION)) == {"r2", "r60"}
    # DR: the newest two completed copies when the run looked were r1 and r2 (r60's copy was started after),
    # so only r0's copy goes now; r1's goes on the next run.
    assert set(ids_by_run(fleet, DR_REGION)) == {"r1", "r2", "r60"}
    assert len(report["deleted"]) == 3
    run_at(T0 + 61 * DAY, "r61")
    assert set(ids_by_run(fleet, DR_REGION)) == {"r2", "r60", "r61"}


def test_held_and_unmanaged_snapshots_are_never_deleted(fleet):
    instance = fleet.launch("gold", {"Backup-Tier": "Gold"})
    volume = next(iter(fleet.volumes_of(instance).values()))
    with freeze_time(T0 - 100 * DAY):
        # Not ours: carries every vault tag but ManagedBy.
        foreign = fleet.ec2.create_snapshot(
            VolumeId=volume,
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [
                        {"Key": "ManagedBy", "Value": "someone-else"},
                        {"Key": "smart-vault:source-volume", "Value": volume},
                        {"Key": "smart-vault:retention-days", "Value": "1"},
                    ],
                }
            ],
        )["SnapshotId"]
        untagged = fleet.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")
    held = next(iter(ids_by_run(fleet, PRIMARY_REGION)["r0"]))
    fleet.ec2.create_tags(Resources=[held], Tags=[{"Key": "smart-vault:hold", "Value": "true"}])
    held_copy = next(iter(ids_by_run(fleet, DR_REGION)["r0"]))
    fleet.dr.create_tags(Resources=[held_copy], Tags=[{"Key": "smart-vault:hold", "Value": "true"}])

    report = run_at(T0 + 60 * DAY, "r60")

    remaining = {s["SnapshotId"] for s in fleet.snapshots(PRIMARY_REGION)}
    assert {foreign, untagged, held} <= remaining
    assert held_copy in fleet.managed(DR_REGION)
    deleted = {d["snapshot_id"] for d in report["deleted"]}
    assert not {foreign, untagged, held, held_copy} & deleted
    # r1 was not held: its primary went. Its copy was the newest completed copy when the run looked, so it
    # stays until the next run, which finds r60's copy completed.
    assert "r1" not in ids_by_run(fleet, PRIMARY_REGION)
    assert "r1" in ids_by_run(fleet, DR_REGION)
    run_at(T0 + 61 * DAY, "r61")
    assert set(ids_by_run(fleet, DR_REGION)) == {"r0", "r60", "r61"}


def test_a_primary_stays_until_its_dr_copy_is_completed(fleet):
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    run_at(T0, "r0")
    r0_primary = next(iter(ids_by_run(fleet, PRIMARY_REGION)["r0"]))
    # Gone before any run saw it completed: the primary never recorded a completed copy (v3, dr-copied).
    for copy_id in ids_by_run(fleet, DR_REGION)["r0"]:
        fleet.dr.delete_snapshot(SnapshotId=copy_id)

    report = run_at(T0 + 30 * DAY, "r30")

    # Expired, but its copy is gone: it is kept, and a new copy is started.
    assert r0_primary in fleet.managed(PRIMARY_REGION)
    assert r0_primary in {c["source_snapshot_id"] for c in report["copies_started"]}
    assert r0_primary not in {d["snapshot_id"] for d in report["deleted"]}
    new_copy = next(
        s
        for s in fleet.managed(DR_REGION).values()
        if tags_of(s)["smart-vault:source-snapshot"] == r0_primary
    )
    # moto completed the new copy at once: the next run may prune the primary (the new copy is young).
    report = run_at(T0 + 30 * DAY + timedelta(minutes=5), "r30b")
    assert r0_primary not in fleet.managed(PRIMARY_REGION)
    assert new_copy["SnapshotId"] in fleet.managed(DR_REGION)


def test_retention_override_tag_applies_in_both_regions(fleet):
    long_lived = fleet.launch("long", {"Backup-Tier": "Gold", "Backup-Retention-Days": "30"})
    normal = fleet.launch("normal", {"Backup-Tier": "Gold"})
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")
    for region in (PRIMARY_REGION, DR_REGION):
        for snap in fleet.managed(region).values():
            tags = tags_of(snap)
            expected = (
                "30"
                if tags["smart-vault:source-instance"] == long_lived
                else ("7" if region == PRIMARY_REGION else "10")
            )
            assert tags["smart-vault:retention-days"] == expected

    run_at(T0 + 12 * DAY, "r12")

    for region in (PRIMARY_REGION, DR_REGION):
        r0_sources = {
            tags_of(s)["smart-vault:source-instance"]
            for s in fleet.managed(region).values()
            if tags_of(s)["smart-vault:run-id"] == "r0"
        }
        assert r0_sources == {long_lived}, region
    assert normal


def test_invalid_retention_override_falls_back_to_the_default(fleet):
    instance = fleet.launch("typo", {"Backup-Tier": "Gold", "Backup-Retention-Days": "thirty"})
    report = run_at(T0, "r0")
    assert report["instances"][0]["status"] == "ok"
    for snap in fleet.managed(PRIMARY_REGION).values():
        assert tags_of(snap)["smart-vault:retention-days"] == "7"
        assert tags_of(snap)["smart-vault:source-instance"] == instance


def test_a_snapshot_used_by_an_ami_is_skipped_and_others_still_go(fleet):
    fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=2)
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")
    in_use, other = sorted(ids_by_run(fleet, PRIMARY_REGION)["r0"])

    # moto lets AMI snapshots be deleted, so the InUse answer EC2 gives is injected for that snapshot.
    from support.backup_world import fail_operation

    fail_operation(
        fleet.ec2,
        "DeleteSnapshot",
        "InvalidSnapshot.InUse",
        f"The snapshot {in_use} is currently in use by ami-0123456789abcdef0",
        when=lambda params: params["SnapshotId"] == in_use,
    )
    report = run_at(T0 + 30 * DAY, "r30")

    assert in_use in fleet.managed(PRIMARY_REGION)
    assert other not in fleet.managed(PRIMARY_REGION)
    assert report["status"] == "SUCCEEDED"
    assert in_use not in {d["snapshot_id"] for d in report["deleted"]}
