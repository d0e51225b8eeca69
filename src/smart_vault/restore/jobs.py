"""Restore jobs in DynamoDB (`RESTORE_JOBS_TABLE`: partition key `restore_id`, TTL attribute `expires_at`).

The API writes a job `PENDING` before it invokes the worker; the worker claims it (`RUNNING`) with a lease,
records every step, and finishes it `SUCCEEDED` or `FAILED`. Every write after the claim is conditional on
the worker still holding the lease and the job still `RUNNING`, so two workers racing on one restore id can
never both act, and a finished job is never changed again. A lease ends at its worker's Lambda deadline, so
a worker retried after a crash can take the job over once the crashed one can no longer be running.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from smart_vault import aws
from smart_vault.errors import AwsError, SmartVaultError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING, RUNNING, SUCCEEDED, FAILED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED"
FINISHED_STATES = frozenset({SUCCEEDED, FAILED})
# A step a crashed or timed-out attempt left running: it never finished.
INTERRUPTED = "INTERRUPTED"
# Jobs stay readable through GET for a month, then DynamoDB's TTL removes them.
JOB_RETENTION = timedelta(days=30)
PUBLIC_FIELDS = (
    "restore_id",
    "status",
    "region",
    "request",
    "volume_id",
    "instance_id",
    "steps",
    "error",
    "created_at",
    "updated_at",
    "mode",
    "backup_set_id",
    "volume_ids",
    "image_id",
    "warnings",
)
# A job that no worker can still be working on: Lambda retries the worker's asynchronous invocation until the
# event is `maximum_event_age_in_seconds` old, and that last attempt may run for the worker's whole timeout
# (modules/restore_stack: 3600 s and 900 s; tests/restore/test_restore_jobs.py keeps them equal), a minute
# more for the clocks. Until then a PENDING or RUNNING job may still finish; after it, it never will.
WORKER_EVENT_AGE = timedelta(seconds=3600)
WORKER_TIMEOUT = timedelta(seconds=900)
ABANDONED_AFTER = WORKER_EVENT_AGE + WORKER_TIMEOUT + timedelta(minutes=1)
ABANDONED_ERROR = (
    "the restore worker stopped without finishing: every attempt timed out or crashed (the failed invocation is"
    " in the worker's dead-letter queue, <name_prefix>-restore-worker-dlq); what it had created is named in"
    " the job and was not rolled back"
)
UNSTARTED_ERROR = (
    "no restore worker ever started on this job: its invocation was lost, or expired unrun (throttled for an"
    " hour); nothing was created. Send the request again"
)
VOLUME_MODE, INSTANCE_MODE = "volume", "instance"
MODES = frozenset({VOLUME_MODE, INSTANCE_MODE})
_CONDITION_FAILED = "ConditionalCheckFailedException"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Job = dict[str, Any]


# A job no worker holds: never claimed, or claimed by a worker whose lease has ended.
_UNHELD = (
    "#status = :pending OR (#status = :running AND "
    "(attribute_not_exists(#lease_expires_at) OR #lease_expires_at < :now_epoch))"
)


def _unheld_values(now: datetime) -> dict[str, Any]:
    return {":pending": PENDING, ":running": RUNNING, ":now_epoch": int(now.timestamp())}


class LeaseLost(SmartVaultError):
    """Another worker holds the job, or it is no longer RUNNING: this worker must stop touching it."""


def iso_time(moment: datetime) -> str:
    """ISO 8601 UTC with a `Z`, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def job_time(value: str) -> datetime:
    """A time the job records (`iso_time`'s form, a `Z` for UTC) as a datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def interrupted(steps: Sequence[dict[str, Any]] | None, now: datetime) -> list[dict[str, Any]]:
    """The steps, each one an attempt that ended left RUNNING shown INTERRUPTED (it never finished)."""
    return [
        {**step, "status": INTERRUPTED, "finished_at": iso_time(now)}
        if step.get("status") == RUNNING
        else step
        for step in steps or []
    ]


def new_job(
    restore_id: str,
    region: str,
    request: dict[str, Any],
    now: datetime,
    *,
    mode: str = VOLUME_MODE,
    backup_set_id: str | None = None,
    warnings: Sequence[str] = (),
) -> Job:
    """A PENDING job for a validated, pre-checked request (for an instance job: the resolved request)."""
    if mode not in MODES:
        raise ValueError(f"not a restore mode: {mode}")
    stamp = iso_time(now)
    return {
        "restore_id": restore_id,
        "status": PENDING,
        "mode": mode,
        "region": region,
        "request": dict(request),
        "backup_set_id": backup_set_id,
        "volume_id": None,
        "volume_ids": [],
        "instance_id": None,
        "image_id": None,
        "steps": [],
        "warnings": list(warnings),
        "error": None,
        "created_at": stamp,
        "updated_at": stamp,
        "expires_at": int((now + JOB_RETENTION).timestamp()),
    }


def abandoned(job: Job, now: datetime) -> bool:
    """Whether `job` is unfinished although no worker can still be working on it (`ABANDONED_AFTER`)."""
    if job.get("status") not in (PENDING, RUNNING):
        return False
    lease = job.get("lease_expires_at")
    return now - job_time(job["created_at"]) > ABANDONED_AFTER and (
        lease is None or int(lease) < now.timestamp()
    )


def public_view(job: Job) -> Job:
    """The job as `GET /restore/{id}` and the notification show it: the contract's fields only.

    Jobs written before v2 have no `mode` (they are volume restores) and none of the v2 fields;
    `volume_id` and `volume_ids` are kept consistent whichever of the two the worker saved.
    """
    view = {name: job.get(name) for name in PUBLIC_FIELDS}
    volume_ids = list(job.get("volume_ids") or ([job["volume_id"]] if job.get("volume_id") else []))
    return view | {
        "mode": job.get("mode") or VOLUME_MODE,
        "steps": list(job.get("steps") or []),
        "volume_id": job.get("volume_id") or (volume_ids[0] if volume_ids else None),
        "volume_ids": volume_ids,
        "warnings": list(job.get("warnings") or []),
    }


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def _from_item(item: dict[str, Any]) -> Job:
    job = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return _plain(job)


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; jobs are JSON documents, so turn them into ints."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class RestoreJobStore:
    """Reads and conditionally writes restore jobs. Takes its DynamoDB client (default: `aws.client`)."""

    def __init__(self, table_name: str, dynamodb_client: DynamoDBClient | None = None):
        self.table_name = table_name
        self._dynamodb = dynamodb_client or aws.client("dynamodb")

    def create(self, job: Job) -> None:
        """Write a new job; a restore id is never reused."""
        with aws.aws_errors("PutItem"):
            self._dynamodb.put_item(
                TableName=self.table_name,
                Item=_to_item(job),
                ConditionExpression="attribute_not_exists(restore_id)",
            )

    def get(self, restore_id: str) -> Job | None:
        with aws.aws_errors("GetItem"):
            response = self._dynamodb.get_item(
                TableName=self.table_name, Key=_to_item({"restore_id": restore_id}), ConsistentRead=True
            )
        item = response.get("Item")
        return _from_item(item) if item else None

    def claim(self, restore_id: str, owner: str, now: datetime, lease_until: datetime) -> Job | None:
        """Take the job for this worker until `lease_until`, or None when it is finished or held by another
        worker whose lease has not ended."""
        try:
            return self._update(
                restore_id,
                set_values={
                    "status": RUNNING,
                    "lease_owner": owner,
                    "lease_expires_at": int(lease_until.timestamp()),
                    "updated_at": iso_time(now),
                },
                condition=_UNHELD,
                condition_values=_unheld_values(now),
                extra_names=("lease_expires_at",),
                increment="attempts",
            )
        except LeaseLost:
            return None

    def record(self, restore_id: str, owner: str, values: dict[str, Any], now: datetime) -> Job:
        """Save progress (steps, resource ids) while this worker holds the job. Raises LeaseLost otherwise."""
        return self._update(
            restore_id,
            set_values={**values, "updated_at": iso_time(now)},
            condition="#status = :running AND #lease_owner = :owner",
            condition_values={":running": RUNNING, ":owner": owner},
            extra_names=("lease_owner",),
        )

    def finish(self, restore_id: str, owner: str, status: str, values: dict[str, Any], now: datetime) -> Job:
        """Move the job to SUCCEEDED or FAILED, once. Raises LeaseLost when another worker finished it."""
        if status not in FINISHED_STATES:
            raise ValueError(f"not a final status: {status}")
        return self._update(
            restore_id,
            set_values={**values, "status": status, "updated_at": iso_time(now)},
            condition="#status = :running AND #lease_owner = :owner",
            condition_values={":running": RUNNING, ":owner": owner},
            extra_names=("lease_owner",),
            remove=("lease_expires_at",),
        )

    def release(self, restore_id: str, owner: str, now: datetime) -> None:
        """End this worker's lease early (it is giving up), so that a retry can take the job at once."""
        try:
            self._update(
                restore_id,
                set_values={"lease_expires_at": int(now.timestamp()) - 1, "updated_at": iso_time(now)},
                condition="#status = :running AND #lease_owner = :owner",
                condition_values={":running": RUNNING, ":owner": owner},
                extra_names=("lease_owner",),
            )
        except (LeaseLost, AwsError):
            pass  # nothing to release, or the table is unreachable: the lease then simply runs out

    def fail_unstarted(self, restore_id: str, error: str, now: datetime) -> None:
        """Mark a job that no worker ever picked up as FAILED (the API could not start the worker)."""
        try:
            self._update(
                restore_id,
                set_values={"status": FAILED, "error": error, "updated_at": iso_time(now)},
                condition="#status = :pending",
                condition_values={":pending": PENDING},
            )
        except LeaseLost:
            pass  # a worker got to it after all: its outcome stands

    def fail_abandoned(self, job: Job, now: datetime) -> tuple[Job, bool]:
        """Finish as FAILED a job that no worker can still finish (`abandoned`), a step left running shown
        INTERRUPTED; the job as it then stands (a worker's own outcome, should one have got there first), and
        whether this call finished it (once, whoever asks: the caller that did reports it)."""
        try:
            failed = self._update(
                job["restore_id"],
                set_values={
                    "status": FAILED,
                    "error": UNSTARTED_ERROR if job.get("status") == PENDING else ABANDONED_ERROR,
                    "steps": interrupted(job.get("steps"), now),
                    "updated_at": iso_time(now),
                },
                condition=_UNHELD,
                condition_values=_unheld_values(now),
                remove=("lease_expires_at",),
            )
        except LeaseLost:
            return self.get(job["restore_id"]) or job, False
        return failed, True

    def _update(
        self,
        restore_id: str,
        *,
        set_values: dict[str, Any],
        condition: str,
        condition_values: dict[str, Any],
        extra_names: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
        increment: str | None = None,
    ) -> Job:
        names = {"#status": "status"} | {f"#{name}": name for name in (*extra_names, *remove)}
        values = dict(condition_values)
        assignments = []
        for index, (name, value) in enumerate(sorted(set_values.items())):
            names[f"#f{index}"] = name
            values[f":v{index}"] = value
            assignments.append(f"#f{index} = :v{index}")
        if increment:
            names["#inc"] = increment
            values[":zero"], values[":one"] = 0, 1
            assignments.append("#inc = if_not_exists(#inc, :zero) + :one")
        expression = "SET " + ", ".join(assignments)
        if remove:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in remove)
        try:
            with aws.aws_errors("UpdateItem"):
                response = self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key=_to_item({"restore_id": restore_id}),
                    UpdateExpression=expression,
                    ConditionExpression=f"attribute_exists(restore_id) AND ({condition})",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=_to_item(values),
                    ReturnValues="ALL_NEW",
                )
        except AwsError as exc:
            if exc.code == _CONDITION_FAILED:
                raise LeaseLost(f"restore {restore_id} is not in a state this write expects") from None
            raise
        return _from_item(response["Attributes"])
