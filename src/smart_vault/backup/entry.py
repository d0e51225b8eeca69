"""The backup Lambda: `smart_vault.backup.handler`.

It reads the settings (a bad one fails the invocation before any work, naming the variable), reads the event,
calls one service function, then publishes one notification and the metrics, and returns the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from smart_vault import aws, notify, pacing
from smart_vault.backup.anomaly_report import emit_change_metrics, publish_anomalies
from smart_vault.backup.copy_finished import copy_finished
from smart_vault.backup.events import (
    ContinuedRun,
    CopyCompleted,
    Ignored,
    ReconcileCopies,
    SnapshotsCompleted,
    parse_event,
)
from smart_vault.backup.invocation import Clients, Continuation, Deadline, RunRequest, RunResult
from smart_vault.backup.ledger import ledger_for
from smart_vault.backup.owed_copies import copy_completed_snapshots, reconcile_owed_copies
from smart_vault.backup.report import SUCCEEDED, build_report, email_summary, shrink
from smart_vault.backup.run import run_backup
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import MetricUnit, fails_softly, logger, metrics, single_metric, trace_handler
from smart_vault.runtime import Runtime

EVENT_TYPE = "backup.completed"


def _clients(settings: BackupSettings) -> Clients:
    """The two EC2 clients, their mutating calls paced to EC2's token buckets."""
    ec2 = aws.client("ec2", settings.region)
    dr_ec2 = aws.client("ec2", settings.dr_region)
    pacing.pace(ec2)
    pacing.pace(dr_ec2)
    # (v3) The EBS direct API client of the primary region, paced and retried by `ebs_direct` itself: one
    # attempt per call here, or botocore's 11 would run under each of its 8 (88 calls for one throttled page).
    ebs = (
        aws.client("ebs", settings.region, aws.SINGLE_ATTEMPT_CONFIG)
        if settings.change_anomaly_factor > 0
        else None
    )
    return Clients(ec2=ec2, dr_ec2=dr_ec2, ledger=ledger_for(settings), ebs=ebs)


def start_continuation(continuation: Continuation, context: Any, settings: BackupSettings) -> str | None:
    """Invoke this function again, asynchronously, with the cursor; None when started, else the error."""
    function = getattr(context, "invoked_function_arn", "") or getattr(context, "function_name", "")
    if not function:
        return "no Lambda context to continue the run from"
    import json  # deferred: only large runs continue

    try:
        with aws.aws_errors("Invoke"):
            aws.client("lambda", settings.region).invoke(
                FunctionName=function,
                InvocationType="Event",
                Payload=json.dumps(continuation.next_run.as_payload()).encode(),
            )
    except AwsError as exc:
        return exc.readable()
    logger.info(
        "run continues in a new invocation",
        extra={
            "invocation": continuation.next_run.invocation,
            "after": continuation.next_run.after,
            "remaining": continuation.remaining,
        },
    )
    return None


def emit_metrics(result: RunResult, settings: BackupSettings, full_run: bool) -> None:
    report = result.report
    if full_run:
        metrics.add_metric("InstancesProtected", MetricUnit.Count, result.instances_protected)
        metrics.add_metric("SnapshotsCreated", MetricUnit.Count, len(report["snapshots_created"]))
        metrics.add_metric("SnapshotsDeleted", MetricUnit.Count, len(report["deleted"]))
        # (v3) Application-consistent sets and the instances whose pre- or post-script failed.
        metrics.add_metric("AppConsistentSets", MetricUnit.Count, result.extra.get("app_consistent_sets", 0))
        metrics.add_metric(
            "AppConsistentFailures", MetricUnit.Count, result.extra.get("app_consistent_failures", 0)
        )
    metrics.add_metric("CopiesStarted", MetricUnit.Count, len(report["copies_started"]))
    metrics.add_metric("CopiesDeferred", MetricUnit.Count, report["copies_deferred"])
    metrics.add_metric("BackupFailures", MetricUnit.Count, len(report["failures"]))
    # (v2) After every run, event and reconciliation: the copies owed and how long the oldest has waited.
    metrics.add_metric("CopyBacklog", MetricUnit.Count, report["copies_deferred"])
    if result.oldest_owed_copy_age is not None:
        metrics.add_metric("OldestOwedCopySeconds", MetricUnit.Seconds, result.oldest_owed_copy_age)
    emit_change_metrics(result.changes, settings)
    for region, age in (
        (settings.region, result.recovery_point_age),
        (settings.dr_region, result.dr_recovery_point_age),
    ):
        if age is None:
            continue
        with single_metric(
            name="RecoveryPointAgeSeconds", unit=MetricUnit.Seconds, value=age, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="Region", value=region)


def send_notification(result: RunResult, settings: BackupSettings) -> None:
    """One SNS message per run. A publish failure is logged; the run still returns its report."""
    report = result.report
    try:
        notify.publish(
            settings.sns_topic_arn,
            notify.subject_line("backup", report["run_id"], report["status"]),
            email_summary(report, settings.region, settings.dr_region),
            dict(report),
            EVENT_TYPE,
            shrink=shrink,
        )
    except AwsError as exc:
        logger.error("notification failed", extra={"run_id": report["run_id"], "error": exc.readable()})


