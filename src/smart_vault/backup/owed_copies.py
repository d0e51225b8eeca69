"""The DR copies that are owed, started into the free slots of the DR region: after a snapshot completion
event (`copy_completed_snapshots`), after a copy event (`copy_finished`, from the ledger's owed queue:
`start_queued_copies`), in the periodic reconciliation (`reconcile_owed_copies`) and as the copy step of a full
run (`start_owed_copies`). Nothing here publishes or emits: the handler does that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from smart_vault.backup import copy_failures
from smart_vault.backup.anomalies import ChangeMeter, meter_for
from smart_vault.backup.copied_once import mark_completed_copies
from smart_vault.backup.dr_copies import (
    COPY_LIMIT_CODES,
    CopyOutcome,
    count_pending_copies,
    describe_copies_of,
    owed_copy,
    reconcile_copies,
    start_copy,
)
from smart_vault.backup.invocation import (
    NO_DEADLINE,
    Clients,
    Deadline,
    RunResult,
    claim_owner,
    oldest_owed_age,
    protection_figures,
    recovery_point_age,
)
from smart_vault.backup.ledger import CopyLedger, OwedCopy
from smart_vault.backup.protection import Protection, protect_copies
from smart_vault.backup.report import build_report
from smart_vault.backup.snapshots import describe_managed_snapshots, describe_snapshots_by_id
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger, trace
from smart_vault.snapshot_model import Snapshot

# Owed-queue entries a copy event reads beyond its free slots (entries another invocation holds are skipped).
QUEUE_READ_MARGIN = 10


@trace
def copy_completed_snapshots(
    run_id: str,
    snapshot_ids: Sequence[str],
    settings: BackupSettings,
    clients: Clients,
    now: datetime | None = None,
) -> RunResult:
    """Start the DR copies of the managed snapshots among `snapshot_ids` (from a completion event).

    With `now`, the result carries the age of the oldest of these snapshots still owed (a lower bound of
    OldestOwedCopySeconds: the event looks at its own snapshots only, so that it costs the same in any fleet).
    """
    try:
        primaries = (
            describe_snapshots_by_id(clients.ec2, settings.region, snapshot_ids) if snapshot_ids else []
        )
        if not primaries:
            logger.info(
                "no managed snapshot in the completion event", extra={"snapshot_ids": list(snapshot_ids)}
            )
            return RunResult(report=build_report(run_id, settings.dry_run))
        # Only the copies of these snapshots and the pending ones: an event costs the same in any fleet size.
        dr_snapshots = describe_copies_of(
            clients.dr_ec2, settings.dr_region, [p.snapshot_id for p in primaries]
        )
        at = now or datetime.now(UTC)  # one time for the claims, the queue and the measurements
        meter = meter_for(clients, settings, at)
        copies = reconcile_copies(
            clients.dr_ec2,
            primaries,
            dr_snapshots,
            settings,
            dry_run=settings.dry_run,
            ledger=clients.ledger,
            owner=claim_owner(run_id),
            now=at.timestamp(),
            measure=meter.measure if meter else None,
        )
        if clients.ledger is not None and not settings.dry_run:
            for primary in copies.owed:  # no free slot: the next copy event starts them from the queue
                clients.ledger.owe(measured_owed_copy(primary, settings, meter), at.timestamp())
    except AwsError as exc:
        failure = {"resource": "copy of " + ", ".join(snapshot_ids), "error": exc.readable()}
        return RunResult(report=build_report(run_id, settings.dry_run, failures=[failure]))
    report = build_report(
        run_id,
        settings.dry_run,
        copies_started=copies.started,
        copies_deferred=copies.deferred,
        failures=copies.failures,
    )
    owed_age = oldest_owed_age(primaries, dr_snapshots, copies.started, now) if now else None
    return RunResult(report=report, oldest_owed_copy_age=owed_age, changes=meter.outcome if meter else None)


def measured_owed_copy(primary: Snapshot, settings: BackupSettings, meter: ChangeMeter | None) -> OwedCopy:
    """(v3) The owed-queue entry of a completed primary that found no free copy slot, measured and judged
    now: a set waiting for a slot is judged when it completes, not hours later when its copy starts (a drill
    or restore in between would otherwise see a suspect set as clean). The queue keeps the figure in the
    copy's tags; measuring again when the copy starts reads the ledger's figure (never twice)."""
    owed = owed_copy(primary, settings)
    if meter is None:
        return owed
    return replace(owed, tags=meter.measure(owed.snapshot_id, owed.start_time, owed.tags))


@trace
def reconcile_owed_copies(
    run_id: str,
    settings: BackupSettings,
    clients: Clients,
    now: datetime,
    failures: Sequence[dict[str, str]] = (),
    deadline: Deadline = NO_DEADLINE,
) -> RunResult:
    """(v2) Start owed copies, oldest first, into every free slot of the DR region; nothing else.

    Used by the periodic reconciliation and after every copy-completion event (a finished copy frees a slot).
    """
    failures = list(failures)
    copies = CopyOutcome()
    primaries: list[Snapshot] = []
    dr_snapshots: list[Snapshot] = []
    meter = meter_for(clients, settings, now)
    guard = Protection()
    try:
        primaries, dr_snapshots, copies = start_owed_copies(
            clients, settings, run_id, settings.dry_run, deadline, now, meter
        )
        guard = protect_copies(
            clients,
            settings,
            primaries,
            dr_snapshots,
            now,
            dry_run=settings.dry_run,
            full_run=False,
            should_stop=deadline.tail_must_stop,
        )
        failures += guard.failures
    except AwsError as exc:
        failures.append({"resource": "copy reconciliation", "error": exc.readable()})
    report = build_report(
        run_id,
        settings.dry_run,
        copies_started=copies.started,
        copies_deferred=copies.deferred,
        failures=copies.failures + failures,
    )
    instance_ids = sorted({p.source_instance for p in primaries if p.managed and p.source_instance})
    return RunResult(
        report=report,
        dr_recovery_point_age=recovery_point_age(instance_ids, dr_snapshots, now) if dr_snapshots else None,
        oldest_owed_copy_age=oldest_owed_age(primaries, dr_snapshots, copies.started, now),
        changes=meter.outcome if meter else None,
        extra=protection_figures(guard),
    )


@trace
def start_queued_copies(
    run_id: str,
    settings: BackupSettings,
    clients: Clients,
    now: datetime,
    failures: Sequence[dict[str, str]] = (),
) -> RunResult:
    """(v2) Fill the free DR slots from the ledger's owed queue, oldest first.

    Reads the pending snapshots of the DR region (one short describe), the queue's oldest entries (as many
    as there are free slots, plus a margin for entries claimed elsewhere), the queue's size (a COUNT
    Query) and (v3) the failure records (one Query, when the queue has entries); describes nothing else.
    Each copy is claimed first (`queued=True`: never over a live copy), started, then taken off the queue.
    A primary gone since it was queued leaves the queue.
    """
    ledger = clients.ledger
    if ledger is None:  # no ledger, no queue: describe both regions instead
        return reconcile_owed_copies(run_id, settings, clients, now, failures)
    failures = list(failures)
    outcome = CopyOutcome()
    owner = claim_owner(run_id)
    remaining: list[OwedCopy] = []
    meter = meter_for(clients, settings, now)
    try:
        slots = _free_slots(clients, settings)
        queue = list(ledger.owed(limit=slots + QUEUE_READ_MARGIN)) if slots else []
        # (v3) An entry may predate its primary's third failure (queued by a late or redelivered failure
        # event, or by a reconciliation that read the records before): a primary with a failure record
        # starts only after `claim_retry` (one Query of the few records, then one write per such primary).
        records = copy_failures.failure_records(ledger.dynamodb, ledger.table) if queue else {}
        for index, owed in enumerate(queue):
            if slots <= 0:
                remaining += queue[index:]
                break
            retry = owed.snapshot_id in records
            verdict = _start_queued(
                owed, meter, owner, retry, settings, clients, ledger, now, outcome, failures
            )
            if verdict == _STARTED:
                slots -= 1
            elif verdict == _KEEP:
                remaining.append(owed)
            elif verdict == _SLOTS_FULL:
                remaining += queue[index:]
                break
        backlog = ledger.owed_count()
        if not queue and backlog:  # no free slot: the oldest entry, for OldestOwedCopySeconds
            remaining = list(ledger.owed(limit=1))
    except AwsError as exc:
        failures.append({"resource": "owed copies", "error": exc.readable()})
        report = build_report(run_id, settings.dry_run, copies_started=outcome.started, failures=failures)
        return RunResult(report=report)
    report = build_report(
        run_id, settings.dry_run, copies_started=outcome.started, copies_deferred=backlog, failures=failures
    )
    return RunResult(
        report=report,
        oldest_owed_copy_age=_oldest_age(remaining, now),
        changes=meter.outcome if meter else None,
    )


def _oldest_age(remaining: Sequence[OwedCopy], now: datetime) -> float:
    """Seconds since the oldest entry still owed started (0 when none is)."""
    oldest = min((o.start_time for o in remaining), default=None)
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


def _free_slots(clients: Clients, settings: BackupSettings) -> int:
    """Copies the DR region may start now (one describe of its pending snapshots)."""
    return max(settings.max_concurrent_copies - count_pending_copies(clients.dr_ec2, settings.dr_region), 0)


# What became of one entry of the owed queue.
_STARTED, _KEEP, _LEAVE, _SLOTS_FULL = "started", "keep", "leave", "slots full"


def _start_queued(
    owed: OwedCopy,
    meter: ChangeMeter | None,
    owner: str,
    retry: bool,
    settings: BackupSettings,
    clients: Clients,
    ledger: CopyLedger,
    now: datetime,
    outcome: CopyOutcome,
    failures: list[dict[str, str]],
) -> str:
    """Claim and start the copy of one queued entry. _STARTED (named in `outcome`), _KEEP (it stays in the
    queue), _LEAVE (off the queue, nothing started) or _SLOTS_FULL (this entry and the rest stay)."""
    tags = meter.measure(owed.snapshot_id, owed.start_time, owed.tags) if meter else owed.tags
    if not ledger.claim(owed.snapshot_id, now.timestamp(), owner, queued=True):
        return _KEEP  # claimed elsewhere (or started and not yet off the queue)
    if retry and not copy_failures.claim_retry(
        ledger.dynamodb, ledger.table, owed.snapshot_id, now.timestamp()
    ):
        # Backed off (or this retry is another invocation's): off the queue; the reconciliation
        # queues it again when it may be tried.
        ledger.release(owed.snapshot_id, owner)
        ledger.paid(owed.sort_key)
        return _LEAVE
    try:
        copy_id = start_copy(clients.dr_ec2, owed.source_region, owed.snapshot_id, tags, settings, now)
    except AwsError as exc:
        return _copy_refused(owed, exc, owner, retry, ledger, now, failures)
    ledger.owed_copy_started(owed, copy_id, settings.dr_region, outcome.started)
    return _STARTED


def _copy_refused(
    owed: OwedCopy,
    exc: AwsError,
    owner: str,
    retry: bool,
    ledger: CopyLedger,
    now: datetime,
    failures: list[dict[str, str]],
) -> str:
    """EC2 refused the copy of a queued entry: the region's copy limit (the entry and the rest stay), a
    primary deleted since it was queued (off the queue), or a failure counted against the primary."""
    if exc.code in COPY_LIMIT_CODES or exc.is_throttling:
        ledger.release(owed.snapshot_id, owner)
        if retry:
            copy_failures.release_retry(ledger.dynamodb, ledger.table, owed.snapshot_id, now.timestamp())
        return _SLOTS_FULL
    if exc.code == "InvalidSnapshot.NotFound":
        # Deleted since it was queued: nothing left to copy (the reconciliation agrees).
        ledger.release(owed.snapshot_id, owner)
        ledger.paid(owed.sort_key)
        logger.info("owed copy's primary is gone", extra={"snapshot_id": owed.snapshot_id})
        return _LEAVE
    ledger.failed(owed.snapshot_id)
    failures.append({"resource": owed.snapshot_id, "error": exc.readable()})
    record = copy_failures.record_failure(
        ledger.dynamodb, ledger.table, owed.snapshot_id, f"refused@{int(now.timestamp())}", now.timestamp()
    )
    if copy_failures.may_retry(record, now.timestamp()):
        return _KEEP
    ledger.paid(
        owed.sort_key
    )  # backed off: off the queue; the reconciliation queues it again when it may be tried
    return _LEAVE


def start_owed_copies(
    clients: Clients,
    settings: BackupSettings,
    run_id: str,
    dry_run: bool,
    deadline: Deadline,
    now: datetime,
    meter: ChangeMeter | None = None,
) -> tuple[list[Snapshot], list[Snapshot], CopyOutcome]:
    """Describe the managed snapshots of both regions and start owed copies into the free DR slots.

    The one copy step of a full run and of a reconciliation; returns (primaries, DR snapshots, outcome) and
    lets AwsError through for the caller to report."""
    primaries = describe_managed_snapshots(clients.ec2, settings.region)
    dr_snapshots = describe_managed_snapshots(clients.dr_ec2, settings.dr_region)
    if not dry_run:  # (v3) completed copies recorded on their primaries, before anything is pruned
        primaries = mark_completed_copies(clients.ec2, primaries, dr_snapshots)
    copies = reconcile_copies(
        clients.dr_ec2,
        primaries,
        dr_snapshots,
        settings,
        dry_run=dry_run,
        should_stop=deadline.tail_must_stop,
        recount=lambda: count_pending_copies(clients.dr_ec2, settings.dr_region),
        ledger=clients.ledger,
        owner=claim_owner(run_id),
        now=now.timestamp(),
        # (v3) Measured within the deadline: a throttled measurement cannot eat the invocation's reserve.
        measure=partial(meter.measure, should_stop=deadline.tail_must_stop) if meter else None,
    )
    if clients.ledger is not None and not dry_run:
        # Re-derived from EC2: the owed queue becomes exactly what is owed now.
        clients.ledger.sync_owed([owed_copy(p, settings) for p in copies.owed], now.timestamp())
    return primaries, dr_snapshots, copies
