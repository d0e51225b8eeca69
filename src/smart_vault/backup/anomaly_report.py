"""The metrics and the notification of what `anomalies.ChangeMeter` found in one invocation.

`ChangedBytes` (dimension `Region`: the bytes measured in this invocation, one datapoint per invocation that
measured something; CloudWatch's Sum adds them up) and `ChangeAnomalies` (the anomalous instances found).
One SNS message per anomalous instance: `Smart Vault ANOMALY <instance id> <Name>`, `event_type`
`anomaly.detected`, with a text a person can act on and the JSON document for machines.
"""

from __future__ import annotations

from typing import Any

from smart_vault import notify
from smart_vault.backup.anomalies import Anomaly, ChangeOutcome
from smart_vault.change_rate import GIB
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import MetricUnit, logger, metrics, single_metric

EVENT_TYPE = "anomaly.detected"
SUBJECT_MAX = 100


def emit_change_metrics(outcome: ChangeOutcome | None, settings: BackupSettings) -> None:
    if outcome is None or not outcome.measured:
        return
    with single_metric(
        name="ChangedBytes", unit=MetricUnit.Bytes, value=outcome.changed_bytes, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="Region", value=settings.region)
    metrics.add_metric("ChangeAnomalies", MetricUnit.Count, len(outcome.anomalies))


def subject(anomaly: Anomaly) -> str:
    text = f"Smart Vault ANOMALY {anomaly.instance_id} {anomaly.name}".strip()
    text = "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in text)
    return text[:SUBJECT_MAX]


def _gib(value: float | None) -> str:
    return "unknown" if value is None else f"{value / GIB:.1f} GiB"


def anomaly_text(anomaly: Anomaly, settings: BackupSettings) -> str:
    verdict = anomaly.verdict
    multiple = f"{verdict.multiple:.1f} x" if verdict.multiple else "far above"
    held = (
        f"The last clean recovery point, {anomaly.held_backup_set_id}, is held (smart-vault:hold=true) in "
        f"{settings.region} and {settings.dr_region}; it will not be pruned while held."
        if anomaly.held_backup_set_id
        else "No earlier clean recovery point was found to hold."
    )
    return "\n".join(
        [
            f"Instance {anomaly.instance_id} ({anomaly.name or 'no Name tag'}): volume {anomaly.volume_id} changed "
            f"{_gib(verdict.changed_bytes)} since its previous snapshot, {multiple} the median of its recent "
            f"changes ({_gib(verdict.median_bytes)}). Ransomware that encrypts a disk looks like this.",
            f"Recovery point {anomaly.backup_set_id} (snapshot {anomaly.snapshot_id}) is marked suspect "
            "(smart-vault:suspect=true) in both regions: restores and drills that name no recovery point skip it.",
            held,
            "If the change was expected (a restore, a reformat, a bulk load), clear it as docs/anomalies.md shows.",
        ]
    )


def publish_anomalies(outcome: ChangeOutcome | None, settings: BackupSettings) -> None:
    """One notification per anomalous instance; a publish failure is logged, never raised."""
    for anomaly in outcome.anomalies if outcome else []:
        document: dict[str, Any] = {
            "event_type": EVENT_TYPE,
            "region": settings.region,
            **anomaly.as_document(),
        }
        try:
            notify.publish(
                settings.sns_topic_arn,
                subject(anomaly),
                anomaly_text(anomaly, settings),
                document,
                EVENT_TYPE,
            )
        except AwsError as exc:
            logger.error(
                "anomaly notification failed",
                extra={"instance_id": anomaly.instance_id, "error": exc.readable()},
            )
