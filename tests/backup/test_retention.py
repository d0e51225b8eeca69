"""Pure retention rules: no AWS at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smart_vault.backup.retention import (
    DELETE_EXPIRED,
    KEEP_BAD_RETENTION,
    KEEP_FOREIGN,
    KEEP_HELD,
    KEEP_NEWEST,
    KEEP_NO_DR_COPY,
    KEEP_NOT_FINISHED,
    KEEP_UNMANAGED,
    KEEP_YOUNG,
    RetentionPolicy,
    completed_copies,
    expired_snapshots,
    is_expired,
    newest_completed_per_volume,
    plan_pruning,
    retention_days,
)
from smart_vault.snapshot_model import Snapshot, snapshot_from_api

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
PRIMARY = RetentionPolicy(default_days=7, min_kept=1, is_primary=True, account_id="123456789012")
DR = RetentionPolicy(default_days=14, min_kept=1, is_primary=False, account_id="123456789012")


def snap(sid, age_days, volume="vol-1", state="completed", region="eu-west-1", **tags):
    base = {"ManagedBy": "smart-vault", "smart-vault:source-volume": volume}
    base.update({k.replace("_", "-").replace("sv-", "smart-vault:"): v for k, v in tags.items()})
    return Snapshot(sid, region, state, NOW - timedelta(days=age_days), volume, "123456789012", tags=base)


def verdicts(snapshots, policy=PRIMARY, copied=None):
    return {d.snapshot.snapshot_id: d.reason for d in plan_pruning(snapshots, policy, NOW, copied)}


def test_exactly_at_retention_is_kept_one_second_more_is_expired():
    at = Snapshot("snap-a", "r", "completed", NOW - timedelta(days=7), tags={"ManagedBy": "smart-vault"})
    past = Snapshot(
        "snap-b", "r", "completed", NOW - timedelta(days=7, seconds=1), tags={"ManagedBy": "smart-vault"}
    )
    assert not is_expired(at, 7, NOW)
    assert is_expired(past, 7, NOW)


def test_expired_primary_with_completed_copy_goes_and_newest_stays():
    snapshots = [snap("snap-old", 10), snap("snap-new", 1)]
    assert verdicts(snapshots, copied={"snap-old", "snap-new"}) == {
        "snap-old": DELETE_EXPIRED,
        "snap-new": KEEP_YOUNG,
    }


def test_primary_without_completed_copy_is_kept():
    snapshots = [snap("snap-old", 10), snap("snap-new", 1)]
    assert verdicts(snapshots, copied=set())["snap-old"] == KEEP_NO_DR_COPY


def test_pending_copy_does_not_count_as_completed():
    copies = [
        snap("snap-c1", 0, region="eu-central-1", sv_source_snapshot="snap-old", state="pending"),
        snap("snap-c2", 0, region="eu-central-1", sv_source_snapshot="snap-new", state="completed"),
    ]
    assert completed_copies(copies) == {"snap-new"}
    snapshots = [snap("snap-old", 10), snap("snap-new", 9)]
    result = verdicts(snapshots, copied=completed_copies(copies))
    assert result["snap-old"] == KEEP_NO_DR_COPY


def test_unmanaged_copies_do_not_count_as_dr_copies():
    copy = Snapshot(
        "snap-c", "eu-central-1", "completed", NOW, tags={"smart-vault:source-snapshot": "snap-old"}
    )
    assert completed_copies([copy]) == set()


def test_dr_copies_need_no_copy_of_their_own():
    snapshots = [snap("snap-c-old", 20, region="eu-central-1"), snap("snap-c-new", 1, region="eu-central-1")]
    assert verdicts(snapshots, policy=DR) == {"snap-c-old": DELETE_EXPIRED, "snap-c-new": KEEP_YOUNG}


def test_dr_default_retention_is_its_own():
    snapshots = [snap("snap-c-old", 10, region="eu-central-1"), snap("snap-c-new", 1, region="eu-central-1")]
    assert verdicts(snapshots, policy=DR)["snap-c-old"] == KEEP_YOUNG


def test_unmanaged_snapshots_are_never_pruned_whatever_their_tags():
    foreign_tags = {"ManagedBy": "someone-else", "smart-vault:retention-days": "1"}
    snapshots = [
        Snapshot("snap-x", "r", "completed", NOW - timedelta(days=999), tags=foreign_tags),
        Snapshot("snap-y", "r", "completed", NOW - timedelta(days=999)),
        Snapshot("snap-z", "r", "completed", NOW - timedelta(days=999), tags={"managedby": "smart-vault"}),
    ]
    assert set(verdicts(snapshots, copied={"snap-x", "snap-y", "snap-z"}).values()) == {KEEP_UNMANAGED}


def test_snapshots_of_another_account_are_kept():
    other = Snapshot(
        "snap-o",
        "r",
        "completed",
        NOW - timedelta(days=99),
        owner_id="999999999999",
        tags={"ManagedBy": "smart-vault"},
    )
    assert verdicts([other, snap("snap-new", 0)], copied={"snap-o"})["snap-o"] == KEEP_FOREIGN


@pytest.mark.parametrize("value", ["true", "True", " TRUE "])
def test_held_snapshots_are_kept(value):
    held = snap("snap-h", 99, sv_hold=value)
    assert verdicts([held, snap("snap-new", 0)], copied={"snap-h"})["snap-h"] == KEEP_HELD


def test_hold_other_than_true_does_not_hold():
    not_held = snap("snap-h", 99, sv_hold="false")
    assert verdicts([not_held, snap("snap-new", 0)], copied={"snap-h"})["snap-h"] == DELETE_EXPIRED


def test_retention_tag_overrides_the_default():
    long_kept = snap("snap-l", 20, sv_retention_days="30")
    short_kept = snap("snap-s", 2, volume="vol-2", sv_retention_days="1")
    newer = [snap("snap-l2", 0), snap("snap-s2", 0, volume="vol-2")]
    result = verdicts([long_kept, short_kept, *newer], copied={"snap-l", "snap-s"})
    assert result["snap-l"] == KEEP_YOUNG
    assert result["snap-s"] == DELETE_EXPIRED


@pytest.mark.parametrize("value", ["abc", "0", "-3", "", "7.5"])
def test_unreadable_retention_tag_keeps_the_snapshot(value):
    odd = snap("snap-odd", 400, sv_retention_days=value)
    assert retention_days(odd, 7) is None
    assert verdicts([odd, snap("snap-new", 0)], copied={"snap-odd"})["snap-odd"] == KEEP_BAD_RETENTION


def test_newest_n_completed_per_volume_are_kept_however_old():
    snapshots = [snap(f"snap-{i}", 100 + i) for i in range(5)] + [snap("snap-v2", 300, volume="vol-2")]
    policy = RetentionPolicy(7, 2, True)
    result = verdicts(snapshots, policy, copied={s.snapshot_id for s in snapshots})
    assert result == {
        "snap-0": KEEP_NEWEST,
        "snap-1": KEEP_NEWEST,
        "snap-2": DELETE_EXPIRED,
        "snap-3": DELETE_EXPIRED,
        "snap-4": DELETE_EXPIRED,
        "snap-v2": KEEP_NEWEST,
    }


def test_pending_and_error_snapshots_do_not_count_as_newest():
    snapshots = [
        snap("snap-pending", 0, state="pending"),
        snap("snap-error", 1, state="error"),
        snap("snap-good", 50),
    ]
    assert newest_completed_per_volume(snapshots, 1) == {"snap-good"}
    result = verdicts(snapshots, copied={"snap-good"})
    assert result["snap-good"] == KEEP_NEWEST


def test_old_pending_snapshot_is_not_deleted_but_old_error_snapshot_is():
    snapshots = [snap("snap-p", 30, state="pending"), snap("snap-e", 30, state="error"), snap("snap-new", 0)]
    result = verdicts(snapshots)
    assert result["snap-p"] == KEEP_NOT_FINISHED
    assert result["snap-e"] == DELETE_EXPIRED


def test_dr_copies_group_by_source_volume_tag_not_their_placeholder_volume():
    # Two copies of two volumes, both with the placeholder volume id CopySnapshot gives a copy.
    copies = [
        Snapshot(
            f"snap-{volume}",
            "dr",
            "completed",
            NOW - timedelta(days=50),
            "vol-ffffffff",
            tags={"ManagedBy": "smart-vault", "smart-vault:source-volume": f"vol-{volume}"},
        )
        for volume in ("a", "b")
    ]
    assert set(verdicts(copies, DR).values()) == {KEEP_NEWEST}


def test_expired_snapshots_are_listed_oldest_first():
    snapshots = [snap("snap-b", 20), snap("snap-a", 30), snap("snap-new", 0)]
    decisions = plan_pruning(snapshots, PRIMARY, NOW, {"snap-a", "snap-b"})
    assert [s.snapshot_id for s in expired_snapshots(decisions)] == ["snap-a", "snap-b"]


def test_snapshot_from_api_reads_describe_items():
    item = {
        "SnapshotId": "snap-1",
        "State": "completed",
        "StartTime": NOW,
        "VolumeId": "vol-1",
        "OwnerId": "123456789012",
        "Encrypted": True,
        "KmsKeyId": "arn:k",
        "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}],
    }
    result = snapshot_from_api(item, "eu-west-1")
    assert (
        result.managed and result.encrypted and result.kms_key_id == "arn:k" and result.region == "eu-west-1"
    )


ages = st.lists(
    st.tuples(
        st.integers(0, 60), st.sampled_from(["vol-1", "vol-2"]), st.sampled_from(["completed", "pending"])
    ),
    min_size=1,
    max_size=12,
)


@given(ages, st.integers(1, 4))
def test_never_deletes_the_newest_completed_or_anything_young(items, keep):
    snapshots = [snap(f"snap-{i}", age, volume, state) for i, (age, volume, state) in enumerate(items)]
    policy = RetentionPolicy(7, keep, True)
    decisions = plan_pruning(snapshots, policy, NOW, {s.snapshot_id for s in snapshots})
    deleted = {d.snapshot.snapshot_id for d in decisions if d.delete}
    newest = newest_completed_per_volume(snapshots, keep)
    assert not deleted & newest
    for s in snapshots:
        if s.snapshot_id in deleted:
            assert NOW - s.start_time > timedelta(days=7) and s.state == "completed"
