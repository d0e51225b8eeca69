"""The backup run and the completion-event copy, as service functions (clients, settings and `now` come in).

A full run: select instances, take one snapshot set each (instances an earlier delivery of the same run
covered are `skipped`), reconcile DR copies, prune both regions, and return the report plus the figures the
metrics need. Nothing here publishes or emits: the handler does that.

Large fleets: when the Lambda's remaining time runs short, the run stops starting instances and returns a
`Continuation` (the id of the last instance it started, under the same run id); the handler hands it to a
fresh invocation of the function. Instances are processed in id order, so the cursor splits the fleet
without gaps or overlaps; the run-id tags on the snapshots are the second line of defence. Copies and
pruning run once, in the invocation that reaches the end of the fleet.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smart_vault.backup import copy_failures
from smart_vault.backup.anomalies import ChangeMeter, ChangeOutcome, meter_for
from smart_vault.backup.app_consistent import Clock
from smart_vault.backup.app_consistent_lane import AppConsistentLane, LaneOutcome, app_consistent_figures
from smart_vault.backup.copied_once import mark_completed_copies, mark_copied
from smart_vault.backup.ledger import CopyLedger, OwedCopy
from smart_vault.backup.protection import Protection, protect_copies, share_finished_copy
from smart_vault.backup.prune import PruneOutcome, delete_snapshots, plan_both_regions
from smart_vault.backup.report import (
    INSTANCE_FAILED,
    OK,
    PLANNED,
    SKIPPED,
    InstanceResult,
    Report,
    build_report,
    instance_result,
)
from smart_vault.backup.snapshots import (
    COPY_LIMIT_CODES,
    CopyOutcome,
    Instance,
    backup_set_id,
    count_pending_copies,
    create_snapshot_set,
    describe_copies_of,
    describe_managed_snapshots,
    describe_snapshots_by_id,
    owed_copy,
    reconcile_copies,
    run_snapshots,
    select_instances,
    snapshots_needing_copy,
    start_copy,
)
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger, trace
from smart_vault.runtime import Runtime
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import COMPLETED

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

# Instances in flight at once: EC2 answers in ~100 ms, so a few workers keep the paced buckets busy.
WORKERS = 8
MAX_RESERVE_SECONDS = 120.0
# Owed-queue entries a copy event reads beyond its free slots (entries another invocation holds are skipped).
QUEUE_READ_MARGIN = 10
# Failures carried from one invocation of a run to the next (the async payload limit is 256 KB).
MAX_CARRIED_FAILURES = 200


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
    """What the next invocation of a run needs (JSON-serialisable through `as_payload`)."""

    run_id: str
    dry_run: bool
    instance_ids: tuple[str, ...] | None
    after: str
    invocation: int
    failures: tuple[tuple[str, str], ...]
    remaining: int  # instances not started yet (for logs and the report of a broken chain)

    def as_payload(self) -> dict[str, Any]:
        return {
            "continuation": {
                "run_id": self.run_id,
                "dry_run": self.dry_run,
                "instance_ids": list(self.instance_ids) if self.instance_ids is not None else None,
                "after": self.after,
                "invocation": self.invocation,
                "failures": [list(f) for f in self.failures],
            }
        }


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


def _back_up_one(
    request: RunRequest,
    instance: Instance,
    clients: Clients,
    settings: BackupSettings,
    lane: AppConsistentLane | None = None,
) -> tuple[InstanceResult, list[str]]:
    set_id = backup_set_id(request.run_id, instance.instance_id)
    if request.dry_run:
        return instance_result(instance.instance_id, set_id, [], PLANNED), []
    if lane is not None:
        lane.yield_to_frozen()  # frozen instances of the lane take their sets first
    try:
        outcome = create_snapshot_set(clients.ec2, instance, request.run_id, settings)
    except Exception as exc:  # noqa: BLE001 - an unforeseen error fails this instance only, never the run
        logger.exception("instance backup failed unexpectedly", extra={"instance_id": instance.instance_id})
        error = f"unexpected error: {type(exc).__name__}: {exc}"
        return instance_result(instance.instance_id, set_id, [], INSTANCE_FAILED, error), []
    if outcome.error:
        logger.warning(
            "instance backup failed", extra={"instance_id": instance.instance_id, "error": outcome.error}
        )
    status = INSTANCE_FAILED if outcome.error else OK
    return instance_result(instance.instance_id, set_id, outcome.snapshot_ids, status, outcome.error), list(
        outcome.snapshot_ids
    )


def _back_up_instances(
    request: RunRequest,
    instances: Sequence[Instance],
    covered: dict[str, list[Snapshot]],
    clients: Clients,
    settings: BackupSettings,
    deadline: Deadline,
    runtime: Runtime,
) -> tuple[list[InstanceResult], list[str], int, LaneOutcome]:
    """Back up `instances` in id order until the deadline; returns the results, the created snapshot ids,
    how many instances were handled and (v3) the outcome of the application-consistent lane.

    At most WORKERS instances are in flight, so the deadline is checked as the work progresses. Every
    started instance finishes, so what was handled is always a prefix of `instances` (the continuation
    cursor is the id of its last one), and each invocation handles at least one instance, so a run always
    moves forward. Instances with scripts go to the application-consistent lane (batches of scripts that
    plain instances never wait for); the run stops early when the lane's batches would not fit in time.
    """
    results: list[InstanceResult] = []
    created: list[str] = []
    slots = threading.BoundedSemaphore(WORKERS)
    handled = 0
    lane = None
    if not request.dry_run:
        clock = Clock(runtime.monotonic, runtime.sleep)
        lane = AppConsistentLane(clients.ssm, clients.ec2, request.run_id, settings, clock, runtime.executor)
    with runtime.executor(WORKERS, "backup") as pool:
        futures = []
        for instance in instances:
            if handled and deadline.instances_must_stop():
                break
            scripted = lane is not None and instance.scripts_document and instance.instance_id not in covered
            if (
                scripted
                and lane is not None
                and handled
                and not lane.fits(instance, deadline.seconds_left(), deadline.reserve)
            ):
                break
            handled += 1
            if instance.instance_id in covered:
                ids = sorted(s.snapshot_id for s in covered[instance.instance_id])
                set_id = backup_set_id(request.run_id, instance.instance_id)
                results.append(instance_result(instance.instance_id, set_id, ids, SKIPPED))
                continue
            if scripted and lane is not None:
                lane.add(instance)
                continue
            slots.acquire()
            future = pool.submit(_back_up_one, request, instance, clients, settings, lane)
            future.add_done_callback(lambda _: slots.release())
            futures.append(future)
        if lane is not None:
            lane.start_grouped()  # the scripts run while the plain instances finish
        for future in futures:
            result, ids = future.result()
            results.append(result)
            created += ids
    outcome = lane.finish() if lane is not None else LaneOutcome()
    results += outcome.results
    created += outcome.created
    results.sort(key=lambda r: r["instance_id"])
    return results, created, handled, outcome


def _earlier_invocations(
    request: RunRequest, covered: dict[str, list[Snapshot]]
) -> tuple[list[InstanceResult], list[str]]:
    """Instances earlier invocations of this run handled (they are `ok` in the run's report, not skipped)."""
    if request.after is None:
        return [], []
    results, created = [], []
    for instance_id in sorted(k for k in covered if k <= request.after):
        ids = sorted(s.snapshot_id for s in covered[instance_id])
        results.append(instance_result(instance_id, backup_set_id(request.run_id, instance_id), ids, OK))
        created += ids
    for resource, error in request.carried_failures:
        if resource.startswith("i-") and resource not in covered:
            results.append(
                instance_result(resource, backup_set_id(request.run_id, resource), [], INSTANCE_FAILED, error)
            )
    return results, created


@trace
def run_backup(
    request: RunRequest,
    settings: BackupSettings,
    clients: Clients,
    now: datetime,
    account_id: str | None = None,
    deadline: Deadline = NO_DEADLINE,
    runtime: Runtime | None = None,
) -> RunResult:
    """A full (scheduled or manual) run, or one continuation of it. Parallelism and time come from `runtime`
    (default: the production one, threads and the real clock).

    Per-instance and per-snapshot failures are recorded, not raised; an AWS error that stops a whole phase
    (a describe that keeps failing) is recorded as that phase's failure.
    """
    try:
        selected = select_instances(clients.ec2, settings, request.instance_ids)
        covered: dict[str, list[Snapshot]] = {}
        for snap in run_snapshots(clients.ec2, settings.region, request.run_id):
            covered.setdefault(snap.source_instance, []).append(snap)
        pending = [i for i in selected if request.after is None or i.instance_id > request.after]
        results, created, started, lane = _back_up_instances(
            request, pending, covered, clients, settings, deadline, runtime or Runtime.default()
        )
    except AwsError as exc:
        failure = {"resource": "instance selection", "error": exc.readable()}
        return RunResult(report=build_report(request.run_id, request.dry_run, failures=[failure]))
    carried = [{"resource": r, "error": e} for r, e in request.carried_failures if not r.startswith("i-")]
    if started < len(pending):
        return _continue(request, results, created, pending, started, carried)
    earlier, earlier_created = _earlier_invocations(request, covered)
    results = earlier + results
    created = earlier_created + created
    if request.instance_ids is not None:
        found = {i.instance_id for i in selected}
        for missing in sorted(set(request.instance_ids) - found):
            results.append(
                instance_result(
                    missing, "", [], INSTANCE_FAILED, "instance not found, or not running or stopped"
                )
            )
    primaries: list[Snapshot]
    copies, pruned, failures, primaries = CopyOutcome(), PruneOutcome(), list(carried), []
    dr_snapshots: list[Snapshot] = []
    meter = None if request.dry_run else meter_for(clients, settings, now)
    guard = Protection()
    try:
        # Described after the sets were taken, so snapshots that completed already are copied in this run.
        primaries, dr_snapshots, copies = start_owed_copies(
            clients, settings, request.run_id, request.dry_run, deadline, now, meter
        )
        guard = protect_copies(
            clients, settings, primaries, dr_snapshots, now, dry_run=request.dry_run, full_run=True
        )
        failures += guard.failures
        decisions = plan_both_regions(primaries, dr_snapshots, settings, now, account_id, guard.locked)
        pruned = delete_snapshots(
            {settings.region: clients.ec2, settings.dr_region: clients.dr_ec2},
            decisions,
            dry_run=request.dry_run,
            should_stop=deadline.tail_must_stop,
        )
    except AwsError as exc:
        failures.append({"resource": "copy reconciliation and pruning", "error": exc.readable()})
    report = build_report(
        request.run_id,
        request.dry_run,
        instances=results,
        snapshots_created=created,
        copies_started=copies.started,
        copies_deferred=copies.deferred,
        deleted=pruned.deleted,
        failures=copies.failures + pruned.failures + failures,
    )
    protected = [r["instance_id"] for r in results if r["status"] in (OK, SKIPPED)]
    selected_ids = [i.instance_id for i in selected]
    return RunResult(
        report=report,
        extra={**app_consistent_figures(results, covered, lane, request.after), **protection_figures(guard)},
        instances_protected=len(protected),
        recovery_point_age=recovery_point_age(selected_ids, primaries, now),
        dr_recovery_point_age=recovery_point_age(selected_ids, dr_snapshots, now),
        oldest_owed_copy_age=oldest_owed_age(primaries, dr_snapshots, copies.started, now)
        if primaries
        else None,
        changes=meter.outcome if meter else None,
    )


def protection_figures(guard: Protection) -> dict[str, Any]:
    """(v3) What a run did for locks and the vault account (logged with the report, not part of it)."""
    return {
        "locks_repaired": guard.locks_repaired,
        "vault_shared": guard.shared,
        "vault_announced": len(guard.announced),
    }


def _continue(
    request: RunRequest,
    results: list[InstanceResult],
    created: list[str],
    pending: Sequence[Instance],
    started: int,
    carried: list[dict[str, str]],
) -> RunResult:
    """The partial report of this invocation and the cursor for the next one."""
    after = pending[started - 1].instance_id if started else (request.after or "")
    failures = list(request.carried_failures) + [
        (r["instance_id"], r["error"] or "failed") for r in results if r["status"] == INSTANCE_FAILED
    ]
    continuation = Continuation(
        run_id=request.run_id,
        dry_run=request.dry_run,
        instance_ids=request.instance_ids,
        after=after,
        invocation=request.invocation + 1,
        failures=tuple(failures[:MAX_CARRIED_FAILURES]),
        remaining=len(pending) - started,
    )
    report = build_report(
        request.run_id, request.dry_run, instances=results, snapshots_created=created, failures=carried
    )
    protected = sum(1 for r in results if r["status"] in (OK, SKIPPED))
    logger.info(
        "time is short: the run continues in a new invocation",
        extra={
            "after": after,
            "remaining_instances": continuation.remaining,
            "invocation": continuation.invocation,
        },
    )
    return RunResult(report=report, instances_protected=protected, continuation=continuation)


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
        meter = meter_for(clients, settings, now or datetime.now(UTC))
        copies = reconcile_copies(
            clients.dr_ec2,
            primaries,
            dr_snapshots,
            settings,
            dry_run=settings.dry_run,
            ledger=clients.ledger,
            owner=claim_owner(run_id),
            now=(now or datetime.now(UTC)).timestamp(),
            measure=meter.measure if meter else None,
        )
        if clients.ledger is not None and not settings.dry_run:
            nowish = (now or datetime.now(UTC)).timestamp()
            for primary in copies.owed:  # no free slot: the next copy event starts them from the queue
                clients.ledger.owe(measured_owed_copy(primary, settings, meter), nowish)
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
            clients, settings, primaries, dr_snapshots, now, dry_run=settings.dry_run, full_run=False
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
def copy_finished(
    run_id: str,
    copy_snapshot_id: str,
    succeeded: bool,
    cause: str,
    settings: BackupSettings,
    clients: Clients,
    now: datetime,
) -> RunResult | None:
    """(v2) A copy in the DR region finished. None when the snapshot is not a managed copy (ignored).

    A failed copy is owed again (its claim is marked failed, it goes back in the owed queue) and reported;
    either way the slot it held is free, so owed copies start. With a ledger they come from its owed queue
    (`start_queued_copies`: one Query and one short describe, whatever the fleet); without one, from
    describing both regions (`reconcile_owed_copies`).
    """
    try:
        found = describe_snapshots_by_id(clients.dr_ec2, settings.dr_region, [copy_snapshot_id])
    except AwsError as exc:
        failure = {"resource": copy_snapshot_id, "error": exc.readable()}
        return RunResult(report=build_report(run_id, settings.dry_run, failures=[failure]))
    copy = next((s for s in found if s.managed and s.source_snapshot), None)
    if copy is None:
        return None
    try:
        failures = _copy_outcome(copy, succeeded, cause, settings, clients, now)
    except AwsError as exc:
        failures = [{"resource": "copy ledger", "error": exc.readable()}]
    if succeeded:  # (v3) the completed copy goes to the vault account at once
        failures += share_finished_copy(clients, settings, copy, now)
    if clients.ledger is None or settings.dry_run:
        return reconcile_owed_copies(run_id, settings, clients, now, failures)
    return start_queued_copies(run_id, settings, clients, now, failures)


def _copy_outcome(
    copy: Snapshot, succeeded: bool, cause: str, settings: BackupSettings, clients: Clients, now: datetime
) -> list[dict[str, str]]:
    """(v3) Record what a copy-completion event says: a completed copy marks its primary copied once
    (`copied_once`); a failure is counted once (`copy_failures`: the reconciliation may have counted it
    already) and named in the report, and the primary is owed again unless its copies are backed off."""
    if succeeded:
        if copy.state == COMPLETED and not settings.dry_run:
            mark_copied(clients.ec2, [copy.source_snapshot])
        return []
    failure = {
        "resource": copy.source_snapshot,
        "error": f"DR copy {copy.snapshot_id} failed: {cause or 'no cause given'}",
    }
    if clients.ledger is None:
        return [failure]
    ledger = clients.ledger
    record = copy_failures.record_failure(
        ledger.dynamodb, ledger.table, copy.source_snapshot, copy.snapshot_id, now.timestamp()
    )
    # Queued again only by the sight that counted the failure: a late or duplicate event of an older copy
    # (its failure counted already) must not queue the primary while a newer copy runs, or the queue would
    # start another try as soon as that one fails, past the back-off (found by the seeded simulation).
    _owe_again(
        copy, settings, clients, now, record is not None and copy_failures.may_retry(record, now.timestamp())
    )
    return [failure] if record is not None else []


def _owe_again(
    copy: Snapshot, settings: BackupSettings, clients: Clients, now: datetime, retry: bool
) -> None:
    """A copy failed: reopen its claim (only if it is still that copy's), and queue the primary again when
    the DR region shows the copy in `error` and its copies are not backed off. When it does not (yet), the
    queue is left alone: a copy event never starts a second copy on the event's word only; the
    reconciliation re-derives it from EC2."""
    if clients.ledger is None:
        return
    clients.ledger.failed(copy.source_snapshot, [copy.snapshot_id])
    if copy.state != "error" or not retry:
        return
    for primary in describe_snapshots_by_id(clients.ec2, settings.region, [copy.source_snapshot]):
        if primary.managed and primary.state == COMPLETED and not primary.dr_copied:
            clients.ledger.owe(owed_copy(primary, settings), now.timestamp())


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
        slots = max(
            settings.max_concurrent_copies - count_pending_copies(clients.dr_ec2, settings.dr_region), 0
        )
        queue = list(ledger.owed(limit=slots + QUEUE_READ_MARGIN)) if slots else []
        # (v3) An entry may predate its primary's third failure (queued by a late or redelivered failure
        # event, or by a reconciliation that read the records before): a primary with a failure record
        # starts only after `claim_retry` (one Query of the few records, then one write per such primary).
        records = copy_failures.failure_records(ledger.dynamodb, ledger.table) if queue else {}
        for index, owed in enumerate(queue):
            if slots <= 0:
                remaining += queue[index:]
                break
            tags = meter.measure(owed.snapshot_id, owed.start_time, owed.tags) if meter else owed.tags
            if not ledger.claim(owed.snapshot_id, now.timestamp(), owner, queued=True):
                remaining.append(owed)  # claimed elsewhere (or started and not yet off the queue)
                continue
            retry = owed.snapshot_id in records
            if retry and not copy_failures.claim_retry(
                ledger.dynamodb, ledger.table, owed.snapshot_id, now.timestamp()
            ):
                # Backed off (or this retry is another invocation's): off the queue; the reconciliation
                # queues it again when it may be tried.
                ledger.release(owed.snapshot_id, owner)
                ledger.paid(owed.sort_key)
                continue
            try:
                copy_id = start_copy(
                    clients.dr_ec2, owed.source_region, owed.snapshot_id, tags, settings, now
                )
            except AwsError as exc:
                if exc.code in COPY_LIMIT_CODES or exc.is_throttling:
                    ledger.release(owed.snapshot_id, owner)
                    if retry:
                        copy_failures.release_retry(
                            ledger.dynamodb, ledger.table, owed.snapshot_id, now.timestamp()
                        )
                    remaining += queue[index:]
                    break
                if exc.code == "InvalidSnapshot.NotFound":
                    # Deleted since it was queued: nothing left to copy (the reconciliation agrees).
                    ledger.release(owed.snapshot_id, owner)
                    ledger.paid(owed.sort_key)
                    logger.info("owed copy's primary is gone", extra={"snapshot_id": owed.snapshot_id})
                    continue
                ledger.failed(owed.snapshot_id)
                failures.append({"resource": owed.snapshot_id, "error": exc.readable()})
                record = copy_failures.record_failure(
                    ledger.dynamodb,
                    ledger.table,
                    owed.snapshot_id,
                    f"refused@{int(now.timestamp())}",
                    now.timestamp(),
                )
                if copy_failures.may_retry(record, now.timestamp()):
                    remaining.append(owed)
                else:  # backed off: off the queue; the reconciliation queues it again when it may be tried
                    ledger.paid(owed.sort_key)
                continue
            slots -= 1
            ledger.started(owed.snapshot_id, copy_id)
            ledger.paid(owed.sort_key)
            outcome.started.append(
                {
                    "source_snapshot_id": owed.snapshot_id,
                    "copy_snapshot_id": copy_id,
                    "region": settings.dr_region,
                }
            )
        backlog = ledger.owed_count()
        if not queue and backlog:  # no free slot: the oldest entry, for OldestOwedCopySeconds
            remaining = list(ledger.owed(limit=1))
    except AwsError as exc:
        failures.append({"resource": "owed copies", "error": exc.readable()})
        report = build_report(run_id, settings.dry_run, copies_started=outcome.started, failures=failures)
        return RunResult(report=report)
    report = build_report(
        run_id,
        settings.dry_run,
        copies_started=outcome.started,
        copies_deferred=backlog,
        failures=failures,
    )
    oldest = min((o.start_time for o in remaining), default=None)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return RunResult(report=report, oldest_owed_copy_age=age, changes=meter.outcome if meter else None)


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
        measure=meter.measure if meter else None,
    )
    if clients.ledger is not None and not dry_run:
        # Re-derived from EC2: the owed queue becomes exactly what is owed now.
        clients.ledger.sync_owed([owed_copy(p, settings) for p in copies.owed], now.timestamp())
    return primaries, dr_snapshots, copies
