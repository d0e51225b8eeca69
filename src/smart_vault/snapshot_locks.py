"""(v3) EBS Snapshot Lock on the vault's copies: lock at once, expire with retention, repair what is missing.

Used by the backup function (DR copies, and primaries with `LOCK_PRIMARY`) and by the vault function (vault
copies). A copy is locked as soon as `CopySnapshot` accepted it (EC2 locks a `pending` snapshot), with
`ExpirationDate` = its start time + its retention days, so that a lock never outlives retention and pruning
takes the snapshot once its lock has expired. A just-started copy's start time is the moment `CopySnapshot`
answered (the call returns no `StartTime`), so its lock may end a few seconds after its retention: pruning
then waits those seconds, nothing more.

A lost `LockSnapshot` (the call failed, the invocation died) is repaired by the next full run or
reconciliation: `locks_to_repair` compares the snapshots that should be locked with one
`DescribeLockedSnapshots` listing of the region (every page, 1000 a page), never one call per snapshot.

IAM: `ec2:LockSnapshot` on snapshots, with the condition keys the Service Authorization Reference lists for it
(`ec2:SnapshotLockDuration`, `ec2:SnapshotCoolOffPeriod`, and the snapshot's `aws:ResourceTag/...`);
`ec2:DescribeLockedSnapshots` supports no resource-level permission (`*`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.tags import RETENTION_DAYS_TAG

NONE, GOVERNANCE, COMPLIANCE = "none", "governance", "compliance"
LOCK_MODES = (NONE, GOVERNANCE, COMPLIANCE)
MAX_COOL_OFF_HOURS = 72
# States of a lock that forbid deletion (EC2 API Reference, LockedSnapshotsInfo.LockState).
LOCKING_STATES = ("governance", "compliance-cooloff", "compliance")
PAGE_SIZE = 1000  # DescribeLockedSnapshots: MaxResults 5..1000
# A lock that would end within this margin is not worth taking: the snapshot's retention is over.
MIN_LOCK_SECONDS = 60
MAX_LOCK_DAYS = 36500


@dataclass(frozen=True)
class LockPolicy:
    """How copies are locked: `mode` none|governance|compliance; `cool_off_hours` (compliance only) 0..72."""

    mode: str = NONE
    cool_off_hours: int = 0

    @property
    def enabled(self) -> bool:
        return self.mode != NONE


def policy_of(settings: Any) -> LockPolicy:
    """The lock policy of a function's settings (`lock_mode`, `lock_cool_off_hours`)."""
    return LockPolicy(getattr(settings, "lock_mode", NONE), getattr(settings, "lock_cool_off_hours", 0))


def lock_expiration(start_time: datetime, retention_days: int) -> datetime:
    """Pure: when a snapshot's lock ends: its start time plus its retention."""
    return start_time + timedelta(days=retention_days)


def lock_parameters(snapshot_id: str, expiration: datetime, policy: LockPolicy) -> dict[str, Any]:
    """Pure: the LockSnapshot request for `snapshot_id` under `policy`."""
    params: dict[str, Any] = {
        "SnapshotId": snapshot_id,
        "LockMode": policy.mode,
        "ExpirationDate": expiration.astimezone(UTC),
    }
    if policy.mode == COMPLIANCE and policy.cool_off_hours:
        params["CoolOffPeriod"] = policy.cool_off_hours
    return params


def lock_snapshot(ec2: Any, snapshot_id: str, expiration: datetime, policy: LockPolicy) -> None:
    """One LockSnapshot (AwsError on refusal)."""
    with aws.aws_errors("LockSnapshot"):
        ec2.lock_snapshot(**lock_parameters(snapshot_id, expiration, policy))


def lock_new_copy(
    ec2: Any, snapshot_id: str, started_at: datetime, retention_days: int, policy: LockPolicy
) -> str | None:
    """Lock a copy `CopySnapshot` has just accepted; None when locked (or locking is off), else the error.

    EC2 is eventually consistent: the copy CopySnapshot just answered may answer `InvalidSnapshot.NotFound`
    for some seconds, so that answer is retried (`aws.retry_not_found`, as CreateTags after CreateSnapshots).
    A refusal never fails the copy: the copy exists, and the next full run or reconciliation locks it.
    """
    if not policy.enabled:
        return None
    expiration = lock_expiration(started_at, retention_days)
    try:
        aws.retry_not_found(lambda: lock_snapshot(ec2, snapshot_id, expiration, policy), "LockSnapshot")
    except AwsError as exc:
        logger.warning(
            "lock of a new copy failed; the next reconciliation repairs it",
            extra={"snapshot_id": snapshot_id, "error": exc.readable()},
        )
        return exc.readable()
    return None


