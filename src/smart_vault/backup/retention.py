"""Pure retention rules: which managed snapshots may be pruned, and why every other one stays.

No AWS here. The caller describes the snapshots of one region (owner `self`) and hands them in as
`Snapshot` values; `plan_pruning` answers one `Decision` per snapshot. A snapshot may go only when every rule
agrees; any doubt (unreadable tag, unknown state, missing copy) keeps it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smart_vault.aws import tags_to_dict

MANAGED_BY_KEY = "ManagedBy"
MANAGED_BY_VALUE = "smart-vault"
TAG_PREFIX = "smart-vault:"
SOURCE_INSTANCE_TAG = "smart-vault:source-instance"
SOURCE_VOLUME_TAG = "smart-vault:source-volume"
DEVICE_TAG = "smart-vault:device"
BACKUP_SET_TAG = "smart-vault:backup-set"
RUN_ID_TAG = "smart-vault:run-id"
RETENTION_DAYS_TAG = "smart-vault:retention-days"
SOURCE_SNAPSHOT_TAG = "smart-vault:source-snapshot"
SOURCE_REGION_TAG = "smart-vault:source-region"
HOLD_TAG = "smart-vault:hold"

COMPLETED = "completed"
PENDING = "pending"
ERROR = "error"

# Reasons a snapshot stays (or goes); they appear in logs and dry-run reports.
DELETE_EXPIRED = "expired"
KEEP_UNMANAGED = "not managed by smart-vault"
KEEP_FOREIGN = "owned by another account"
KEEP_HELD = "held (smart-vault:hold=true)"
KEEP_BAD_RETENTION = "unreadable smart-vault:retention-days tag"
KEEP_YOUNG = "younger than its retention"
KEEP_NOT_FINISHED = "still pending"
KEEP_NEWEST = "among the newest completed snapshots of its volume"
KEEP_NO_DR_COPY = "its DR copy is not completed yet"


@dataclass(frozen=True)
class Snapshot:
    """What retention and reconciliation need to know about one snapshot in one region."""

    snapshot_id: str
    region: str
    state: str
    start_time: datetime
    volume_id: str = ""
    owner_id: str = ""
    encrypted: bool = False
    kms_key_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE

    @property
    def held(self) -> bool:
        return self.tags.get(HOLD_TAG, "").strip().lower() == "true"

    @property
    def source_volume(self) -> str:
        """The primary volume it protects: its `smart-vault:source-volume` tag. Only an untagged primary falls
        back to its VolumeId; a DR copy's VolumeId is arbitrary, so an untagged copy is its own group."""
        tagged = self.tags.get(SOURCE_VOLUME_TAG)
        if tagged:
            return tagged
        if self.source_snapshot:
            return f"copy-of:{self.source_snapshot}"
        return self.volume_id

    @property
    def source_instance(self) -> str:
        return self.tags.get(SOURCE_INSTANCE_TAG, "")

    @property
    def source_snapshot(self) -> str:
        """On a DR copy: the primary snapshot it was copied from."""
        return self.tags.get(SOURCE_SNAPSHOT_TAG, "")

    @property
    def run_id(self) -> str:
        return self.tags.get(RUN_ID_TAG, "")


def snapshot_from_api(item: Mapping[str, Any], region: str) -> Snapshot:
    """A `Snapshot` from one item of an EC2 DescribeSnapshots answer."""
    return Snapshot(
        snapshot_id=item["SnapshotId"],
        region=region,
        state=item.get("State", PENDING),
        start_time=item["StartTime"],
        volume_id=item.get("VolumeId", ""),
        owner_id=item.get("OwnerId", ""),
        encrypted=bool(item.get("Encrypted", False)),
        kms_key_id=item.get("KmsKeyId", ""),
        tags=tags_to_dict(item.get("Tags")),
    )


@dataclass(frozen=True)
class RetentionPolicy:
    """The rules of one region. `default_days` applies to snapshots without a readable retention tag."""

    default_days: int
    min_kept: int
    is_primary: bool
    account_id: str | None = None


@dataclass(frozen=True)
class Decision:
    snapshot: Snapshot
    delete: bool
    reason: str


def retention_days(snapshot: Snapshot, default_days: int) -> int | None:
    """Days this snapshot is kept: its own tag when present, else the default; None when the tag is junk."""
    raw = snapshot.tags.get(RETENTION_DAYS_TAG)
    if raw is None:
        return default_days
    try:
        days = int(raw.strip())
    except ValueError:
        return None
    return days if days >= 1 else None


def is_expired(snapshot: Snapshot, days: int, now: datetime) -> bool:
    """Strictly older than `days`: a snapshot exactly `days` old is still kept."""
    return now - snapshot.start_time > timedelta(days=days)


def newest_completed_per_volume(snapshots: Iterable[Snapshot], keep: int) -> set[str]:
    """Ids of the newest `keep` completed managed snapshots of each source volume (in one region)."""
    by_volume: dict[str, list[Snapshot]] = defaultdict(list)
    for snap in snapshots:
        if snap.managed and snap.state == COMPLETED:
            by_volume[snap.source_volume].append(snap)
    kept: set[str] = set()
    for group in by_volume.values():
        group.sort(key=lambda s: (s.start_time, s.snapshot_id), reverse=True)
        kept.update(s.snapshot_id for s in group[:keep])
    return kept


def completed_copies(dr_snapshots: Iterable[Snapshot]) -> set[str]:
    """Ids of the primary snapshots that have a completed managed copy among `dr_snapshots`."""
    return {
        s.source_snapshot for s in dr_snapshots if s.managed and s.state == COMPLETED and s.source_snapshot
    }


def plan_pruning(
    snapshots: Iterable[Snapshot],
    policy: RetentionPolicy,
    now: datetime,
    copied_primaries: set[str] | None = None,
) -> list[Decision]:
    """One decision per snapshot of one region. `copied_primaries` (primary region only) are the primary
    snapshot ids whose DR copy is completed; a primary without one is kept, whatever its age."""
    snapshots = list(snapshots)
    newest = newest_completed_per_volume(snapshots, policy.min_kept)
    copied = copied_primaries or set()
    decisions = []
    for snap in snapshots:
        decisions.append(Decision(snap, *_verdict(snap, policy, now, newest, copied)))
    return decisions


def _verdict(
    snap: Snapshot, policy: RetentionPolicy, now: datetime, newest: set[str], copied: set[str]
) -> tuple[bool, str]:
    if not snap.managed:
        return False, KEEP_UNMANAGED
    if policy.account_id and snap.owner_id and snap.owner_id != policy.account_id:
        return False, KEEP_FOREIGN
    if snap.held:
        return False, KEEP_HELD
    days = retention_days(snap, policy.default_days)
    if days is None:
        return False, KEEP_BAD_RETENTION
    if not is_expired(snap, days, now):
        return False, KEEP_YOUNG
    if snap.state not in (COMPLETED, ERROR):
        return False, KEEP_NOT_FINISHED
    if snap.snapshot_id in newest:
        return False, KEEP_NEWEST
    if policy.is_primary and snap.state == COMPLETED and snap.snapshot_id not in copied:
        return False, KEEP_NO_DR_COPY
    return True, DELETE_EXPIRED


def expired_snapshots(decisions: Iterable[Decision]) -> list[Snapshot]:
    """The snapshots to delete, oldest first."""
    return sorted((d.snapshot for d in decisions if d.delete), key=lambda s: (s.start_time, s.snapshot_id))
