"""Pruning both regions: the retention rules decide, this module deletes (or, in a dry run, only lists)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smart_vault import aws
from smart_vault.backup import locks
from smart_vault.backup.retention import (
    Decision,
    RetentionPolicy,
    completed_copies,
    expired_snapshots,
    plan_pruning,
    unrecorded_copies,
)
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.snapshot_model import Snapshot

IN_USE = "InvalidSnapshot.InUse"
NOT_FOUND = "InvalidSnapshot.NotFound"
# (v3) DeleteSnapshot's refusal of a snapshot under an unexpired EBS Snapshot Lock. GUESS: the EC2 API
# Reference ("Error codes for the Amazon EC2 API", DeleteSnapshot, LockSnapshot) names no code for it;
# smart_vault.local.snapshot_lock models it as `SnapshotLocked`. Locked snapshots are left out of the plan
# already; one locked since the listing is kept too: with this code, or with any other refusal when
# `DescribeLockedSnapshots` of that one snapshot shows an unexpired lock (so the handling does not hang on
# the guess: one more call, only on a refusal).
LOCKED = "SnapshotLocked"
# Refusals that are not a lock: answered without asking whether the snapshot is locked.
_NOT_A_LOCK = frozenset({NOT_FOUND, IN_USE, "UnauthorizedOperation", "AuthFailure"})


@dataclass
class PruneOutcome:
    deleted: list[dict[str, str]] = field(default_factory=list)
    skipped_in_use: list[str] = field(default_factory=list)
    skipped_locked: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    left_for_next_run: int = 0


def plan_both_regions(
    primaries: Sequence[Snapshot],
    dr_snapshots: Sequence[Snapshot],
    settings: BackupSettings,
    now: datetime,
    account_id: str | None = None,
    locked: Mapping[str, Set[str]] | None = None,
) -> list[Decision]:
    """Decisions for every managed snapshot of both regions (primaries wait for their completed copy; copies
    wait until their primary records that it was copied). `locked`: region -> ids under an unexpired lock."""
    locked = locked or {}
    primary_policy = RetentionPolicy(settings.retention_days, settings.min_snapshots_kept, True, account_id)
    dr_policy = RetentionPolicy(settings.dr_retention_days, settings.min_snapshots_kept, False, account_id)
    return plan_pruning(
        primaries,
        primary_policy,
        now,
        completed_copies(dr_snapshots),
        locked=locked.get(settings.region, frozenset()),
    ) + plan_pruning(
        dr_snapshots,
        dr_policy,
        now,
        locked=locked.get(settings.dr_region, frozenset()),
        unrecorded_primaries=unrecorded_copies(primaries, dr_snapshots),
    )


def delete_snapshots(
    clients_by_region: dict[str, Any],
    decisions: Sequence[Decision],
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> PruneOutcome:
    """Delete every snapshot the decisions allow, oldest first.

    `InvalidSnapshot.InUse` (an AMI uses it) is skipped and retried by later runs; `InvalidSnapshot.NotFound`
    means someone deleted it already, which is what we wanted. Any other error is a failure of that
    snapshot only. When `should_stop` says time is short, the rest waits for the next run.
    """
    outcome = PruneOutcome()
    expired = expired_snapshots(decisions)
    for index, snap in enumerate(expired):
        if not dry_run and should_stop is not None and should_stop():
            outcome.left_for_next_run = len(expired) - index
            logger.info(
                "time is short: deletions left for the next run", extra={"count": outcome.left_for_next_run}
            )
            break
        entry = {"snapshot_id": snap.snapshot_id, "region": snap.region}
        if dry_run:
            outcome.deleted.append(entry)
            continue
        try:
            with aws.aws_errors("DeleteSnapshot"):
                clients_by_region[snap.region].delete_snapshot(SnapshotId=snap.snapshot_id)
        except AwsError as exc:
            if exc.code == NOT_FOUND:
                outcome.deleted.append(entry)
            elif exc.code == IN_USE:
                logger.info("snapshot in use by an AMI; kept", extra=entry)
                outcome.skipped_in_use.append(snap.snapshot_id)
            elif exc.code == LOCKED or _locked_now(clients_by_region[snap.region], snap.snapshot_id, exc):
                logger.info("snapshot locked since the lock listing; kept", extra=entry)
                outcome.skipped_locked.append(snap.snapshot_id)
            else:
                outcome.failures.append({"resource": snap.snapshot_id, "error": exc.readable()})
            continue
        outcome.deleted.append(entry)
    return outcome


def _locked_now(ec2: Any, snapshot_id: str, refusal: AwsError) -> bool:
    """Whether a refused `DeleteSnapshot` was refused for a lock: `DescribeLockedSnapshots` of that snapshot
    shows a lock that forbids deletion now. A refusal that cannot be a lock (throttling, authorization, an
    AMI, a missing snapshot) is not asked about; a failure of this question answers no."""
    if refusal.code in _NOT_A_LOCK or refusal.is_throttling:
        return False
    try:
        with aws.aws_errors("DescribeLockedSnapshots"):
            page = ec2.describe_locked_snapshots(SnapshotIds=[snapshot_id])
    except AwsError:
        return False
    # The state is EC2's at the time of the call: `expired` once the lock has passed.
    return any(
        item.get("SnapshotId") == snapshot_id and item.get("LockState") in locks.LOCKING_STATES
        for item in page.get("Snapshots", [])
    )
