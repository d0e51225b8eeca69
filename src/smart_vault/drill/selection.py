"""Which instances a drill run restores (pure: no AWS, no clock of its own).

Scheduled runs drill the instances drilled longest ago (never drilled first), at most `max_instances`; a
manual run drills the instances it names. Each drill uses the instance's newest complete recovery point in
this region. A recorded platform other than `Linux/UNIX` has no AMI to register from a snapshot without
losing its licence, so such an instance is skipped with that reason, not failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from smart_vault.tags import LINUX_PLATFORM


@dataclass(frozen=True)
class PointSummary:
    """A recovery point as the selection sees it (one backup set of one instance; what rebuilding it needs is
    the restore engine's `RecoveryPoint`, read when the drill starts)."""

    instance_id: str
    backup_set_id: str
    created_at: datetime
    complete: bool
    platform: str | None = None
    name: str | None = None
    suspect: bool = False  # (v3) an anomalous change rate: a drill never picks it
    skipped_suspect: tuple[str, ...] = ()  # (v3) newer suspect recovery points passed over for this one


@dataclass(frozen=True)
class Plan:
    planned: tuple[PointSummary, ...]
    skipped: tuple[tuple[str, str], ...]  # (instance_id, reason)


def newest_complete(points: Iterable[PointSummary]) -> dict[str, PointSummary]:
    """The newest complete recovery point of every instance that is not suspect (v3: a drill restores the
    last clean one), carrying the ids of the newer suspect ones it passed over."""
    newest: dict[str, PointSummary] = {}
    suspects: dict[str, list[PointSummary]] = {}
    for point in points:
        if not point.complete:
            continue
        if point.suspect:
            suspects.setdefault(point.instance_id, []).append(point)
            continue
        current = newest.get(point.instance_id)
        if current is None or point.created_at > current.created_at:
            newest[point.instance_id] = point
    for instance_id, point in newest.items():
        skipped = sorted(
            p.backup_set_id for p in suspects.get(instance_id, []) if p.created_at > point.created_at
        )
        if skipped:
            newest[instance_id] = replace(point, skipped_suspect=tuple(skipped))
    return newest


def select_drills(
    points: Iterable[PointSummary],
    last_drilled: Mapping[str, datetime],
    max_instances: int,
    instance_ids: Sequence[str] | None = None,
) -> Plan:
    """The plan: recovery points to drill and instances skipped, with their reasons.

    `last_drilled` maps instance id to the start of its latest drill. With `instance_ids` (a manual run)
    exactly those instances are considered, in the given order, and `max_instances` still caps the run.
    """
    newest = newest_complete(points)
    skipped: list[tuple[str, str]] = []
    if instance_ids is not None:
        candidates: list[PointSummary] = []
        for instance_id in dict.fromkeys(instance_ids):
            point = newest.get(instance_id)
            if point is None:
                skipped.append((instance_id, "no complete recovery point in this region"))
            else:
                candidates.append(point)
    else:
        # Never drilled first (datetime.min), then oldest drill first; ties by instance id, for stable plans.
        candidates = sorted(
            newest.values(),
            key=lambda p: (
                last_drilled.get(p.instance_id, datetime.min.replace(tzinfo=p.created_at.tzinfo)),
                p.instance_id,
            ),
        )
    planned: list[PointSummary] = []
    for point in candidates:
        if point.platform != LINUX_PLATFORM:  # as a restore without ami_id: an unrecorded one is no Linux
            recorded = f"platform {point.platform}" if point.platform else "a platform that was not recorded"
            skipped.append(
                (point.instance_id, f"{recorded} cannot be launched from its snapshots in a drill")
            )
        elif len(planned) < max_instances:
            planned.append(point)
        elif instance_ids is not None:
            skipped.append((point.instance_id, f"more than DRILL_MAX_INSTANCES ({max_instances}) requested"))
    return Plan(planned=tuple(planned), skipped=tuple(skipped))


def count_overdue(
    points: Iterable[PointSummary], last_drilled: Mapping[str, datetime], now: datetime, rotation_days: int
) -> int:
    """Instances with a complete recovery point not drilled within `rotation_days` of `now`.

    Pass `last_drilled` updated with this run's drills: the count is taken after the run.
    """
    cutoff = now - timedelta(days=rotation_days)
    return sum(
        1
        for instance_id in newest_complete(points)
        if instance_id not in last_drilled or last_drilled[instance_id] < cutoff
    )