def _failed_creation(request: SnapshotsCompleted) -> RunResult:
    failures = [
        {"resource": s, "error": f"snapshot creation failed: {request.cause}"} for s in request.snapshot_ids
    ]
    return RunResult(report=build_report(request.run_id, False, failures=failures))


def _full_run(
    request: Any, context: Any, settings: BackupSettings, clients: Clients, now: datetime, runtime: Runtime
) -> RunResult:
    if isinstance(request, ContinuedRun):
        run = RunRequest(
            request.run_id,
            request.dry_run,
            request.instance_ids,
            after=request.after,
            invocation=request.invocation,
            carried_failures=request.failures,
        )
    else:
        run = RunRequest(request.run_id, request.dry_run, request.instance_ids)
    result = run_backup(run, settings, clients, now, aws.invoked_account(context), Deadline(context), runtime)
    if result.continuation is None:
        return result
    error = start_continuation(result.continuation, context, settings)
    if error is None:
        return result
    # The chain is broken: this invocation becomes the last one and says what was not reached.
    failure = {
        "resource": "continuation",
        "error": f"{result.continuation.remaining} instances after {result.continuation.next_run.after} were not reached: {error}",
    }
    report = build_report(
        result.report["run_id"],
        result.report["dry_run"],
        instances=result.report["instances"],
        snapshots_created=result.report["snapshots_created"],
        failures=[*result.report["failures"], failure],
    )
    return RunResult(report=report, instances_protected=result.instances_protected)


def handle(
    event: Any,
    context: Any,
    settings: BackupSettings,
    now: datetime,
    clients: Clients | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """Route one event to its service function; publish and emit; return the report. `runtime`: the
    invocation's clock, sleep and executor (default: the production one, built here once)."""
    runtime = runtime or Runtime.default()
    request = parse_event(event, getattr(context, "aws_request_id", None), settings.dry_run)
    logger.append_keys(run_id=request.run_id)
    if isinstance(request, Ignored):
        logger.info("event ignored", extra={"reason": request.reason})
        return dict(build_report(request.run_id, settings.dry_run))
    if isinstance(request, CopyCompleted) and request.region != settings.dr_region:
        logger.info("copy event of another region ignored", extra={"region": request.region})
        return dict(build_report(request.run_id, settings.dry_run))
    clients = clients or _clients(settings)
    if isinstance(request, (CopyCompleted, ReconcileCopies)):
        if isinstance(request, CopyCompleted):
            copied = copy_finished(request, settings, clients, now)
            if copied is None:
                logger.info("copy event of an unmanaged snapshot ignored")
                return dict(build_report(request.run_id, settings.dry_run))
            result = copied
        else:
            result = reconcile_owed_copies(request.run_id, settings, clients, now, deadline=Deadline(context))
        emit_metrics(result, settings, full_run=False)
        if result.report["failures"]:
            send_notification(result, settings)
    elif isinstance(request, SnapshotsCompleted):
        if request.failed:
            result = _failed_creation(request)
        else:
            result = copy_completed_snapshots(request.run_id, request.snapshot_ids, settings, clients, now)
        emit_metrics(result, settings, full_run=False)
        if result.report["status"] != SUCCEEDED:
            send_notification(result, settings)
    else:
        result = _full_run(request, context, settings, clients, now, runtime)
        if result.continuation is None:
            emit_metrics(result, settings, full_run=True)
            send_notification(result, settings)
    publish_anomalies(result.changes, settings)
    log_report(result.report)
    return dict(result.report)


# CloudWatch Logs caps one event at 256 KB; the JSON logger adds its own fields around each part.
LOG_PART_BYTES = 64 * 1024
_LISTS = ("instances", "snapshots_created", "copies_started", "deleted", "failures")


def report_log_parts(report: Mapping[str, Any], limit: int = LOG_PART_BYTES) -> list[dict[str, Any]]:
    """The report as log parts of at most `limit` bytes of JSON each: first the summary (every scalar field and
    the count of each list), then each list in pages. Together the parts hold every item of every list."""
    summary = {k: v for k, v in report.items() if k not in _LISTS}
    summary["counts"] = {name: len(report.get(name) or []) for name in _LISTS}
    parts: list[dict[str, Any]] = [{"part": "summary", "report": summary}]
    for name in _LISTS:
        page: list[Any] = []
        size = 0
        for item in report.get(name) or []:
            item_size = len(json.dumps(item, default=str)) + 2
            if page and size + item_size > limit:
                parts.append({"part": name, "items": page})
                page, size = [], 0
            page.append(item)
            size += item_size
        if page:
            parts.append({"part": name, "items": page})
    return parts


def log_report(report: Mapping[str, Any]) -> None:
    """Log the whole report without passing CloudWatch Logs' event size: one line per part, each with the run id."""
    parts = report_log_parts(report)
    for index, part in enumerate(parts, start=1):
        logger.info(
            "backup report",
            extra={
                "run_id": report.get("run_id"),
                "status": report.get("status"),
                "log_part": f"{index}/{len(parts)}",
                **part,
            },
        )


@trace_handler
@metrics.log_metrics
@fails_softly
def handler(event: Any, context: Any) -> dict[str, Any]:
    # ConfigError: the invocation fails before any work, naming the variable
    settings = BackupSettings.from_env()
    return handle(event, context, settings, datetime.now(UTC), runtime=Runtime.default())
