"""(v3) Snapshot Lock on DR copies, on moto with frozen clocks: locked at the copy, expiring with retention,
repaired by the reconciliation, and never pruned or deleted while it holds."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from freezegun import freeze_time

from smart_vault.backup import entry as backup
from smart_vault.config import BackupSettings
from smart_vault.errors import ConfigError
from support.backup_world import (
    DAY,
    DR_REGION,
    T0,
    backup_context,
    backup_env,
    fail_operation,
    scheduled_event,
)

pytestmark = pytest.mark.backup_env(RETENTION_DAYS="7", DR_RETENTION_DAYS="7", LOCK_MODE="governance")


@pytest.fixture
def fleet(fleet):
    fleet.launch("web-1", {"Backup-Tier": "Gold"}, volumes=2)
    return fleet


def run_at(when, event_id):
    with freeze_time(when):
        return backup.handler(scheduled_event(event_id), backup_context())


def reconcile_at(when):
    with freeze_time(when):
        return backup.handler({"reconcile_copies": True}, backup_context())


def locks(when):
    with freeze_time(when):
        items = boto3.client("ec2", DR_REGION).describe_locked_snapshots()["Snapshots"]
    return {i["SnapshotId"]: i for i in items}


def without_locks(fleet, run):
    """`run()` while every LockSnapshot fails (its copies stay unlocked); then the copies it started."""
    lost = {"on": True}
    fail_operation(fleet.dr, "LockSnapshot", "InternalError", "lost", when=lambda _: lost["on"])
    copies = {c["copy_snapshot_id"] for c in run()["copies_started"]}
    lost["on"] = False
    return copies


def lock_requests(fleet):
    """The snapshot of every LockSnapshot from now on, in order."""
    asked = []
    fleet.dr.meta.events.register(
        "provide-client-params.ec2.LockSnapshot", lambda params, **_: asked.append(params["SnapshotId"])
    )
    return asked


def dr_copies(fleet):
    return {s["SnapshotId"]: s for s in fleet.snapshots(DR_REGION, ManagedBy="smart-vault")}


def test_every_dr_copy_is_locked_at_its_copy_until_its_start_plus_retention(fleet):
    report = run_at(T0, "r0")

    copies = {c["copy_snapshot_id"] for c in report["copies_started"]}
    assert len(copies) == 2
    found = locks(T0)
    assert set(found) == copies
    for item in found.values():
        assert item["LockState"] == "governance"
        assert item["LockExpiresOn"] == T0 + 7 * DAY


def test_compliance_mode_with_cooling_off(fleet, monkeypatch):
    monkeypatch.setenv("LOCK_MODE", "compliance")
    monkeypatch.setenv("LOCK_COOL_OFF_HOURS", "24")
    run_at(T0, "r0")
    found = locks(T0 + timedelta(hours=1))
    assert {i["LockState"] for i in found.values()} == {"compliance-cooloff"}
    assert {i["CoolOffPeriod"] for i in found.values()} == {24}
    assert {i["LockState"] for i in locks(T0 + 2 * DAY).values()} == {"compliance"}


def test_a_lost_lock_is_repaired_by_the_next_reconciliation(fleet):
    copies = without_locks(fleet, lambda: run_at(T0, "r0"))
    assert len(copies) == 2 and locks(T0) == {}

    reconcile_at(T0 + timedelta(minutes=30))

    found = locks(T0 + timedelta(minutes=30))
    assert set(found) == copies
    assert {i["LockExpiresOn"] for i in found.values()} == {T0 + 7 * DAY}  # start time + retention


def test_lock_repairs_stop_at_the_deadline_and_the_next_reconciliation_finds_the_rest(fleet):
    """LOCK_MODE turned on over copies that have none: the repairs of one invocation stop when its time is
    short (the tail's quarter of the reserve), and the next reconciliation's listing finds the others."""
    fleet.launch("web-2", {"Backup-Tier": "Gold"}, volumes=2)
    fleet.launch("web-3", {"Backup-Tier": "Gold"}, volumes=2)
    copies = without_locks(fleet, lambda: run_at(T0, "r0"))
    assert len(copies) == 6 and locks(T0) == {}
    repaired = lock_requests(fleet)
    short = backup_context()
    # 15 minutes left until two locks are repaired, then 10 s: under the tail's stop (reserve / 4 = 30 s).
    short.get_remaining_time_in_millis = lambda: 900_000 if len(repaired) < 2 else 10_000

    with freeze_time(T0 + timedelta(minutes=30)):
        backup.handler({"reconcile_copies": True}, short)

    assert len(repaired) == 2
    assert set(locks(T0 + timedelta(minutes=30))) == set(repaired)
    reconcile_at(T0 + timedelta(minutes=60))
    assert set(locks(T0 + timedelta(minutes=60))) == copies
    assert len(repaired) == 6  # each lock repaired once


def test_a_full_runs_lock_repairs_stop_at_its_deadline_too(fleet):
    """The scheduled run's tail repairs locks as the reconciliation does, and stops as it does when its
    invocation runs short: the rest is the next run's."""
    fleet.launch("web-2", {"Backup-Tier": "Gold"}, volumes=2)
    copies = without_locks(fleet, lambda: run_at(T0, "r0"))
    assert len(copies) == 4 and locks(T0) == {}
    repaired = lock_requests(fleet)
    short = backup_context()
    # The run's own new copies are locked at their copy; of the earlier ones, one repair, then 10 s left.
    short.get_remaining_time_in_millis = lambda: 900_000 if not copies & set(repaired) else 10_000

    with freeze_time(T0 + DAY):
        backup.handler(scheduled_event("r1"), short)

    assert len(copies & set(repaired)) == 1
    run_at(T0 + DAY + timedelta(hours=1), "r2")
    assert copies <= set(locks(T0 + DAY + timedelta(hours=1)))


def test_a_locked_copy_survives_every_prune_and_every_delete(fleet):
    run_at(T0, "r0")
    target = next(iter(dr_copies(fleet)))
    with freeze_time(T0 + DAY):  # a longer lock than retention: an operator's choice, honoured
        fleet.dr.lock_snapshot(SnapshotId=target, LockMode="compliance", ExpirationDate=T0 + 60 * DAY)
    for day in range(1, 20):
        report = run_at(T0 + day * DAY, f"r{day}")
        assert target not in {d["snapshot_id"] for d in report["deleted"]}
        assert not [f for f in report["failures"] if target in f["resource"]]
    assert target in dr_copies(fleet)
    with freeze_time(T0 + 20 * DAY), pytest.raises(ClientError) as error:
        boto3.client("ec2", DR_REGION).delete_snapshot(SnapshotId=target)
    assert error.value.response["Error"]["Code"] == "SnapshotLocked"


def test_a_lock_expires_with_retention_and_the_copy_is_then_pruned(fleet):
    first = {c["copy_snapshot_id"] for c in run_at(T0, "r0")["copies_started"]}
    run_at(T0 + DAY, "r1")
    # An hour before start + retention the lock holds; a day after, it has expired and pruning takes the copy.
    before = run_at(T0 + 7 * DAY - timedelta(hours=1), "r6")
    assert not first & {d["snapshot_id"] for d in before["deleted"]}
    after = run_at(T0 + 8 * DAY, "r8")
    assert first <= {d["snapshot_id"] for d in after["deleted"]}
    assert not first & set(dr_copies(fleet))


def test_lock_settings_fail_fast_naming_the_variable(monkeypatch):
    backup_env(monkeypatch, LOCK_MODE="immutable")
    with pytest.raises(ConfigError, match="LOCK_MODE"):
        BackupSettings.from_env()
    backup_env(monkeypatch, LOCK_MODE="governance", LOCK_COOL_OFF_HOURS="24")
    with pytest.raises(ConfigError, match="LOCK_COOL_OFF_HOURS"):
        BackupSettings.from_env()
    backup_env(monkeypatch, LOCK_MODE="compliance", LOCK_COOL_OFF_HOURS="73")
    with pytest.raises(ConfigError, match="LOCK_COOL_OFF_HOURS"):
        BackupSettings.from_env()
    backup_env(monkeypatch, LOCK_MODE="compliance", LOCK_COOL_OFF_HOURS="72", LOCK_PRIMARY="true")
    settings = BackupSettings.from_env()
    assert (settings.lock_mode, settings.lock_cool_off_hours, settings.lock_primary) == (
        "compliance",
        72,
        True,
    )


def test_recovery_points_show_the_locks_and_whether_they_are_immutable(fleet):
    from smart_vault.restore.recovery_points import list_recovery_points

    run_at(T0, "r0")
    instance = fleet.instances["web-1"]

    def points(region, when):
        with freeze_time(when):
            client = boto3.client("ec2", region)
            return list_recovery_points(client, region, instance_id=instance, name=None, now=when)[
                "recovery_points"
            ]

    dr = points(DR_REGION, T0 + timedelta(hours=1))[0]
    assert dr["immutable"] is True
    assert {(v["locked_until"], v["lock_mode"]) for v in dr["volumes"]} == {
        ("2026-03-08T02:00:00Z", "governance")
    }
    assert points(DR_REGION, T0 + 6 * DAY + timedelta(hours=1))[0]["immutable"] is False  # under 24 h left
    primary = points("eu-west-1", T0 + timedelta(hours=1))[0]
    assert primary["immutable"] is False
    assert {(v["locked_until"], v["lock_mode"]) for v in primary["volumes"]} == {(None, None)}
