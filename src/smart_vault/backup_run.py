"""The backup run and the completion-event copy, as service functions (clients, settings and `now` come in).

A full run: select instances, take one snapshot set each (instances an earlier delivery of the same run
covered are `skipped`), reconcile DR copies, prune both regions, and return the report plus the figures the
metrics need. Nothing here publishes or emits: the handler does that once per invocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger, trace
from smart_vault.prune import PruneOutcome, delete_snapshots, plan_both_regions
from smart_vault.report import (
    INSTANCE_FAILED,
    OK,
    PLANNED,
    SKIPPED,
    InstanceResult,
    Report,
    build_report,
    instance_result,
)
from smart_vault.retention import COMPLETED, Snapshot
from smart_vault.snapshots import (
    CopyOutcome,
    Instance,
    backup_set_id,
    create_snapshot_set,
    describe_managed_snapshots,
    describe_snapshots_by_id,
    reconcile_copies,
    run_snapshots,
    select_instances,
)


@dataclass(frozen=True)
class Clients:
    """EC2 clients of the primary and the DR region."""

    ec2: Any
    dr_ec2: Any


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    dry_run: bool
    instance_ids: tuple[str, ...] | None = None  # None: every tagged instance


@dataclass
class RunResult:
    report: Report
    instances_protected: int = 0
    # Largest age (seconds) over the protected instances of their newest completed snapshot; None if none.
    recovery_point_age: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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


def _back_up_instances(
    request: RunRequest, instances: Sequence[Instance], clients: Clients, settings: BackupSettings
) -> tuple[list[InstanceResult], list[str]]:
    covered: dict[str, list[Snapshot]] = {}
    for snap in run_snapshots(clients.ec2, settings.region, request.run_id):
        covered.setdefault(snap.source_instance, []).append(snap)
    results: list[InstanceResult] = []
    created: list[str] = []
    for instance in instances:
        set_id = backup_set_id(request.run_id, instance.instance_id)
        if instance.instance_id in covered:
            ids = sorted(s.snapshot_id for s in covered[instance.instance_id])
            results.append(instance_result(instance.instance_id, set_id, ids, SKIPPED))
        elif request.dry_run:
            results.append(instance_result(instance.instance_id, set_id, [], PLANNED))
        else:
            outcome = create_snapshot_set(clients.ec2, instance, request.run_id, settings)
            created += outcome.snapshot_ids
            status = INSTANCE_FAILED if outcome.error else OK
            results.append(
                instance_result(instance.instance_id, set_id, outcome.snapshot_ids, status, outcome.error)
            )
            if outcome.error:
                logger.warning(
                    "instance backup failed",
                    extra={"instance_id": instance.instance_id, "error": outcome.error},
                )
    return results, created


@trace
def run_backup(
    request: RunRequest,
    settings: BackupSettings,
    clients: Clients,
    now: datetime,
    account_id: str | None = None,
) -> RunResult:
    """A full (scheduled or manual) run. Per-instance and per-snapshot failures are recorded, not raised;
    an AWS error that stops a whole phase (a describe that keeps failing) is recorded as that phase's failure."""
    try:
        instances = select_instances(clients.ec2, settings, request.instance_ids)
        results, created = _back_up_instances(request, instances, clients, settings)
    except AwsError as exc:
        failure = {"resource": "instance selection", "error": exc.readable()}
        return RunResult(report=build_report(request.run_id, request.dry_run, failures=[failure]))
    if request.instance_ids is not None:
        found = {i.instance_id for i in instances}
        for missing in sorted(set(request.instance_ids) - found):
            results.append(
                instance_result(
                    missing, "", [], INSTANCE_FAILED, "instance not found, or not running or stopped"
                )
            )
    copies, pruned, failures, primaries = CopyOutcome(), PruneOutcome(), [], []
    try:
        # Described after the sets were taken, so snapshots that completed already are copied in this run.
        primaries = describe_managed_snapshots(clients.ec2, settings.region)
        dr_snapshots = describe_managed_snapshots(clients.dr_ec2, settings.dr_region)
        copies = reconcile_copies(clients.dr_ec2, primaries, dr_snapshots, settings, dry_run=request.dry_run)
        decisions = plan_both_regions(primaries, dr_snapshots, settings, now, account_id)
        pruned = delete_snapshots(
            {settings.region: clients.ec2, settings.dr_region: clients.dr_ec2},
            decisions,
            dry_run=request.dry_run,
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
    return RunResult(
        report=report,
        instances_protected=len(protected),
        recovery_point_age=recovery_point_age([i.instance_id for i in instances], primaries, now),
    )


@trace
def copy_completed_snapshots(
    run_id: str, snapshot_ids: Sequence[str], settings: BackupSettings, clients: Clients
) -> RunResult:
    """Start the DR copies of the managed snapshots among `snapshot_ids` (from a completion event)."""
    try:
        primaries = (
            describe_snapshots_by_id(clients.ec2, settings.region, snapshot_ids) if snapshot_ids else []
        )
        if not primaries:
            logger.info(
                "no managed snapshot in the completion event", extra={"snapshot_ids": list(snapshot_ids)}
            )
            return RunResult(report=build_report(run_id, settings.dry_run))
        dr_snapshots = describe_managed_snapshots(clients.dr_ec2, settings.dr_region)
        copies = reconcile_copies(clients.dr_ec2, primaries, dr_snapshots, settings, dry_run=settings.dry_run)
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
    return RunResult(report=report)
