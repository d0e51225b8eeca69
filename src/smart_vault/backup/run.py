"""The full backup run, as a service function (clients, settings and `now` come in).

A full run: select instances, take one snapshot set each (instances an earlier delivery of the same run
covered are `skipped`), reconcile DR copies (`owed_copies.start_owed_copies`), prune both regions, and
return the report plus the figures the metrics need. Nothing here publishes or emits: the handler does that.

Large fleets: when the Lambda's remaining time runs short, the run stops starting instances and returns a
`Continuation` (the id of the last instance it started, under the same run id); the handler hands it to a
fresh invocation of the function. Instances are processed in id order, so the cursor splits the fleet
without gaps or overlaps; the run-id tags on the snapshots are the second line of defence. Copies and
pruning run once, in the invocation that reaches the end of the fleet.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from smart_vault.backup.anomalies import ChangeMeter, meter_for
from smart_vault.backup.app_consistent import Clock
from smart_vault.backup.app_consistent_lane import AppConsistentLane, LaneOutcome, app_consistent_figures
from smart_vault.backup.dr_copies import CopyOutcome
from smart_vault.backup.events import ContinuedRun
from smart_vault.backup.instances import Instance, select_instances
from smart_vault.backup.invocation import (
    NO_DEADLINE,
    Clients,
    Continuation,
    Deadline,
    RunRequest,
    RunResult,
    oldest_owed_age,
    protection_figures,
    recovery_point_age,
)
from smart_vault.backup.owed_copies import start_owed_copies
from smart_vault.backup.protection import Protection, protect_copies
from smart_vault.backup.prune import PruneOutcome, delete_snapshots, plan_both_regions
from smart_vault.backup.report import (
    INSTANCE_FAILED,
    OK,
    PLANNED,
    SKIPPED,
    InstanceResult,
    build_report,
    instance_result,
)
from smart_vault.backup.snapshots import backup_set_id, create_snapshot_set, run_snapshots
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger, trace
from smart_vault.runtime import Runtime
from smart_vault.snapshot_model import Snapshot

# Instances in flight at once: EC2 answers in ~100 ms, so a few workers keep the paced buckets busy.
WORKERS = 8
# Failures carried from one invocation of a run to the next (the async payload limit is 256 KB).
MAX_CARRIED_FAILURES = 200


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


def _time_is_short(
    instance: Instance, scripted: bool, lane: AppConsistentLane | None, deadline: Deadline
) -> bool:
    """Whether the run stops before `instance`: the deadline's reserve is reached, or the instance has
    scripts and the lane's batches would not fit in the time left."""
    if deadline.instances_must_stop():
        return True
    return (
        scripted and lane is not None and not lane.fits(instance, deadline.seconds_left(), deadline.reserve)
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
            scripted = lane is not None and instance.runs_scripts and instance.instance_id not in covered
            if handled and _time_is_short(instance, bool(scripted), lane, deadline):
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


def _covered_by_run(clients: Clients, settings: BackupSettings, run_id: str) -> dict[str, list[Snapshot]]:
    """The snapshots an earlier delivery or invocation of this run took, by instance."""
    covered: dict[str, list[Snapshot]] = {}
    for snap in run_snapshots(clients.ec2, settings.region, run_id):
        covered.setdefault(snap.source_instance, []).append(snap)
    return covered


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
        covered = _covered_by_run(clients, settings, request.run_id)
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
    results, created = earlier + results, earlier_created + created
    results += _missing_instances(request, selected)
    meter = None if request.dry_run else meter_for(clients, settings, now)
    tail = _copy_and_prune(request, settings, clients, now, account_id, deadline, meter)
    copies, pruned, primaries, dr_snapshots = tail.copies, tail.pruned, tail.primaries, tail.dr_snapshots
    report = build_report(
        request.run_id,
        request.dry_run,
        instances=results,
        snapshots_created=created,
        copies_started=copies.started,
        copies_deferred=copies.deferred,
        deleted=pruned.deleted,
        failures=copies.failures + pruned.failures + carried + tail.failures,
    )
    protected = [r["instance_id"] for r in results if r["status"] in (OK, SKIPPED)]
    selected_ids = [i.instance_id for i in selected]
    return RunResult(
        report=report,
        extra={
            **app_consistent_figures(results, covered, lane, request.after),
            **protection_figures(tail.guard),
        },
        instances_protected=len(protected),
        recovery_point_age=recovery_point_age(selected_ids, primaries, now),
        dr_recovery_point_age=recovery_point_age(selected_ids, dr_snapshots, now),
        oldest_owed_copy_age=oldest_owed_age(primaries, dr_snapshots, copies.started, now)
        if primaries
        else None,
        changes=meter.outcome if meter else None,
    )


def _missing_instances(request: RunRequest, selected: Sequence[Instance]) -> list[InstanceResult]:
    """A manual run's named instances that were not found (or are neither running nor stopped)."""
    if request.instance_ids is None:
        return []
    found = {i.instance_id for i in selected}
    return [
        instance_result(missing, "", [], INSTANCE_FAILED, "instance not found, or not running or stopped")
        for missing in sorted(set(request.instance_ids) - found)
    ]


@dataclass
class _Tail:
    """What the copy and prune phase of a full run did (empty where an AWS error stopped it)."""

    copies: CopyOutcome = field(default_factory=CopyOutcome)
    pruned: PruneOutcome = field(default_factory=PruneOutcome)
    failures: list[dict[str, str]] = field(default_factory=list)
    primaries: list[Snapshot] = field(default_factory=list)
    dr_snapshots: list[Snapshot] = field(default_factory=list)
    guard: Protection = field(default_factory=Protection)


def _copy_and_prune(
    request: RunRequest,
    settings: BackupSettings,
    clients: Clients,
    now: datetime,
    account_id: str | None,
    deadline: Deadline,
    meter: ChangeMeter | None,
) -> _Tail:
    """The tail of the invocation that reaches the end of the fleet: owed copies, locks and the vault
    account, then pruning of both regions. An AWS error that stops it is the phase's failure."""
    tail = _Tail()
    try:
        # Described after the sets were taken, so snapshots that completed already are copied in this run.
        tail.primaries, tail.dr_snapshots, tail.copies = start_owed_copies(
            clients, settings, request.run_id, request.dry_run, deadline, now, meter
        )
        tail.guard = protect_copies(
            clients,
            settings,
            tail.primaries,
            tail.dr_snapshots,
            now,
            dry_run=request.dry_run,
            full_run=True,
            should_stop=deadline.tail_must_stop,
        )
        tail.failures += tail.guard.failures
        decisions = plan_both_regions(
            tail.primaries, tail.dr_snapshots, settings, now, account_id, tail.guard.locked
        )
        tail.pruned = delete_snapshots(
            {settings.region: clients.ec2, settings.dr_region: clients.dr_ec2},
            decisions,
            dry_run=request.dry_run,
            should_stop=deadline.tail_must_stop,
        )
    except AwsError as exc:
        tail.failures.append({"resource": "copy reconciliation and pruning", "error": exc.readable()})
    return tail


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
    next_run = ContinuedRun(
        run_id=request.run_id,
        dry_run=request.dry_run,
        instance_ids=request.instance_ids,
        after=after,
        invocation=request.invocation + 1,
        failures=tuple(failures[:MAX_CARRIED_FAILURES]),
    )
    continuation = Continuation(next_run, remaining=len(pending) - started)
    report = build_report(
        request.run_id, request.dry_run, instances=results, snapshots_created=created, failures=carried
    )
    protected = sum(1 for r in results if r["status"] in (OK, SKIPPED))
    logger.info(
        "time is short: the run continues in a new invocation",
        extra={
            "after": after,
            "remaining_instances": continuation.remaining,
            "invocation": next_run.invocation,
        },
    )
    return RunResult(report=report, instances_protected=protected, continuation=continuation)
