"""EBS Snapshot Lock as the emulator layer models it (moto lacks it): the pure rules, then the calls on moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from freezegun import freeze_time

from smart_vault.local.snapshot_lock import (
    COMPLIANCE,
    COOLOFF,
    DELETE_REFUSED,
    EXPIRED,
    GOVERNANCE,
    LockError,
    LockTable,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def locked(table, mode, completed=NOW, at=NOW, **params):
    return table.lock({"SnapshotId": "snap-1", "LockMode": mode, **params}, "123456789012", completed, at)


def test_governance_lock_holds_until_its_duration_then_expires_and_allows_deletion():
    table = LockTable()
    info = locked(table, GOVERNANCE, LockDuration=2)
    assert info["LockState"] == GOVERNANCE and info["LockExpiresOn"] == NOW + 2 * DAY
    with pytest.raises(LockError) as refused:
        table.check_delete("snap-1", NOW + DAY)
    assert refused.value.code == DELETE_REFUSED
    assert table.locks["snap-1"].state(NOW + 2 * DAY) == EXPIRED
    table.check_delete("snap-1", NOW + 2 * DAY)  # no error: an expired lock protects nothing


def test_compliance_lock_has_a_cooling_off_period_then_can_only_be_extended_never_unlocked():
    table = LockTable()
    info = locked(table, COMPLIANCE, CoolOffPeriod=24, LockDuration=10)
    assert info["LockState"] == COOLOFF and info["CoolOffPeriodExpiresOn"] == NOW + 24 * HOUR
    # During cooling-off anything may change; after it, only a longer lock in the same mode.
    locked(table, COMPLIANCE, at=NOW + HOUR, CoolOffPeriod=1, LockDuration=5)
    later = NOW + 3 * HOUR
    assert table.locks["snap-1"].state(later) == COMPLIANCE
    with pytest.raises(LockError):
        locked(table, COMPLIANCE, at=later, LockDuration=1)  # shorter
    with pytest.raises(LockError):
        locked(table, GOVERNANCE, at=later, LockDuration=30)  # other mode
    with pytest.raises(LockError):
        table.unlock("snap-1", later)
    longer = locked(table, COMPLIANCE, at=later, ExpirationDate=NOW + 30 * DAY)
    assert longer["LockExpiresOn"] == NOW + 30 * DAY


def test_governance_and_cooling_off_locks_can_be_unlocked():
    table = LockTable()
    locked(table, GOVERNANCE, LockDuration=3)
    assert table.unlock("snap-1", NOW) == {"SnapshotId": "snap-1"}
    table.check_delete("snap-1", NOW)
    locked(table, COMPLIANCE, CoolOffPeriod=2, LockDuration=3)
    table.unlock("snap-1", NOW + HOUR)
    assert "snap-1" not in table.locks


def test_a_duration_lock_on_a_pending_snapshot_starts_when_it_completes():
    table = LockTable()
    info = locked(table, GOVERNANCE, completed=None, LockDuration=1)
    assert "LockExpiresOn" not in info
    with pytest.raises(LockError):
        table.check_delete("snap-1", NOW + 5 * DAY)  # still holds: the duration has not started
    table.completed("snap-1", NOW + 5 * DAY)
    assert table.locks["snap-1"].expires_on == NOW + 6 * DAY


@pytest.mark.parametrize(
    "params",
    [
        {"LockDuration": 1, "ExpirationDate": NOW + DAY},  # both
        {},  # neither
        {"LockDuration": 0},
        {"LockDuration": 36501},
        {"LockDuration": 1, "CoolOffPeriod": 73},
        {"ExpirationDate": NOW - HOUR},
    ],
)
def test_bad_lock_parameters_are_refused(params):
    with pytest.raises(LockError):
        locked(LockTable(), COMPLIANCE, **params)


def test_a_cooling_off_period_is_for_compliance_mode_only():
    with pytest.raises(LockError) as refused:
        locked(LockTable(), GOVERNANCE, CoolOffPeriod=1, LockDuration=1)
    assert refused.value.code == "InvalidParameterCombination"


def test_describe_filters_by_lock_state_and_pages_with_a_token():
    table = LockTable()
    for i in range(7):
        table.lock({"SnapshotId": f"snap-{i}", "LockMode": GOVERNANCE, "LockDuration": 1 + i}, "1", NOW, NOW)
    later = NOW + 3 * DAY + HOUR  # the locks of 1, 2 and 3 days have expired
    first = table.describe(later, filters=[{"Name": "lock-state", "Values": [GOVERNANCE]}], max_results=5)
    assert [s["SnapshotId"] for s in first["Snapshots"]] == ["snap-3", "snap-4", "snap-5", "snap-6"]
    assert "NextToken" not in first
    page = table.describe(later, max_results=5)
    rest = table.describe(later, max_results=5, next_token=page["NextToken"])
    assert len(page["Snapshots"]) == 5 and len(rest["Snapshots"]) == 2
    with pytest.raises(LockError):
        table.describe(later, max_results=4)


def test_the_lock_calls_and_the_refused_deletion_on_moto(moto_aws):
    ec2 = boto3.client("ec2", "eu-west-1")
    volume = ec2.create_volume(Size=8, AvailabilityZone="eu-west-1a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    with freeze_time(NOW):
        answer = ec2.lock_snapshot(
            SnapshotId=snapshot, LockMode="compliance", CoolOffPeriod=2, LockDuration=1
        )
        assert answer["LockState"] == COOLOFF
        listed = ec2.describe_locked_snapshots(Filters=[{"Name": "lock-state", "Values": [COOLOFF]}])
        assert [s["SnapshotId"] for s in listed["Snapshots"]] == [snapshot]
        with pytest.raises(ClientError) as refused:
            ec2.delete_snapshot(SnapshotId=snapshot)
        assert refused.value.response["Error"]["Code"] == DELETE_REFUSED
    with freeze_time(NOW + 3 * HOUR), pytest.raises(ClientError):
        ec2.unlock_snapshot(SnapshotId=snapshot)  # compliance, its cooling-off over
    with freeze_time(NOW + DAY + HOUR):
        ec2.delete_snapshot(SnapshotId=snapshot)  # the lock expired
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
