"""Pure: the recovery points (backup sets) of one region, as retention and copying must see them (v3).

A recovery point is one backup set of one instance in one region. Its completeness counts each
`smart-vault:device` once: `CreateSnapshots` and `CopySnapshot` take no client token and botocore retries
timeouts and 5xx answers, so one set may hold two snapshots of one device. Exactly one of them is the
device's **canonical** snapshot (a completed one before any other, then the oldest); the others are
**duplicates**: they never make a set complete, are never copied to DR, and are pruned like any expired
snapshot, without the protections of the canonical one (which always stays while they are judged).

No AWS here: the caller hands in `retention.Snapshot` values of one region.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import BACKUP_SET_TAG, COMPLETED, DEVICE_TAG, ERROR, SET_SIZE_TAG


def set_key(snap: Snapshot) -> str:
    """The set a snapshot belongs to; a snapshot without a set tag is a set of its own."""
    return snap.tags.get(BACKUP_SET_TAG) or f"snapshot:{snap.snapshot_id}"


def device_key(snap: Snapshot) -> str:
    """The device a snapshot protects; without a device tag, its source volume stands for it."""
    return snap.tags.get(DEVICE_TAG) or f"volume:{snap.source_volume}"


def _canonical_rank(snap: Snapshot) -> tuple[bool, datetime, str]:
    return (snap.state != COMPLETED, snap.start_time, snap.snapshot_id)


def duplicate_ids(snapshots: Iterable[Snapshot]) -> set[str]:
    """Ids of the duplicates among managed snapshots of one region: every snapshot of a (set, device) but
    its canonical one. Snapshots in `error` are no copy of anything and take part in no group."""
    groups: dict[tuple[str, str], list[Snapshot]] = defaultdict(list)
    for snap in snapshots:
        if snap.managed and snap.state != ERROR:
            groups[(set_key(snap), device_key(snap))].append(snap)
    duplicates: set[str] = set()
    for group in groups.values():
        group.sort(key=_canonical_rank)
        duplicates.update(s.snapshot_id for s in group[1:])
    return duplicates


def set_size(members: Iterable[Snapshot]) -> int | None:
    """The number of volumes the set records (`smart-vault:set-size`), None when no member has it readable."""
    for snap in members:
        try:
            size = int(snap.tags.get(SET_SIZE_TAG, ""))
        except ValueError:
            continue
        if size > 0:
            return size
    return None


def is_complete(members: Iterable[Snapshot]) -> bool:
    """Whether one set's snapshots in one region make a complete recovery point: as many distinct devices
    with a completed snapshot as the set records. A set without a readable size (taken before v2) is
    complete when every device found has a completed snapshot."""
    members = [m for m in members if m.state != ERROR]
    if not members:
        return False
    done = {device_key(m) for m in members if m.state == COMPLETED}
    size = set_size(members)
    if size is not None:
        return len(done) >= size
    return done == {device_key(m) for m in members}


@dataclass(frozen=True)
class RecoveryPoint:
    set_id: str
    instance_id: str
    created_at: datetime
    members: tuple[Snapshot, ...]

    @property
    def complete(self) -> bool:
        return is_complete(self.members)


def recovery_points(snapshots: Iterable[Snapshot]) -> list[RecoveryPoint]:
    """The managed snapshots of one region grouped into recovery points (instance-less ones are left out)."""
    sets: dict[str, list[Snapshot]] = defaultdict(list)
    for snap in snapshots:
        if snap.managed and snap.source_instance:
            sets[set_key(snap)].append(snap)
    return [
        RecoveryPoint(key, members[0].source_instance, min(m.start_time for m in members), tuple(members))
        for key, members in sets.items()
    ]


def newest_complete_points(snapshots: Iterable[Snapshot]) -> dict[str, RecoveryPoint]:
    """Each instance's newest complete recovery point in this region (by set time, then set id)."""
    newest: dict[str, RecoveryPoint] = {}
    for point in recovery_points(snapshots):
        if not point.complete:
            continue
        current = newest.get(point.instance_id)
        if current is None or (point.created_at, point.set_id) > (current.created_at, current.set_id):
            newest[point.instance_id] = point
    return newest


def protected_by_newest_point(snapshots: Iterable[Snapshot]) -> set[str]:
    """Ids of the snapshots that make up each instance's newest complete recovery point: its canonical
    snapshot of every device (never a duplicate, never one in `error`)."""
    snapshots = list(snapshots)
    duplicates = duplicate_ids(snapshots)
    kept: set[str] = set()
    for point in newest_complete_points(snapshots).values():
        kept.update(
            m.snapshot_id for m in point.members if m.snapshot_id not in duplicates and m.state != ERROR
        )
    return kept
