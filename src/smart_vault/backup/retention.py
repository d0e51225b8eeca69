"""Pure retention rules: which managed snapshots may be pruned, and why every other one stays.

No AWS here. The caller describes the snapshots of one region (owner `self`) and hands them in as
`Snapshot` values; `plan_pruning` answers one `Decision` per snapshot. A snapshot may go only when every rule
agrees; any doubt (unreadable tag, unknown state, missing copy) keeps it.

(v3) Made exact: every snapshot of an instance's newest complete recovery point in the region stays, whatever
its age (`smart_vault.recovery_sets`); a duplicate (a second snapshot of one device in one set) gets none of the
protections of its device's canonical snapshot; a snapshot under an unexpired EBS Snapshot Lock is kept, not
tried; a DR copy in `error` is deleted at once (its failure is recorded before, see `copy_failures`); and a
completed DR copy stays while its primary does not yet record that it was copied (`smart-vault:dr-copied`),
so that DR pruning can never make a primary look uncopied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from smart_vault.recovery_sets import duplicate_ids, protected_by_newest_point
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import COMPLETED, ERROR, RETENTION_DAYS_TAG

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
# (v3)
KEEP_LOCKED = "under an EBS Snapshot Lock that has not expired"
KEEP_RECOVERY_POINT = "part of its instance's newest complete recovery point in this region"
KEEP_COPY_UNRECORDED = "its primary does not record the completed copy yet (smart-vault:dr-copied)"
DELETE_FAILED_COPY = "a DR copy that ended in error"


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


def newest_completed_per_volume(
    snapshots: Iterable[Snapshot], keep: int, exclude: Set[str] = frozenset()
) -> set[str]:
    """Ids of the newest `keep` completed managed snapshots of each source volume (in one region), leaving
    out the ids in `exclude` (duplicates: they never stand for their volume)."""
    by_volume: dict[str, list[Snapshot]] = defaultdict(list)
    for snap in snapshots:
        if snap.managed and snap.state == COMPLETED and snap.snapshot_id not in exclude:
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


def unrecorded_copies(primaries: Iterable[Snapshot], dr_snapshots: Iterable[Snapshot]) -> set[str]:
    """(v3) Ids of the existing primaries with a completed copy that do not carry `smart-vault:dr-copied`
    yet: their copies must stay until they do (the tag is what says "copied once" after DR pruning)."""
    done = completed_copies(dr_snapshots)
    return {p.snapshot_id for p in primaries if p.managed and p.snapshot_id in done and not p.dr_copied}


@dataclass(frozen=True)
class _Protected:
    """What keeps a snapshot of one region, computed once per plan."""

    newest: Set[str]
    points: Set[str]
    duplicates: Set[str]
    copied: Set[str]
    locked: Set[str]
    unrecorded: Set[str]


def plan_pruning(
    snapshots: Iterable[Snapshot],
    policy: RetentionPolicy,
    now: datetime,
    copied_primaries: Set[str] | None = None,
    *,
    locked: Set[str] = frozenset(),
    unrecorded_primaries: Set[str] = frozenset(),
) -> list[Decision]:
    """One decision per snapshot of one region.

    `copied_primaries` (primary region): primary ids whose DR copy is completed; a primary that has none and
    does not carry `smart-vault:dr-copied` is kept, whatever its age. `locked`: ids under an unexpired EBS
    Snapshot Lock. `unrecorded_primaries` (DR region): primaries whose completed copy they do not record yet.
    """
    snapshots = list(snapshots)
    duplicates = duplicate_ids(snapshots)
    protected = _Protected(
        newest=newest_completed_per_volume(snapshots, policy.min_kept, duplicates),
        points=protected_by_newest_point(snapshots),
        duplicates=duplicates,
        copied=set(copied_primaries or ()) | {s.snapshot_id for s in snapshots if s.dr_copied},
        locked=locked,
        unrecorded=unrecorded_primaries,
    )
    return [Decision(snap, *_verdict(snap, policy, now, protected)) for snap in snapshots]


def _verdict(
    snap: Snapshot, policy: RetentionPolicy, now: datetime, protected: _Protected
) -> tuple[bool, str]:
    if not snap.managed:
        return False, KEEP_UNMANAGED
    if policy.account_id and snap.owner_id and snap.owner_id != policy.account_id:
        return False, KEEP_FOREIGN
    if snap.held:
        return False, KEEP_HELD
    if snap.snapshot_id in protected.locked:
        return False, KEEP_LOCKED
    if not policy.is_primary and snap.state == ERROR and snap.source_snapshot:
        return True, DELETE_FAILED_COPY
    days = retention_days(snap, policy.default_days)
    if days is None:
        return False, KEEP_BAD_RETENTION
    if not is_expired(snap, days, now):
        return False, KEEP_YOUNG
    if snap.state not in (COMPLETED, ERROR):
        return False, KEEP_NOT_FINISHED
    if snap.snapshot_id in protected.points:
        return False, KEEP_RECOVERY_POINT
    if snap.snapshot_id in protected.newest:
        return False, KEEP_NEWEST
    duplicate = snap.snapshot_id in protected.duplicates
    if (
        policy.is_primary
        and snap.state == COMPLETED
        and not duplicate
        and snap.snapshot_id not in protected.copied
    ):
        return False, KEEP_NO_DR_COPY
    if not policy.is_primary and snap.state == COMPLETED and snap.source_snapshot in protected.unrecorded:
        return False, KEEP_COPY_UNRECORDED
    return True, DELETE_EXPIRED


def expired_snapshots(decisions: Iterable[Decision]) -> list[Snapshot]:
    """The snapshots to delete, oldest first."""
    return sorted((d.snapshot for d in decisions if d.delete), key=lambda s: (s.start_time, s.snapshot_id))
