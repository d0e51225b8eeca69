"""The restore worker: turns a PENDING restore job into a volume (and an instance with it attached), or into
a whole instance.

Invoked asynchronously by the API with `{"restore_id": ...}`. It claims the job with a lease, runs the
restore engine's attempt for the job's form (`restore.engine`: `VolumeRestore` or `InstanceRestore`),
records every step on the job, rolls back on failure unless `keep_on_failure`, then finishes the job and
publishes one notification. Finished jobs and jobs held by a live worker are left alone, so Lambda's retries and
duplicate invocations are harmless.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smart_vault import aws, notify
from smart_vault.config import RestoreWorkerSettings
from smart_vault.errors import AwsError, ValidationError
from smart_vault.observability import MetricUnit, logger, metrics, trace, trace_handler
from smart_vault.restore.engine import (
    Deadline,
    InstancePlan,
    InstanceRestore,
    RestoreAttempt,
    VolumePlan,
    VolumeRestore,
)
from smart_vault.restore.jobs import (
    FAILED,
    FINISHED_STATES,
    RUNNING,
    SUCCEEDED,
    Job,
    LeaseLost,
    RestoreJobStore,
    interrupted,
    iso_time,
    job_time,
    public_view,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_sns import SNSClient

EVENT_TYPE = "restore.completed"
RESTORE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Outside Lambda (local stack, CLI) there is no context: assume Lambda's longest timeout.
DEFAULT_SECONDS_LEFT = 900.0
# Kept back from the waits for rollback and the final writes; a quarter of the time on short timeouts.
MAX_RESERVE_SECONDS = 60.0
# A full-instance rollback waits for the instance to terminate (about a minute) before deleting its volumes.
MAX_INSTANCE_RESERVE_SECONDS = 180.0
# A lease outlives its worker's deadline a little, for clock skew between Lambda hosts.
LEASE_SLACK = timedelta(seconds=5)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def readable_error(exc: BaseException) -> str:
    if isinstance(exc, AwsError):
        return exc.readable()
    return str(exc) or type(exc).__name__


class StepFailed(Exception):
    def __init__(self, step: str, cause: BaseException):
        super().__init__(f"{step} failed: {readable_error(cause)}")
        self.step = step


class StepLog:
    """The job's step list, saved to the job store at every change (from either worker thread)."""

    def __init__(self, store: RestoreJobStore, job: Job, owner: str, clock: Clock):
        self._store = store
        self._restore_id = job["restore_id"]
        self._owner = owner
        self._clock = clock
        self._lock = threading.Lock()
        # Steps an earlier, crashed attempt left running never finished: say so instead of leaving them open.
        self.steps: list[dict[str, Any]] = interrupted(job.get("steps"), clock())
        self.fields: dict[str, Any] = {"steps": self.steps}
        self.save()

    def save(self, **fields: Any) -> None:
        with self._lock:
            self.fields.update(fields)
            self._store.record(self._restore_id, self._owner, dict(self.fields), self._clock())

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        record = {"name": name, "status": RUNNING, "started_at": iso_time(self._clock()), "finished_at": None}
        with self._lock:
            self.steps.append(record)
        self.save()
        try:
            yield
        except LeaseLost:
            raise
        except Exception as exc:
            self._close(record, FAILED)
            raise StepFailed(name, exc) from exc
        self._close(record, SUCCEEDED)

    def _close(self, record: dict[str, Any], status: str) -> None:
        with self._lock:
            record.update(status=status, finished_at=iso_time(self._clock()))
        self.save()


def start_attempt(job: Job, ec2: EC2Client, log: StepLog, deadline: Deadline) -> RestoreAttempt:
    """The engine's attempt at this job: a full-instance restore, or the volume form resuming from what the
    job recorded."""
    restore_id, request = job["restore_id"], job["request"]
    if job.get("mode") == "instance":
        return InstanceRestore(ec2, InstancePlan.from_request(restore_id, request), log, deadline)
    attempt = VolumeRestore(ec2, VolumePlan.from_request(restore_id, request), log, deadline)
    return attempt.resume(job.get("volume_id"), job.get("instance_id"))


def roll_back(attempt: RestoreAttempt, log: StepLog) -> str | None:
    """Remove what the attempt created, as a `rollback` step; a readable note of what was left, or None."""
    if not attempt.needs_rollback():
        return None
    problems: list[str] = []
    try:
        with log.step("rollback"):
            problems = attempt.roll_back()
            if problems:
                raise RuntimeError("; ".join(problems))
    except StepFailed as exc:
        return "rollback incomplete: " + ("; ".join(problems) or str(exc))
    return None


def result_fields(job: Job, attempt: RestoreAttempt) -> dict[str, Any]:
    """What the finished job records of the attempt (the instance form's warnings join the job's)."""
    fields = attempt.result_fields()
    if job.get("mode") == "instance":
        warnings = [*(job.get("warnings") or []), *attempt.warnings]
        fields["warnings"] = list(dict.fromkeys(warnings))
    return fields


