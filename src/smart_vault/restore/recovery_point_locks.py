"""(v3) Snapshot Lock in `GET /recovery-points`: per volume `locked_until` and `lock_mode`, per recovery point
`immutable` (every volume locked until at least now + 24 h).

The locks of the listed snapshots come from `DescribeLockedSnapshots` with their ids (batches of 200), one
call for a typical instance; only the target region is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_vault import aws
from smart_vault.snapshot_locks import LOCKING_STATES

IMMUTABLE_FOR = timedelta(hours=24)
IDS_PER_CALL = 200


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lock_end(item: Mapping[str, Any]) -> datetime | None:
    """Pure: when a listed lock ends: `LockExpiresOn`, or for a duration lock on a pending snapshot, at least
    its creation plus its duration (its clock starts when the snapshot completes)."""
    expires = item.get("LockExpiresOn")
    if expires is not None:
        return expires
    created, days = item.get("LockCreatedOn"), item.get("LockDuration")
    return created + timedelta(days=int(days)) if created is not None and days else None


def lock_mode(state: str) -> str:
    """Pure: the mode of a lock state (`compliance-cooloff` is a compliance lock in its cooling-off period)."""
    return "compliance" if state.startswith("compliance") else state


def with_locks(
    points: Sequence[dict[str, Any]], lock_items: Iterable[Mapping[str, Any]], now: datetime
) -> None:
    """Pure: add the lock fields to recovery points (in place). A lock that no longer holds shows as none."""
    holding: dict[str, tuple[datetime | None, str]] = {}
    for item in lock_items:
        end = lock_end(item)
        if item.get("LockState") in LOCKING_STATES and (end is None or end > now):
            holding[item["SnapshotId"]] = (end, lock_mode(item["LockState"]))
    for point in points:
        immutable = bool(point["volumes"])
        for volume in point["volumes"]:
            end, mode = holding.get(volume["snapshot_id"], (None, None))
            volume["locked_until"] = _iso(end) if end is not None else None
            volume["lock_mode"] = mode
            immutable = immutable and end is not None and end >= now + IMMUTABLE_FOR
        point["immutable"] = immutable


def locks_of(ec2: Any, snapshot_ids: Iterable[str]) -> list[Mapping[str, Any]]:
    """The locks of `snapshot_ids` in the client's region (DescribeLockedSnapshots by id, every page)."""
    found: list[Mapping[str, Any]] = []
    for batch in aws.chunks(sorted(set(snapshot_ids)), IDS_PER_CALL):
        token: str | None = None
        while True:
            with aws.aws_errors("DescribeLockedSnapshots"):
                page = ec2.describe_locked_snapshots(
                    SnapshotIds=batch, **({"NextToken": token} if token else {})
                )
            found += page.get("Snapshots", [])
            token = page.get("NextToken")
            if not token:
                break
    return found
