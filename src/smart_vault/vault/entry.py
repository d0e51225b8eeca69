"""The vault Lambda: `smart_vault.vault.handler`, in the vault account, in the workload's DR region.

It reads its settings (a bad one fails the invocation before any work, naming the variable), reads the
event, calls one service function, then emits the metrics, publishes a notification when there is
something to say, and returns the report:

    {"run_id", "status", "accepted": [snapshot id], "rejected": [{"snapshot_id", "reason"}],
     "copies_started": [{"source_snapshot_id", "copy_snapshot_id", "region"}], "copies_deferred": int,
     "locks_repaired": [snapshot id], "deleted": [{"snapshot_id", "region"}], "failures": [{"resource", "error"}]}

Notifications (`Subject` `Smart Vault vault <run id>: <status>`, `event_type` `vault.completed`): every
reconciliation that started, deleted or repaired something, and any event with a failure or a rejection.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from smart_vault import aws, notify, pacing
from smart_vault.backup.invocation import Deadline
from smart_vault.backup.ledger import CopyLedger
from smart_vault.config import VaultSettings
from smart_vault.errors import AwsError
from smart_vault.observability import MetricUnit, fails_softly, logger, metrics, single_metric, trace_handler
from smart_vault.vault.copies import VaultClients, VaultOutcome, accept, copy_finished, rejection, start_owed
from smart_vault.vault.events import (
    Announcement,
    Ignored,
    Reconcile,
    Rejected,
    VaultCopyFinished,
    parse_event,
)
from smart_vault.vault.reconcile import reconcile

EVENT_TYPE = "vault.completed"
SUCCEEDED, PARTIAL, FAILED = "SUCCEEDED", "PARTIAL", "FAILED"


def clients_for(settings: VaultSettings) -> VaultClients:
    ledger = CopyLedger(
        aws.client("dynamodb", settings.region), settings.vault_ledger_table, settings.retention_days
    )
    ec2 = aws.client("ec2", settings.region)
    copy_ec2 = aws.client("ec2", settings.region, config=aws.SINGLE_ATTEMPT_CONFIG)
    # CopySnapshot, LockSnapshot (repairs by the thousand), DeleteSnapshot: EC2's buckets
    for client in (ec2, copy_ec2):
        pacing.pace(client)
    return VaultClients(ec2=ec2, ledger=ledger, copy_ec2=copy_ec2)


def build_report(run_id: str, outcome: VaultOutcome) -> dict[str, Any]:
    """Pure: the report of one invocation."""
    done = outcome.accepted or outcome.started or outcome.deleted or outcome.locks_repaired
    status = SUCCEEDED if not outcome.failures else (PARTIAL if done else FAILED)
    return {
        "run_id": run_id,
        "status": status,
        "accepted": outcome.accepted,
        "rejected": outcome.rejected,
        "copies_started": outcome.started,
        "copies_deferred": outcome.backlog,
        "locks_repaired": outcome.locks_repaired,
        "deleted": outcome.deleted,
        "failures": outcome.failures,
    }


def email_summary(report: dict[str, Any], region: str) -> str:
    lines = [
        f"Smart Vault vault run {report['run_id']} in {region}: {report['status']}",
        f"accepted {len(report['accepted'])}, rejected {len(report['rejected'])}, "
        f"copies started {len(report['copies_started'])}, owed {report['copies_deferred']}, "
        f"locks repaired {len(report['locks_repaired'])}, deleted {len(report['deleted'])}",
    ]
    lines += [f"REJECTED {r['snapshot_id']}: {r['reason']}" for r in report["rejected"]]
    lines += [f"FAILED {f['resource']}: {f['error']}" for f in report["failures"]]
    return "\n".join(lines)


def emit_metrics(outcome: VaultOutcome, settings: VaultSettings) -> None:
    figures: list[tuple[str, MetricUnit, float]] = [
        ("VaultCopiesStarted", MetricUnit.Count, len(outcome.started)),
        ("VaultBacklog", MetricUnit.Count, outcome.backlog),
        ("VaultRejected", MetricUnit.Count, len(outcome.rejected)),
    ]
    if outcome.recovery_point_age is not None:
        figures.append(("RecoveryPointAgeSeconds", MetricUnit.Seconds, outcome.recovery_point_age))
    for name, unit, value in figures:
        with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="Region", value=settings.region)
            metric.add_dimension(name="Account", value="vault")


def publish(report: dict[str, Any], settings: VaultSettings) -> None:
    try:
        notify.publish(
            settings.sns_topic_arn,
            notify.subject_line("vault", report["run_id"], report["status"]),
            email_summary(report, settings.region),
            report,
            EVENT_TYPE,
        )
    except AwsError as exc:
        logger.error("notification failed", extra={"run_id": report["run_id"], "error": exc.readable()})


def _copied_already(request: Announcement, settings: VaultSettings, clients: VaultClients) -> bool:
    """A re-announcement of a snapshot the vault has copied: every full run announces again what it shared
    within 48 h (thousands of events a night for a large fleet, one invocation each), so one ledger read answers
    it, with no EC2 call and no slot filling. An announcement the pure checks refuse is still refused."""
    if rejection(request, settings) is not None or not clients.ledger.copied(request.snapshot_id):
        return False
    logger.info("announced snapshot already copied", extra={"snapshot_id": request.snapshot_id})
    return True


def handle(
    event: Any, context: Any, settings: VaultSettings, now: datetime, clients: VaultClients | None = None
) -> dict[str, Any]:
    request = parse_event(event, getattr(context, "aws_request_id", None))
    if isinstance(request, Ignored):
        logger.info("event ignored", extra={"reason": request.reason})
        return build_report(request.run_id, VaultOutcome())
    outcome = VaultOutcome()
    owner = f"{request.run_id}/{uuid.uuid4().hex[:12]}"
    if isinstance(request, Rejected):
        outcome.rejected.append({"snapshot_id": request.snapshot_id, "reason": request.reason})
    else:
        clients = clients or clients_for(settings)
        if isinstance(request, Reconcile):
            deadline = Deadline(context)  # the deletions stop with a quarter of the reserve left
            account = aws.invoked_account(context)
            outcome = reconcile(settings, clients, now, owner, account, should_stop=deadline.tail_must_stop)
        else:
            try:
                if isinstance(request, Announcement) and _copied_already(request, settings, clients):
                    return build_report(request.run_id, outcome)
                if isinstance(request, Announcement):
                    accept(request, settings, clients, now, outcome)
                elif isinstance(request, VaultCopyFinished):
                    if request.region != settings.region or not copy_finished(
                        request, settings, clients, now, outcome
                    ):
                        return build_report(request.run_id, outcome)
            except AwsError as exc:
                outcome.failures.append({"resource": "vault event", "error": exc.readable()})
            start_owed(
                settings, clients, now, owner, outcome, should_stop=Deadline(context).instances_must_stop
            )
    report = build_report(request.run_id, outcome)
    emit_metrics(outcome, settings)
    acted = report["copies_started"] or report["deleted"] or report["locks_repaired"]
    if report["failures"] or report["rejected"] or (isinstance(request, Reconcile) and acted):
        publish(report, settings)
    logger.info("vault report", extra={"report": report})
    return report


@trace_handler
@metrics.log_metrics
@fails_softly
def handler(event: Any, context: Any) -> dict[str, Any]:
    # ConfigError: the invocation fails before any work, naming the variable
    settings = VaultSettings.from_env()
    return handle(event, context, settings, datetime.now(UTC))