def _summary(job: Job) -> str:
    request = job.get("request") or {}
    if job.get("mode") == "instance":
        source = f"Instance {request.get('instance_id')}, recovery point {job.get('backup_set_id')}"
    else:
        source = f"Snapshot: {request.get('snapshot_id')}"
    lines = [
        f"Smart Vault restore {job['restore_id']}: {job['status']}",
        f"{source} in {job.get('region')}",
        f"Volume: {job.get('volume_id') or '-'}",
        f"Instance: {job.get('instance_id') or '-'}",
    ]
    for warning in job.get("warnings") or []:
        lines.append(f"Warning: {warning}")
    if job.get("error"):
        lines.append(f"Error: {job['error']}")
    lines.append("Steps:")
    lines.extend(f"  {s['name']}: {s['status']}" for s in job.get("steps") or [])
    return "\n".join(lines)


def _emit_metrics(job: Job, finished_at: datetime) -> None:
    name = "RestoreSucceeded" if job["status"] == SUCCEEDED else "RestoreFailed"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    created = job_time(job["created_at"])
    duration = max((finished_at - created).total_seconds(), 0.0)
    metrics.add_metric(name="RestoreDurationSeconds", unit=MetricUnit.Seconds, value=duration)


def _notify(job: Job, settings: RestoreWorkerSettings, sns_client: SNSClient | None) -> None:
    document = public_view(job)
    try:
        notify.publish(
            settings.sns_topic_arn,
            notify.subject_line("restore", job["restore_id"], job["status"]),
            _summary(document),
            document,
            EVENT_TYPE,
            sns_client=sns_client,
        )
    except AwsError as exc:
        # The job already says how the restore ended; a lost notification must not turn it into a failure.
        logger.error(
            "restore notification failed", extra={"restore_id": job["restore_id"], "error": str(exc)}
        )


def _execute(
    claimed: Job, owner: str, store: RestoreJobStore, ec2: EC2Client, deadline: Deadline, clock: Clock
) -> tuple[Job, datetime]:
    """Run the claimed job's attempt, roll back a failure unless `keep_on_failure`, finish the job: the job
    as finished, and when. LeaseLost (another worker took over) and defects propagate."""
    restore_id = claimed["restore_id"]
    log = StepLog(store, claimed, owner, clock)
    attempt = start_attempt(claimed, ec2, log, deadline)
    status, error = SUCCEEDED, None
    try:
        attempt.execute()
    except StepFailed as exc:
        status, error = FAILED, str(exc)
        logger.warning("restore step failed", extra={"restore_id": restore_id, "error": error})
        if not claimed["request"].get("keep_on_failure"):
            left_behind = roll_back(attempt, log)
            if left_behind:
                error = f"{error}; {left_behind}"
    finished_at = clock()
    fields = {**log.fields, **result_fields(claimed, attempt), "error": error}
    return store.finish(restore_id, owner, status, fields, finished_at), finished_at


@trace
def run_restore(
    restore_id: str,
    settings: RestoreWorkerSettings,
    *,
    store: RestoreJobStore,
    seconds_left: float,
    ec2: EC2Client | None = None,
    sns_client: SNSClient | None = None,
    clock: Clock = _utc_now,
) -> Job | None:
    """Run (or resume) one restore job. Returns the job as it stands afterwards, None if there is none."""
    job = store.get(restore_id)
    if job is None:
        logger.error("restore job not found", extra={"restore_id": restore_id})
        return None
    if job["status"] in FINISHED_STATES:
        logger.info("restore already finished; nothing to do", extra={"restore_id": restore_id})
        return public_view(job)
    now = clock()
    owner = str(uuid.uuid4())
    claimed = store.claim(restore_id, owner, now, now + timedelta(seconds=seconds_left) + LEASE_SLACK)
    if claimed is None:
        logger.info(
            "restore held by another worker or finished; nothing to do", extra={"restore_id": restore_id}
        )
        return public_view(store.get(restore_id) or job)
    most = MAX_INSTANCE_RESERVE_SECONDS if claimed.get("mode") == "instance" else MAX_RESERVE_SECONDS
    deadline = Deadline(seconds_left=seconds_left, reserve_seconds=min(most, seconds_left / 4))
    ec2 = ec2 or aws.client("ec2", claimed["region"])
    try:
        job, finished_at = _execute(claimed, owner, store, ec2, deadline, clock)
    except LeaseLost:
        logger.warning("restore taken over by another worker; stopping", extra={"restore_id": restore_id})
        return public_view(store.get(restore_id) or claimed)
    except Exception:
        # Lambda retries the invocation in a minute or two: let that retry take the job over at once
        # instead of waiting for this invocation's lease to run out.
        logger.exception(
            "restore worker failed unexpectedly; releasing the job", extra={"restore_id": restore_id}
        )
        store.release(restore_id, owner, clock())
        raise
    logger.info("restore finished", extra={"restore_id": restore_id, "status": job["status"]})
    _emit_metrics(job, finished_at)
    _notify(job, settings, sns_client)
    return public_view(job)


def _restore_id_of(event: Any) -> str:
    restore_id = event.get("restore_id") if isinstance(event, dict) else None
    if not isinstance(restore_id, str) or not RESTORE_ID_RE.match(restore_id):
        raise ValidationError(f"expected {{'restore_id': <uuid>}}, got {event!r}"[:300], field="restore_id")
    return restore_id


@logger.inject_lambda_context
@metrics.log_metrics
@trace_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    settings = RestoreWorkerSettings.from_env()
    restore_id = _restore_id_of(event)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    seconds_left = remaining_ms() / 1000 if remaining_ms else DEFAULT_SECONDS_LEFT
    store = RestoreJobStore(settings.restore_jobs_table)
    return run_restore(restore_id, settings, store=store, seconds_left=seconds_left)
