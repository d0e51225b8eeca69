"""The restore worker: turns a PENDING restore job into a volume (and an instance with it attached).

Invoked asynchronously by the API with `{"restore_id": ...}`. It claims the job with a lease, creates the
volume and launches the instance at the same time, waits for both, attaches, waits for `in-use`, records
every step on the job, rolls back on failure unless `keep_on_failure`, then finishes the job and publishes
one notification. Finished jobs and jobs held by a live worker are left alone, so Lambda's retries and
duplicate invocations are harmless.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smart_vault import aws, notify
from smart_vault.config import RestoreWorkerSettings
from smart_vault.errors import AwsError, ValidationError
from smart_vault.observability import MetricUnit, logger, metrics, trace, trace_handler
from smart_vault.restore.instance import InstancePlan, InstanceRestore, remove_restore
from smart_vault.restore.jobs import (
    FAILED,
    FINISHED_STATES,
    RUNNING,
    SUCCEEDED,
    Job,
    LeaseLost,
    RestoreJobStore,
    iso_time,
    public_view,
)
from smart_vault.restore.steps import (
    Deadline,
    attach_volume,
    create_volume,
    launch_instance,
    wait_for,
    wait_volume_usable,
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
INTERRUPTED = "INTERRUPTED"

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
        self.steps: list[dict[str, Any]] = []
        # Steps an earlier, crashed attempt left running never finished: say so instead of leaving them open.
        for step in job.get("steps") or []:
            if step.get("status") == RUNNING:
                step = {**step, "status": INTERRUPTED, "finished_at": iso_time(clock())}
            self.steps.append(step)
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


class RestoreRun:
    """One attempt at one restore job, holding its lease."""

    def __init__(self, job: Job, ec2: EC2Client, log: StepLog, deadline: Deadline):
        self.job = job
        self.request = job["request"]
        self.ec2 = ec2
        self.log = log
        self.deadline = deadline
        self.volume_id: str | None = job.get("volume_id")
        self.instance_id: str | None = job.get("instance_id")
        # What this attempt created: EC2 may not show it yet, so a rollback must not take NotFound as gone.
        self.fresh: set[str] = set()

    def _volume_branch(self) -> None:
        with self.log.step("create_volume"):
            recorded = self.volume_id
            self.volume_id = create_volume(self.ec2, self.job["restore_id"], self.request)
            if self.volume_id != recorded:
                self.fresh.add(self.volume_id)
            self.log.save(volume_id=self.volume_id)
        with self.log.step("wait_volume_available"):
            wait_volume_usable(self.ec2, self.volume_id, self.deadline.budget())

    def _instance_branch(self) -> None:
        with self.log.step("launch_instance"):
            recorded = self.instance_id
            self.instance_id = launch_instance(self.ec2, self.job["restore_id"], self.request)
            if self.instance_id != recorded:
                self.fresh.add(self.instance_id)
            self.log.save(instance_id=self.instance_id)
        with self.log.step("wait_instance_running"):
            wait_for(self.ec2, "instance_running", self.deadline.budget(), InstanceIds=[self.instance_id])

    @trace
    def execute(self) -> None:
        """Run the steps; raises StepFailed (or LeaseLost) on the first failure, after both branches end."""
        branches = [self._volume_branch]
        if self.request.get("launch_instance"):
            branches.append(self._instance_branch)
        # Creating a volume and booting an instance each take tens of seconds: do them side by side.
        with ThreadPoolExecutor(max_workers=len(branches), thread_name_prefix="restore") as pool:
            futures = [pool.submit(branch) for branch in branches]
            errors = [future.exception() for future in futures]
        for error in errors:
            if isinstance(error, LeaseLost):
                raise error
        for error in errors:
            if error is not None:
                raise error
        if not self.request.get("launch_instance"):
            return
        if self.volume_id is None or self.instance_id is None:  # both branches succeeded: both are set
            raise RuntimeError("the restore branches ended without a volume or an instance")
        with self.log.step("attach_volume"):
            attach_volume(self.ec2, self.volume_id, self.instance_id, self.request["device_name"])
        with self.log.step("wait_volume_in_use"):
            wait_for(self.ec2, "volume_in_use", self.deadline.budget(), VolumeIds=[self.volume_id])

    def roll_back(self) -> str | None:
        """Remove what this restore created; a readable note of what was left behind, or None."""
        if not (self.volume_id or self.instance_id):
            return None
        problems: list[str] = []
        try:
            with self.log.step("rollback"):
                # The same removal as a full-instance restore's: by id and by the restore's tag, with
                # NotFound retried for what this attempt just created.
                problems = remove_restore(
                    self.ec2,
                    self.job["restore_id"],
                    instance_id=self.instance_id,
                    image_id=None,
                    volume_ids=[self.volume_id] if self.volume_id else [],
                    deadline=self.deadline,
                    fresh_ids=frozenset(self.fresh),
                )
                if problems:
                    raise RuntimeError("; ".join(problems))
        except StepFailed as exc:
            return "rollback incomplete: " + ("; ".join(problems) or str(exc))
        return None


class InstanceRun:
    """One attempt at a full-instance restore job: the engine in `restore.instance`, recorded on the job."""

    def __init__(self, job: Job, ec2: EC2Client, log: StepLog, deadline: Deadline):
        self.job = job
        self.engine = InstanceRestore(
            ec2, InstancePlan.from_request(job["restore_id"], job["request"]), log, deadline
        )
        self.log = log

    @property
    def volume_id(self) -> str | None:
        return self.engine.volume_ids[0] if self.engine.volume_ids else None

    @property
    def instance_id(self) -> str | None:
        return self.engine.instance_id

    def execute(self) -> None:
        self.engine.execute()

    def result_fields(self) -> dict[str, Any]:
        warnings = [*(self.job.get("warnings") or []), *self.engine.warnings]
        return {
            "instance_id": self.engine.instance_id,
            "image_id": self.engine.image_id,
            "volume_ids": list(self.engine.volume_ids),
            "volume_id": self.volume_id,
            "warnings": list(dict.fromkeys(warnings)),
        }

    def roll_back(self) -> str | None:
        problems: list[str] = []
        try:
            with self.log.step("rollback"):
                problems = self.engine.roll_back()
                if problems:
                    raise RuntimeError("; ".join(problems))
        except StepFailed as exc:
            return "rollback incomplete: " + ("; ".join(problems) or str(exc))
        return None


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
    created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
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
    reserve = min(most, seconds_left / 4)
    deadline = Deadline(seconds_left=seconds_left, reserve_seconds=reserve)
    ec2 = ec2 or aws.client("ec2", claimed["region"])
    try:
        log = StepLog(store, claimed, owner, clock)
        run: RestoreRun | InstanceRun
        if claimed.get("mode") == "instance":
            run = InstanceRun(claimed, ec2, log, deadline)
        else:
            run = RestoreRun(claimed, ec2, log, deadline)
        status, error = SUCCEEDED, None
        try:
            run.execute()
        except StepFailed as exc:
            status, error = FAILED, str(exc)
            logger.warning("restore step failed", extra={"restore_id": restore_id, "error": error})
            if not claimed["request"].get("keep_on_failure"):
                left_behind = run.roll_back()
                if left_behind:
                    error = f"{error}; {left_behind}"
        finished_at = clock()
        if isinstance(run, InstanceRun):
            result = run.result_fields()
        else:
            result = {"volume_id": run.volume_id, "instance_id": run.instance_id}
            result["volume_ids"] = [run.volume_id] if run.volume_id else []
        job = store.finish(restore_id, owner, status, {**log.fields, **result, "error": error}, finished_at)
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
    logger.info("restore finished", extra={"restore_id": restore_id, "status": status})
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
