"""The backup Lambda: `smart_vault.backup.handler`.

It reads the settings (a bad one fails the invocation before any work, naming the variable), reads the event,
calls one service function, then publishes one notification and the metrics, and returns the report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smart_vault import aws, notify
from smart_vault.backup_events import Ignored, SnapshotsCompleted, parse_event
from smart_vault.backup_run import Clients, RunRequest, RunResult, copy_completed_snapshots, run_backup
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError, ValidationError
from smart_vault.observability import MetricUnit, logger, metrics, single_metric, trace_handler
from smart_vault.report import FAILED, SUCCEEDED, build_report, email_summary, shrink

EVENT_TYPE = "backup.completed"


def _account_id(context: Any) -> str | None:
    arn = getattr(context, "invoked_function_arn", "") or ""
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def _clients(settings: BackupSettings) -> Clients:
    return Clients(ec2=aws.client("ec2", settings.region), dr_ec2=aws.client("ec2", settings.dr_region))


def emit_metrics(result: RunResult, settings: BackupSettings, full_run: bool) -> None:
    report = result.report
    if full_run:
        metrics.add_metric("InstancesProtected", MetricUnit.Count, result.instances_protected)
        metrics.add_metric("SnapshotsCreated", MetricUnit.Count, len(report["snapshots_created"]))
        metrics.add_metric("SnapshotsDeleted", MetricUnit.Count, len(report["deleted"]))
    metrics.add_metric("CopiesStarted", MetricUnit.Count, len(report["copies_started"]))
    metrics.add_metric("CopiesDeferred", MetricUnit.Count, report["copies_deferred"])
    metrics.add_metric("BackupFailures", MetricUnit.Count, len(report["failures"]))
    if result.recovery_point_age is not None:
        with single_metric(
            name="RecoveryPointAgeSeconds",
            unit=MetricUnit.Seconds,
            value=result.recovery_point_age,
            namespace=metrics.namespace,
        ) as metric:
            metric.add_dimension(name="Region", value=settings.region)


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


def handle(event: Any, context: Any, settings: BackupSettings, now: datetime) -> dict[str, Any]:
    """Route one event to its service function; publish and emit; return the report."""
    request = parse_event(event, getattr(context, "aws_request_id", None), settings.dry_run)
    logger.append_keys(run_id=request.run_id)
    if isinstance(request, Ignored):
        logger.info("event ignored", extra={"reason": request.reason})
        return dict(build_report(request.run_id, settings.dry_run))
    if isinstance(request, SnapshotsCompleted):
        if request.failed:
            result = _failed_creation(request)
        else:
            result = copy_completed_snapshots(
                request.run_id, request.snapshot_ids, settings, _clients(settings)
            )
        emit_metrics(result, settings, full_run=False)
        if result.report["status"] != SUCCEEDED:
            send_notification(result, settings)
    else:
        run = RunRequest(request.run_id, request.dry_run, request.instance_ids)
        result = run_backup(run, settings, _clients(settings), now, _account_id(context))
        emit_metrics(result, settings, full_run=True)
        send_notification(result, settings)
    logger.info("backup report", extra={"report": result.report, "status": result.report["status"]})
    return dict(result.report)


@trace_handler
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = (
        BackupSettings.from_env()
    )  # ConfigError: the invocation fails before any work, naming the variable
    try:
        return handle(event, context, settings, datetime.now(UTC))
    except ValidationError as exc:
        logger.warning("invalid event", extra={"error": exc.message, "field": exc.field})
        return {"error": "ValidationError", "message": exc.message, "field": exc.field, "status": FAILED}
