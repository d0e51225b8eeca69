"""The drill Lambda: `smart_vault.drill.handler`.

It reads the settings (a bad one fails the invocation before any work, naming the variable), reads the event
(the weekly schedule, or a manual `{"instance_ids": [...], "dry_run": bool}`), runs the drills, then publishes
one notification and the metrics, and returns the report.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from smart_vault import aws, notify
from smart_vault.config import DrillSettings
from smart_vault.drill.results import DrillResultStore
from smart_vault.drill.run import (
    FAILED,
    PASSED,
    DrillClients,
    DrillRequest,
    run_drills,
    shrink,
    summary_text,
)
from smart_vault.errors import AwsError, ValidationError
from smart_vault.observability import MetricUnit, fails_softly, logger, metrics, single_metric, trace_handler

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

EVENT_TYPE = "drill.completed"
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8,17}$")
MANUAL_KEYS = frozenset({"instance_ids", "dry_run"})
# Outside Lambda (the local stack, the CLI) there is no context: assume Lambda's longest timeout.
DEFAULT_SECONDS_LEFT = 900.0
# Fixed namespace: a scheduled event's id gives the same run id on Lambda's retry of it.
RUN_ID_NAMESPACE = uuid.UUID("0f5b7c52-4c1e-4d0e-9a57-3c1b8d2e6a90")


def parse_event(event: Any, request_id: str | None) -> DrillRequest:
    """The drill request of an event: the schedule, or a manual invocation (ValidationError otherwise)."""
    if not isinstance(event, dict):
        raise ValidationError("the event must be a JSON object", field=None)
    if event.get("source") == "aws.events":
        run_id = str(uuid.uuid5(RUN_ID_NAMESPACE, str(event.get("id") or request_id or uuid.uuid4())))
        return DrillRequest(drill_run_id=run_id)
    unknown = sorted(set(event) - MANUAL_KEYS)
    if unknown:
        raise ValidationError(
            f"unknown field {unknown[0]!r}; a manual run takes instance_ids and dry_run", field=unknown[0]
        )
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be true or false", field="dry_run")
    instance_ids = event.get("instance_ids")
    if instance_ids is not None:
        if (
            not isinstance(instance_ids, list)
            or not instance_ids
            or len(instance_ids) > 50
            or not all(isinstance(i, str) and INSTANCE_ID_RE.match(i) for i in instance_ids)
        ):
            raise ValidationError(
                "instance_ids must be a list of 1 to 50 instance ids (^i-[0-9a-f]{8,17}$)",
                field="instance_ids",
            )
        instance_ids = tuple(dict.fromkeys(instance_ids))
    return DrillRequest(
        drill_run_id=request_id or str(uuid.uuid4()), dry_run=dry_run, instance_ids=instance_ids
    )


def emit_metrics(report: dict[str, Any]) -> None:
    """DrillsPassed, DrillsFailed, DrillRtoSeconds (one value per passed drill), DrillLeftovers, DrillOverdue
    and DrillLeftoversSwept, each with the dimension Region only (the alarms name exactly that dimension).

    DrillLeftovers counts what a teardown could not remove: this run's drills' and the sweep's (what earlier
    drills left that the sweep tried and failed to remove); DrillLeftoversSwept what the sweep removed."""
    drills = report["drills"]
    swept = (report.get("sweep") or {}).get("swept", [])
    values: list[tuple[str, MetricUnit, float]] = [("DrillOverdue", MetricUnit.Count, report["overdue"])]
    if not report["dry_run"]:
        leftovers = sum(len(d["leftovers"]) for d in drills) + sum(len(s["left"]) for s in swept)
        values += [
            ("DrillsPassed", MetricUnit.Count, sum(1 for d in drills if d["status"] == PASSED)),
            ("DrillsFailed", MetricUnit.Count, sum(1 for d in drills if d["status"] == FAILED)),
            ("DrillLeftovers", MetricUnit.Count, leftovers),
            ("DrillLeftoversSwept", MetricUnit.Count, sum(len(s["removed"]) for s in swept)),
        ]
        values += [
            ("DrillRtoSeconds", MetricUnit.Seconds, d["rto_seconds"])
            for d in drills
            if d["status"] == PASSED and d["rto_seconds"] is not None
        ]
    for name, unit, value in values:
        with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="Region", value=report["region"])


def subject(report: dict[str, Any]) -> str:
    drills = report["drills"]
    passed = sum(1 for d in drills if d["status"] == PASSED)
    detail = f"{report['region']}" + (
        " dry run" if report["dry_run"] else f" ({passed} of {len(drills)} passed)"
    )
    return notify.subject_line("drill", detail, report["status"])


def send_notification(
    report: dict[str, Any], settings: DrillSettings, sns_client: SNSClient | None = None
) -> None:
    """One SNS message per run. A publish failure is logged; the run still returns its report."""
    try:
        notify.publish(
            settings.sns_topic_arn,
            subject(report),
            summary_text(report),
            report,
            EVENT_TYPE,
            shrink=shrink,
            sns_client=sns_client,
        )
    except AwsError as exc:
        logger.error(
            "drill notification failed",
            extra={"drill_run_id": report["drill_run_id"], "error": exc.readable()},
        )


def handle(
    event: Any, context: Any, settings: DrillSettings, clients: DrillClients | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Parse, run, publish, emit; return the report."""
    request = parse_event(event, getattr(context, "aws_request_id", None))
    logger.append_keys(drill_run_id=request.drill_run_id)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    seconds_left = remaining_ms() / 1000 if remaining_ms else DEFAULT_SECONDS_LEFT
    clients = clients or DrillClients(
        ec2=aws.client("ec2", settings.region),
        lambda_client=aws.client("lambda", settings.region, aws.SYNCHRONOUS_INVOKE_CONFIG),
        store=DrillResultStore(settings.results_table, aws.client("dynamodb", settings.region)),
    )
    report = run_drills(request, settings, clients, seconds_left=seconds_left, **kwargs)
    emit_metrics(report)
    send_notification(report, settings, clients.sns)
    logger.info(
        "drill report",
        extra={"status": report["status"], "overdue": report["overdue"], "report": report},
    )
    return report


# No @metrics.log_metrics: every drill metric is a single metric (dimension Region only), flushed as emitted.
@trace_handler
@fails_softly
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = DrillSettings.from_env()  # ConfigError: fails before any work, naming the variable
    return handle(event, context, settings)
