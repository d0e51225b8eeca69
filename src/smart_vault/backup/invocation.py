"""What one invocation of the backup function carries: its clients, its deadline, the run request, the
continuation to the next invocation, and the result with the figures the metrics need (pure values, shared by
the full run and the copy paths).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smart_vault.backup.anomalies import ChangeOutcome
from smart_vault.backup.dr_copies import snapshots_needing_copy
from smart_vault.backup.events import ContinuedRun
from smart_vault.backup.ledger import CopyLedger
from smart_vault.backup.protection import Protection
from smart_vault.backup.report import Report
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import COMPLETED

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient


MAX_RESERVE_SECONDS = 120.0


class Deadline:
    """When to stop starting work, from the Lambda context's remaining time (asked at every check).

    Instances stop when less than `reserve` seconds are left: a quarter of the time the invocation started
    with, at most two minutes, enough for the copies, pruning and notification of a final invocation.
    Copies and deletions stop at a quarter of that. Without a context (the local stack, tests) there is no
    deadline.
    """

    def __init__(self, context: Any = None) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._remaining_ms = remaining if callable(remaining) else None
        left = self.seconds_left()
        self.reserve = min(MAX_RESERVE_SECONDS, left / 4) if left is not None else 0.0

    def seconds_left(self) -> float | None:
        return None if self._remaining_ms is None else self._remaining_ms() / 1000.0

    def instances_must_stop(self) -> bool:
        left = self.seconds_left()
        return left is not None and left < self.reserve

    def tail_must_stop(self) -> bool:
        left = self.seconds_left()
        return left is not None and left < self.reserve / 4


NO_DEADLINE = Deadline()


@dataclass(frozen=True)
class Clients:
    """EC2 clients of the primary and the DR region, and the copy ledger (None: copies are not claimed)."""

    ec2: EC2Client
    dr_ec2: EC2Client
    ledger: CopyLedger | None = None
    ebs: Any = None  # (v3) the EBS direct API client of the primary region; None: no change measurement
    events: Any = None  # (v3) EventBridge of the DR region (the vault's bus); None: built when needed
    ssm: SSMClient | None = (
        None  # (v3) Systems Manager, for the scripts of opted-in instances (None: built when needed)
    )


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    dry_run: bool
    instance_ids: tuple[str, ...] | None = None  # None: every tagged instance
    # Continuations only: instances up to this id were handled by earlier invocations of the run.
    after: str | None = None
    invocation: int = 0
    carried_failures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Continuation:
    """What the next invocation of a run needs: the event it is sent, and the instances not started yet (for
    logs and the report of a broken chain)."""

    next_run: ContinuedRun
    remaining: int


@dataclass
class RunResult:
    report: Report
    instances_protected: int = 0
    # Largest age (seconds) over the protected instances of their newest completed snapshot; None if none.
    recovery_point_age: float | None = None
    continuation: Continuation | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # (v2) The same in the DR region (from the DR copies), and the age of the oldest copy still owed
    # (0 when none is owed; None when the copies were not looked at).
    dr_recovery_point_age: float | None = None
    oldest_owed_copy_age: float | None = None
    # (v3) What the change meter measured and found in this invocation (None: no measurement).
    changes: ChangeOutcome | None = None


def claim_owner(run_id: str) -> str:
    """The ledger owner of one invocation: unique even when two invocations share a run id (a redelivered
    event), so that one never releases a claim the other holds."""
    return f"{run_id}/{uuid.uuid4().hex[:12]}"


def oldest_owed_age(
    primaries: Sequence[Snapshot],
    dr_snapshots: Sequence[Snapshot],
    started: Sequence[dict[str, str]],
    now: datetime,
) -> float:
    """Pure: seconds since the oldest completed managed primary without a DR copy (started ones excluded)."""
    done = {c["source_snapshot_id"] for c in started}
    owed = [p for p in snapshots_needing_copy(primaries, dr_snapshots) if p.snapshot_id not in done]
    if not owed:
        return 0.0
    return max((now - min(p.start_time for p in owed)).total_seconds(), 0.0)


def recovery_point_age(
    instance_ids: Sequence[str], primaries: Sequence[Snapshot], now: datetime
) -> float | None:
    """Pure: the worst recovery point over `instance_ids`, from their newest completed managed snapshot."""
    wanted = set(instance_ids)
    newest: dict[str, datetime] = {}
    for snap in primaries:
        if snap.managed and snap.state == COMPLETED and snap.source_instance in wanted:
            current = newest.get(snap.source_instance)
            if current is None or snap.start_time > current:
                newest[snap.source_instance] = snap.start_time
    if not newest:
        return None
    return max(max((now - t).total_seconds(), 0.0) for t in newest.values())


def protection_figures(guard: Protection) -> dict[str, Any]:
    """(v3) What a run did for locks and the vault account (logged with the report, not part of it)."""
    return {
        "locks_repaired": guard.locks_repaired,
        "vault_shared": guard.shared,
        "vault_announced": len(guard.announced),
    }
