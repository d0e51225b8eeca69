"""Pure: what the backup function was asked to do, read from its event.

Three kinds of event (see the contract): an EventBridge schedule (a full run whose id is the event id), an
EC2 snapshot-completion event (copy those snapshots to DR now), and a manual invocation
(`{"dry_run": true}` and/or `{"instance_ids": [...]}`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smart_vault.errors import ValidationError

SCHEDULED_DETAIL_TYPE = "Scheduled Event"
MULTI_VOLUME_DETAIL_TYPE = "EBS Multi-Volume Snapshots Completion Status"
SNAPSHOT_DETAIL_TYPE = "EBS Snapshot Notification"
COMPLETION_EVENTS = frozenset({"createSnapshot", "createSnapshots"})
COPY_EVENT = "copySnapshot"
RECONCILE_FIELD = "reconcile_copies"
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8,17}$")
SNAPSHOT_ID_RE = re.compile(r"snap-[0-9a-f]{8,17}$")
MANUAL_FIELDS = frozenset({"dry_run", "instance_ids"})
MAX_MANUAL_INSTANCES = 1000
RUN_ID_MAX = 128


@dataclass(frozen=True)
class FullRun:
    """A scheduled or manual run. `instance_ids` None means every tagged instance."""

    run_id: str
    dry_run: bool
    instance_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ContinuedRun:
    """The next invocation of a large run (sent by the function to itself): instances after `after`."""

    run_id: str
    dry_run: bool
    instance_ids: tuple[str, ...] | None
    after: str
    invocation: int
    failures: tuple[tuple[str, str], ...] = ()

    def as_payload(self) -> dict[str, Any]:
        """The event that starts this invocation (what `parse_event` reads back as this run)."""
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


@dataclass(frozen=True)
class SnapshotsCompleted:
    """A completion event: copy `snapshot_ids` to DR, or report `failures` when the creation failed."""

    run_id: str
    snapshot_ids: tuple[str, ...]
    failed: bool = False
    cause: str = ""


@dataclass(frozen=True)
class CopyCompleted:
    """(v2) A copy-completion event of a region (the handler acts on those of `DR_REGION` only)."""

    run_id: str
    copy_snapshot_id: str
    region: str
    succeeded: bool
    cause: str = ""


@dataclass(frozen=True)
class ReconcileCopies:
    """(v2) `{"reconcile_copies": true}`: start owed copies into free slots, nothing else."""

    run_id: str


@dataclass(frozen=True)
class Ignored:
    """An event the function has nothing to do for (another EC2 event, say)."""

    run_id: str
    reason: str


def snapshot_id_from_arn(arn: str) -> str:
    """`snap-...` from a snapshot ARN (EBS events use both `arn:aws:ec2::region:` and `arn:aws:ec2:region::`)."""
    match = SNAPSHOT_ID_RE.search(arn or "")
    if not match:
        raise ValidationError(f"not a snapshot ARN: {arn!r}", field="detail.snapshot_id")
    return match.group(0)


def _event_run_id(event: Mapping[str, Any]) -> str:
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > RUN_ID_MAX:
        raise ValidationError("the event has no usable `id`", field="id")
    return event_id.strip()


def copy_completed(event: Mapping[str, Any], detail: Mapping[str, Any], run_id: str) -> CopyCompleted:
    """A copySnapshot event (the backup's DR copies, and the vault's own copies): which copy, where, and
    whether it succeeded (with the cause when it did not)."""
    succeeded = detail.get("result") == "succeeded"
    return CopyCompleted(
        run_id,
        snapshot_id_from_arn(str(detail.get("snapshot_id", ""))),
        str(event.get("region") or ""),
        succeeded,
        "" if succeeded else str(detail.get("cause") or f"result {detail.get('result')!r}"),
    )


def _completion(event: Mapping[str, Any]) -> SnapshotsCompleted | CopyCompleted | Ignored:
    run_id = _event_run_id(event)
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ValidationError("the EC2 event has no `detail` object", field="detail")
    if detail.get("event") == COPY_EVENT and event.get("detail-type") == SNAPSHOT_DETAIL_TYPE:
        return copy_completed(event, detail, run_id)
    if detail.get("event") not in COMPLETION_EVENTS:
        return Ignored(run_id, f"EC2 event {detail.get('event')!r} needs no action")
    if event.get("detail-type") == MULTI_VOLUME_DETAIL_TYPE:
        items = detail.get("snapshots")
        if not isinstance(items, list):
            raise ValidationError("the event has no `detail.snapshots` list", field="detail.snapshots")
        arns = [item.get("snapshot_id", "") if isinstance(item, Mapping) else "" for item in items]
    else:
        arns = [detail.get("snapshot_id", "")]
    ids = tuple(dict.fromkeys(snapshot_id_from_arn(arn) for arn in arns))
    failed = detail.get("result") != "succeeded"
    cause = str(detail.get("cause") or f"result {detail.get('result')!r}") if failed else ""
    return SnapshotsCompleted(run_id, ids, failed=failed, cause=cause)


def _manual(event: Mapping[str, Any], request_id: str | None, default_dry_run: bool) -> FullRun:
    unknown = sorted(set(event) - MANUAL_FIELDS)
    if unknown:
        raise ValidationError(
            f"unknown field {unknown[0]!r}: a manual run accepts only dry_run and instance_ids",
            field=unknown[0],
        )
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be a JSON boolean", field="dry_run")
    instance_ids = None
    if "instance_ids" in event:
        raw = event["instance_ids"]
        if not isinstance(raw, list) or not raw or len(raw) > MAX_MANUAL_INSTANCES:
            raise ValidationError(
                f"instance_ids must be a non-empty list of at most {MAX_MANUAL_INSTANCES} instance ids",
                field="instance_ids",
            )
        for item in raw:
            if not isinstance(item, str) or not INSTANCE_ID_RE.match(item):
                raise ValidationError(f"not an instance id: {item!r}", field="instance_ids")
        instance_ids = tuple(sorted(set(raw)))
    # Lambda retries a failed asynchronous invocation with the same request id: the same run, no second set.
    run_id = f"manual-{request_id or uuid.uuid4()}"
    return FullRun(run_id, dry_run or default_dry_run, instance_ids)


def _continued(raw: Any) -> ContinuedRun:
    if not isinstance(raw, Mapping):
        raise ValidationError("continuation must be an object", field="continuation")
    run_id, after, invocation = raw.get("run_id"), raw.get("after"), raw.get("invocation")
    if not isinstance(run_id, str) or not run_id or len(run_id) > RUN_ID_MAX:
        raise ValidationError("continuation.run_id must be a run id", field="continuation.run_id")
    if not isinstance(after, str) or not INSTANCE_ID_RE.match(after):
        raise ValidationError("continuation.after must be an instance id", field="continuation.after")
    if not isinstance(invocation, int) or isinstance(invocation, bool) or invocation < 1:
        raise ValidationError(
            "continuation.invocation must be a positive integer", field="continuation.invocation"
        )
    dry_run = raw.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("continuation.dry_run must be a boolean", field="continuation.dry_run")
    ids = raw.get("instance_ids")
    if ids is not None and (
        not isinstance(ids, list) or not all(isinstance(i, str) and INSTANCE_ID_RE.match(i) for i in ids)
    ):
        raise ValidationError(
            "continuation.instance_ids must list instance ids", field="continuation.instance_ids"
        )
    failures = raw.get("failures") or []
    if not isinstance(failures, list) or not all(
        isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f) for f in failures
    ):
        raise ValidationError(
            "continuation.failures must be [resource, error] pairs", field="continuation.failures"
        )
    return ContinuedRun(
        run_id,
        dry_run,
        tuple(ids) if ids is not None else None,
        after,
        invocation,
        tuple((f[0], f[1]) for f in failures),
    )


def parse_event(
    event: Any, request_id: str | None = None, default_dry_run: bool = False
) -> FullRun | ContinuedRun | SnapshotsCompleted | CopyCompleted | ReconcileCopies | Ignored:
    """The request an event carries. Raises ValidationError (with the field) for anything else."""
    if not isinstance(event, Mapping):
        raise ValidationError("the event must be a JSON object", field=None)
    if RECONCILE_FIELD in event:
        if set(event) != {RECONCILE_FIELD} or event[RECONCILE_FIELD] is not True:
            raise ValidationError(
                'a reconciliation is exactly {"reconcile_copies": true}', field=RECONCILE_FIELD
            )
        return ReconcileCopies(f"reconcile-{request_id or uuid.uuid4()}")
    source = event.get("source")
    if source == "aws.events" and event.get("detail-type") == SCHEDULED_DETAIL_TYPE:
        return FullRun(_event_run_id(event), default_dry_run)
    if source == "aws.ec2" and event.get("detail-type") in (MULTI_VOLUME_DETAIL_TYPE, SNAPSHOT_DETAIL_TYPE):
        return _completion(event)
    if set(event) == {"continuation"}:
        return _continued(event["continuation"])
    if source is not None or "detail-type" in event:
        raise ValidationError(
            f"unsupported event: source {source!r}, detail-type {event.get('detail-type')!r}", field="source"
        )
    return _manual(event, request_id, default_dry_run)
