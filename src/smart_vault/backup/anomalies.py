"""Change-rate anomalies: measure each primary snapshot before its DR copy starts, judge it, and act.

`ChangeMeter.measure` is called with the DR copy's tags just before a copy is claimed (`reconcile_copies`,
`start_queued_copies`), and when a completed primary finds no free copy slot and is queued
(`owed_copies.measured_owed_copy`: a set is judged when it completes, not hours later when a slot frees): it
measures the primary with the EBS direct APIs (`ebs_direct`), records the figure
in the ledger (`change_ledger`), adds `smart-vault:changed-bytes` to the copy's tags (so the copy carries it
from its creation) and judges it (`change_rate.judge`). An anomalous volume makes its set suspect:

- `smart-vault:suspect=true` on the set's snapshots in both regions (one CreateTags a region), and on the
  copy being started (its tags); vault copies copy the vault's tags, so they carry it too;
- the instance's last clean recovery point (newest complete, not suspect) gets `smart-vault:hold=true` in
  both regions, which retention never prunes (`retention.KEEP_HELD`);
- one `Smart Vault ANOMALY <instance id> <Name>` notification, only when the set was not suspect already
  (its other volumes, measured later, do not notify again).

A measurement that fails (the EBS direct API refuses, the parent is gone) is logged and the copy starts
without a figure: detection must never cost a copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smart_vault import aws
from smart_vault.backup.change_ledger import ChangeLedger
from smart_vault.backup.ebs_direct import BlockCount, EbsDirect, MeasurementStopped, StopCheck
from smart_vault.backup.snapshots import MANAGED_FILTER
from smart_vault.change_rate import (
    CHANGED,
    GIB,
    WRITTEN,
    Measurement,
    Verdict,
    history_for_judging,
    is_new_lineage,
    judge,
    lineage_parent,
)
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.tags import (
    BACKUP_SET_TAG,
    CHANGED_BYTES_TAG,
    COMPLETED,
    HOLD_TAG,
    SET_SIZE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_VOLUME_TAG,
    SUSPECT_TAG,
)

# ListChangedBlocks answers these when the parent snapshot is gone or of another lineage.
LINEAGE_LOST = frozenset({"ResourceNotFoundException", "ValidationException"})


@dataclass
class Anomaly:
    instance_id: str
    name: str
    volume_id: str
    snapshot_id: str
    backup_set_id: str
    verdict: Verdict
    held_backup_set_id: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "volume_id": self.volume_id,
            "snapshot_id": self.snapshot_id,
            "changed_bytes": self.verdict.changed_bytes,
            "median_bytes": self.verdict.median_bytes,
            "multiple_of_median": round(self.verdict.multiple, 1) if self.verdict.multiple else None,
            "suspect_backup_set_id": self.backup_set_id,
            "held_backup_set_id": self.held_backup_set_id,
        }


@dataclass
class ChangeOutcome:
    """What one invocation measured: for the metrics and the notifications."""

    measured: int = 0
    changed_bytes: int = 0
    requests: int = 0
    failures: int = 0
    stopped: int = 0  # measurements not made (or cut short) because the invocation's time was short
    anomalies: list[Anomaly] = field(default_factory=list)


class ChangeMeter:
    """Measures and judges the primaries of one invocation (clients of both regions, the ledger table)."""

    def __init__(
        self,
        ebs: EbsDirect,
        ledger: ChangeLedger,
        ec2: Any,
        dr_ec2: Any,
        settings: BackupSettings,
        now: datetime,
    ) -> None:
        self.ebs, self.ledger, self.ec2, self.dr_ec2 = ebs, ledger, ec2, dr_ec2
        self.settings, self.now = settings, now
        self.outcome = ChangeOutcome()
        self.suspect_sets: set[str] = set()

    def measure(
        self,
        snapshot_id: str,
        start_time: datetime,
        copy_tags: Mapping[str, str],
        should_stop: StopCheck = None,
    ) -> dict[str, str]:
        """The copy's tags with the measurement (and the suspect mark) added; unchanged when it fails, or when
        `should_stop` (the invocation's deadline) says time is short before or while it measures."""
        tags = dict(copy_tags)
        volume_id = tags.get(SOURCE_VOLUME_TAG, "")
        if not volume_id:
            return tags
        try:
            if should_stop is not None and should_stop():
                raise MeasurementStopped("measure")
            measurement, verdict = self._measure(snapshot_id, volume_id, start_time, tags, should_stop)
        except MeasurementStopped:
            self.outcome.stopped += 1
            logger.info("change measurement stopped for the deadline", extra={"snapshot_id": snapshot_id})
            return tags
        except AwsError as exc:
            self.outcome.failures += 1
            logger.warning(
                "change measurement failed; the copy starts without it",
                extra={"snapshot_id": snapshot_id, "volume_id": volume_id, "error": exc.readable()},
            )
            return tags
        tags[CHANGED_BYTES_TAG] = str(measurement.changed_bytes)
        set_id = tags.get(BACKUP_SET_TAG, "")
        if measurement.suspect or self._set_suspect(set_id):
            tags[SUSPECT_TAG] = "true"
        if verdict is not None and verdict.anomalous:
            self._act(measurement, verdict, tags)
        elif measurement.suspect and verdict is not None:  # inherited from its parent: mark, no new alarm
            try:
                self._mark(set_id)
            except AwsError as exc:
                logger.error("marking a suspect recovery point failed", extra={"error": exc.readable()})
        return tags

    def _set_suspect(self, set_id: str) -> bool:
        """Whether another volume of the set was found anomalous (this invocation, or one before)."""
        if not set_id:
            return False
        if set_id not in self.suspect_sets:
            try:
                if self.ledger.is_set_suspect(set_id):
                    self.suspect_sets.add(set_id)
            except AwsError as exc:
                logger.warning("reading a suspect mark failed", extra={"error": exc.readable()})
        return set_id in self.suspect_sets

    def _mark(self, set_id: str) -> bool:
        """Mark the set suspect in the ledger and in both regions; True when it already was in EC2."""
        self.suspect_sets.add(set_id)
        self.ledger.mark_set_suspect(set_id, self.now)
        already = mark_suspect(self.ec2, self.settings.region, set_id)
        mark_suspect(self.dr_ec2, self.settings.dr_region, set_id)
        return already

    def _count(
        self, parent: Measurement | None, snapshot_id: str, should_stop: StopCheck
    ) -> tuple[BlockCount, str]:
        """Changed blocks against the parent; written blocks for a first snapshot, a smaller volume, or a
        parent ListChangedBlocks cannot use (deleted since, or of another lineage)."""
        if parent is not None:
            try:
                count = self.ebs.changed(parent.snapshot_id, snapshot_id, should_stop)
            except AwsError as exc:
                if exc.code not in LINEAGE_LOST:
                    raise
                logger.info("lineage parent unusable", extra={"snapshot_id": snapshot_id, "code": exc.code})
            else:
                if not is_new_lineage(parent, int(count.volume_size_gib or 0)):
                    return count, CHANGED
        return self.ebs.written(snapshot_id, should_stop), WRITTEN

    def _measure(
        self,
        snapshot_id: str,
        volume_id: str,
        start_time: datetime,
        tags: Mapping[str, str],
        should_stop: StopCheck,
    ) -> tuple[Measurement, Verdict | None]:
        history = self.ledger.history(volume_id)
        known = next((m for m in history if m.snapshot_id == snapshot_id), None)
        if known is not None:  # measured before (a redelivered event, a retried copy): never twice
            return known, None
        parent = lineage_parent(history, snapshot_id, start_time)
        count, method = self._count(parent, snapshot_id, should_stop)
        size = int(count.volume_size_gib or 0)
        self.outcome.requests += count.requests
        changed = min(count.bytes, size * GIB) if size else count.bytes
        verdict = None
        if method == CHANGED:
            verdict = judge(
                changed,
                history_for_judging(history, start_time),
                self.settings.change_anomaly_factor,
                int(self.settings.change_anomaly_min_gib * GIB),
            )
        # A volume whose parent is suspect stays suspect (an encrypted disk changes normally the day after)
        # until an operator clears it (docs/anomalies.md); only the first one is an anomaly that notifies.
        inherited = bool(parent and parent.suspect and method == CHANGED)
        measurement = Measurement(
            snapshot_id,
            volume_id,
            start_time,
            changed,
            method,
            size,
            bool(verdict and verdict.anomalous) or inherited,
        )
        self.ledger.record(
            measurement, tags.get(SOURCE_INSTANCE_TAG, ""), tags.get(BACKUP_SET_TAG, ""), self.now
        )
        self.outcome.measured += 1
        self.outcome.changed_bytes += changed
        return measurement, verdict

    def _act(self, measurement: Measurement, verdict: Verdict, tags: Mapping[str, str]) -> None:
        """Mark the set suspect in both regions, hold the last clean point, and queue one notification."""
        instance_id, set_id = tags.get(SOURCE_INSTANCE_TAG, ""), tags.get(BACKUP_SET_TAG, "")
        try:
            already = self._mark(set_id)
            held = hold_last_clean(self.ec2, self.settings.region, instance_id, exclude=set_id)
            if held:
                hold_set(self.dr_ec2, self.settings.dr_region, held)
        except AwsError as exc:
            logger.error("marking a suspect recovery point failed", extra={"error": exc.readable()})
            already, held = False, None
        logger.warning(
            "change-rate anomaly",
            extra={"instance_id": instance_id, "volume_id": measurement.volume_id, "backup_set_id": set_id},
        )
        if not already:
            self.outcome.anomalies.append(
                Anomaly(
                    instance_id,
                    tags.get("Name", ""),
                    measurement.volume_id,
                    measurement.snapshot_id,
                    set_id,
                    verdict,
                    held,
                )
            )


def _set_filter(set_id: str) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{BACKUP_SET_TAG}", "Values": [set_id]}]


def _describe(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(aws.own_snapshots(ec2, [MANAGED_FILTER, *filters]))


def _tag(ec2: Any, snapshot_ids: list[str], key: str) -> None:
    if snapshot_ids:
        with aws.aws_errors("CreateTags"):
            ec2.create_tags(Resources=sorted(snapshot_ids), Tags=[{"Key": key, "Value": "true"}])


def mark_suspect(ec2: Any, region: str, set_id: str) -> bool:
    """Tag the set's snapshots in `region` suspect; True when one of them already was."""
    items = _describe(ec2, _set_filter(set_id))
    already = any(aws.tags_to_dict(i.get("Tags")).get(SUSPECT_TAG) == "true" for i in items)
    _tag(ec2, [i["SnapshotId"] for i in items], SUSPECT_TAG)
    return already


def _complete(items: list[dict[str, Any]]) -> bool:
    completed = sum(1 for i in items if i.get("State") == COMPLETED)
    try:
        size = int(aws.tags_to_dict(items[0].get("Tags")).get(SET_SIZE_TAG, ""))
    except ValueError:
        size = len(items)
    return completed >= size


def hold_last_clean(ec2: Any, region: str, instance_id: str, exclude: str) -> str | None:
    """Hold the instance's newest complete recovery point in `region` that is not suspect; its set id."""
    sets: dict[str, list[dict[str, Any]]] = {}
    for item in _describe(ec2, [{"Name": f"tag:{SOURCE_INSTANCE_TAG}", "Values": [instance_id]}]):
        set_id = aws.tags_to_dict(item.get("Tags")).get(BACKUP_SET_TAG)
        if set_id and set_id != exclude:
            sets.setdefault(set_id, []).append(item)
    clean = [
        (min(i["StartTime"] for i in items), set_id, items)
        for set_id, items in sets.items()
        if _complete(items)
        and not any(aws.tags_to_dict(i.get("Tags")).get(SUSPECT_TAG) == "true" for i in items)
    ]
    if not clean:
        logger.warning(
            "no clean recovery point to hold", extra={"instance_id": instance_id, "region": region}
        )
        return None
    _, set_id, items = max(clean, key=lambda c: (c[0], c[1]))
    _tag(ec2, [i["SnapshotId"] for i in items], HOLD_TAG)
    return set_id


def hold_set(ec2: Any, region: str, set_id: str) -> None:
    """Hold the snapshots of one set in `region` (the DR copies of the held primary set)."""
    _tag(ec2, [i["SnapshotId"] for i in _describe(ec2, _set_filter(set_id))], HOLD_TAG)


def meter_for(clients: Any, settings: BackupSettings, now: datetime) -> ChangeMeter | None:
    """A change meter for one invocation, or None: no EBS direct client, no ledger, or a dry run."""
    ebs = getattr(clients, "ebs", None)
    ledger = getattr(clients, "ledger", None)
    if ebs is None or ledger is None or settings.dry_run:
        return None
    direct = ebs if isinstance(ebs, EbsDirect) else EbsDirect(ebs)
    return ChangeMeter(
        direct, ChangeLedger(ledger.dynamodb, ledger.table), clients.ec2, clients.dr_ec2, settings, now
    )