def list_locks(ec2: Any) -> list[Mapping[str, Any]]:
    """Every lock of this account in the client's region that forbids deletion (one listing, every page)."""
    items: list[Mapping[str, Any]] = []
    token: str | None = None
    while True:
        with aws.aws_errors("DescribeLockedSnapshots"):
            page = ec2.describe_locked_snapshots(
                Filters=[{"Name": "lock-state", "Values": list(LOCKING_STATES)}],
                MaxResults=PAGE_SIZE,
                **({"NextToken": token} if token else {}),
            )
        items += page.get("Snapshots", [])
        token = page.get("NextToken")
        if not token:
            return items


def holding_locks(items: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, Mapping[str, Any]]:
    """Pure: the listed locks that forbid deletion at `now`, by snapshot id."""
    held = {}
    for item in items:
        expires = item.get("LockExpiresOn")
        if item.get("LockState") in LOCKING_STATES and (expires is None or expires > now):
            held[item["SnapshotId"]] = item
    return held


def retention_of(tags: Mapping[str, str], default_days: int) -> int | None:
    """Pure: a snapshot's retention days from its `smart-vault:retention-days` tag (else the default)."""
    raw = tags.get(RETENTION_DAYS_TAG)
    if raw is None:
        return default_days
    try:
        days = int(str(raw).strip())
    except ValueError:
        return None
    return days if 1 <= days <= MAX_LOCK_DAYS else None


@dataclass(frozen=True)
class LockNeeded:
    snapshot_id: str
    expiration: datetime


def locks_to_repair(
    snapshots: Iterable[Any],
    lock_items: Iterable[Mapping[str, Any]],
    policy: LockPolicy,
    default_days: int,
    now: datetime,
) -> list[LockNeeded]:
    """Pure: the snapshots (`retention.Snapshot` values that should be locked) that no holding lock protects
    and whose retention has not run out yet, with the expiration their lock gets."""
    if not policy.enabled:
        return []
    held = holding_locks(lock_items, now)
    needed = []
    for snap in snapshots:
        if snap.snapshot_id in held or snap.state not in ("pending", "completed"):
            continue
        days = retention_of(snap.tags, default_days)
        if days is None:
            continue
        expiration = lock_expiration(snap.start_time, days)
        if expiration - now >= timedelta(seconds=MIN_LOCK_SECONDS):
            needed.append(LockNeeded(snap.snapshot_id, expiration))
    return sorted(needed, key=lambda n: n.snapshot_id)


def repair_locks(
    ec2: Any,
    snapshots: Sequence[Any],
    lock_items: Iterable[Mapping[str, Any]],
    policy: LockPolicy,
    default_days: int,
    now: datetime,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[str], list[dict[str, str]]]:
    """Lock what should be locked and is not; returns (the ids locked now, the failures).

    When `should_stop` (the invocation's deadline) says time is short, the rest waits: the next full run or
    reconciliation lists the locks again and finds the snapshots still unlocked (`locks_to_repair`). Turning
    LOCK_MODE on for an existing fleet is thousands of LockSnapshot calls, paced (`pacing.EC2_RATES`), over as
    many invocations as they need."""
    locked, failures = [], []
    todo = locks_to_repair(snapshots, lock_items, policy, default_days, now)
    for index, needed in enumerate(todo):
        if should_stop is not None and should_stop():
            logger.info("lock repair stops for the deadline", extra={"left": len(todo) - index})
            break
        try:
            lock_snapshot(ec2, needed.snapshot_id, needed.expiration, policy)
        except AwsError as exc:
            if exc.code == "InvalidSnapshot.NotFound":
                continue  # deleted since it was described
            failures.append({"resource": needed.snapshot_id, "error": f"lock: {exc.readable()}"})
            continue
        locked.append(needed.snapshot_id)
    if locked:
        logger.info("snapshot locks repaired", extra={"snapshot_ids": locked})
    return locked, failures
