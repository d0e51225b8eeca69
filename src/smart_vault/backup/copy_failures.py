"""(v3) Repeated DR copy failures, backed off: 3 in a row for one primary, then at most one try every 6 hours.

A copy that fails for good (a key the DR region cannot use, a primary EBS cannot read) would otherwise be
claimed and started again by every reconciliation, every 30 minutes, each leaving an `error` snapshot. Each
failure is recorded once in the copy ledger, one item per primary in its own partition:

    pk = "copy-failures", sk = "snap-1"
    failures (N), last_copy (S: the failed copy counted last), failed_at (N, epoch s), expires_at (TTL),
    retry_at (N, epoch s: the retry claimed last under the back-off; 0 after each failure)

A failure is seen by the copy-completion event (`failed`), by a reconciliation that finds the copy in `error`
(the event may be lost), or as a refusal of `CopySnapshot` itself. `record_failure` counts a failed copy once
whoever sees it first (`last_copy`, with an optimistic write on what was read); only the newest `error` copy
of a primary is offered, and a new copy starts only after the previous failure was recorded, so every
failed copy is counted exactly once. The whole partition is one Query per invocation (a few items: only
primaries that failed), and `blocked_primaries` says which may not be tried now.

That read is a snapshot: invocations overlap (the daily run, the reconciliations, the completion events
filling slots from the owed queue, which may hold an entry queued before the third failure), so deciding
from it alone let two of them each start a copy of a primary backed off meanwhile. Hence `claim_retry`: a
copy of a primary that has a failure record starts only after a conditional write on that record, which
holds only while the back-off allows a try and no other invocation claimed the same retry; at most one
invocation wins each 6-hour slot.

A success needs no reset: a primary whose copy completed is marked `smart-vault:dr-copied` and never copied
again. A lost item (TTL, deleted by hand) costs at most three more tries before the back-off holds again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import ERROR

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FAILURES_PK = "copy-failures"
# The contract's back-off: after this many failures in a row, at most one try every BACKOFF_SECONDS.
BACKOFF_AFTER_FAILURES = 3
BACKOFF_SECONDS = 6 * 3600
# A failure record outlives any back-off it drives (refreshed at every failure).
RECORD_TTL_SECONDS = 30 * 86400
_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class FailureRecord:
    snapshot_id: str
    failures: int
    failed_at: float
    last_copy: str


def may_retry(record: FailureRecord | None, now: float) -> bool:
    """Pure: whether a copy of this primary may start at `now` (epoch seconds)."""
    if record is None or record.failures < BACKOFF_AFTER_FAILURES:
        return True
    return now - record.failed_at >= BACKOFF_SECONDS


def blocked_primaries(records: Mapping[str, FailureRecord], now: float) -> set[str]:
    """Pure: the primaries whose copy is backed off at `now`."""
    return {sid for sid, record in records.items() if not may_retry(record, now)}


def newest_error_copies(dr_snapshots: Iterable[Snapshot]) -> dict[str, str]:
    """Pure: primary id -> its newest managed DR copy in `error` (the one whose failure may be uncounted)."""
    newest: dict[str, Snapshot] = {}
    for snap in dr_snapshots:
        if snap.managed and snap.source_snapshot and snap.state == ERROR:
            current = newest.get(snap.source_snapshot)
            if current is None or (snap.start_time, snap.snapshot_id) > (
                current.start_time,
                current.snapshot_id,
            ):
                newest[snap.source_snapshot] = snap
    return {primary: copy.snapshot_id for primary, copy in newest.items()}


def _key(primary_id: str) -> dict[str, Any]:
    return {"pk": {"S": FAILURES_PK}, "sk": {"S": primary_id}}


def _from_item(item: Mapping[str, Any]) -> FailureRecord:
    return FailureRecord(
        snapshot_id=item["sk"]["S"],
        failures=int(float(item["failures"]["N"])),
        failed_at=float(item["failed_at"]["N"]),
        last_copy=item.get("last_copy", {}).get("S", ""),
    )


def read_record(dynamodb: DynamoDBClient, table: str, primary_id: str) -> FailureRecord | None:
    with aws.aws_errors("GetItem"):
        item = dynamodb.get_item(TableName=table, Key=_key(primary_id), ConsistentRead=True).get("Item")
    return _from_item(item) if item else None


def record_failure(
    dynamodb: DynamoDBClient, table: str, primary_id: str, copy_id: str, now: float
) -> FailureRecord | None:
    """Count the failure of `copy_id` (a copy of `primary_id`) once. Returns the new record, or None when that
    copy's failure was counted already (by another invocation, or an earlier sight of the same copy)."""
    for _ in range(_WRITE_ATTEMPTS):
        current = read_record(dynamodb, table, primary_id)
        if current is not None and current.last_copy == copy_id:
            return None
        record = FailureRecord(primary_id, (current.failures if current else 0) + 1, now, copy_id)
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if current is None
            else {
                "ConditionExpression": "last_copy = :seen",
                "ExpressionAttributeValues": {":seen": {"S": current.last_copy}},
            }
        )
        try:
            with aws.aws_errors("PutItem"):
                dynamodb.put_item(
                    TableName=table,
                    Item={
                        **_key(primary_id),
                        "failures": {"N": str(record.failures)},
                        "failed_at": {"N": str(int(now))},
                        "last_copy": {"S": copy_id},
                        "retry_at": {"N": "0"},
                        "expires_at": {"N": str(int(now + RECORD_TTL_SECONDS))},
                    },
                    **condition,
                )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                continue  # another invocation recorded a failure meanwhile: read again
            raise
        return record
    return None


def claim_retry(dynamodb: DynamoDBClient, table: str, primary_id: str, now: float) -> bool:
    """Claim the next try of a copy of `primary_id`, whose failure record the caller has seen: True when this
    invocation may start the copy now. One conditional UpdateItem, which holds when the record has fewer
    failures than the back-off threshold, or when both its last failure and the last retry claimed are at
    least `BACKOFF_SECONDS` old (a record written before `retry_at` existed counts as never retried). A
    record gone meanwhile (TTL, deleted by hand) means no back-off: True."""
    cutoff = str(int(now - BACKOFF_SECONDS) + 1)  # failed_at <= now - BACKOFF_SECONDS, in whole seconds
    claimed = _update_if(
        dynamodb,
        table,
        primary_id,
        "SET retry_at = :now",
        "failures < :threshold"
        " OR failed_at < :cutoff AND retry_at < :cutoff"
        " OR failed_at < :cutoff AND attribute_not_exists(retry_at)",
        {
            ":now": {"N": str(int(now))},
            ":threshold": {"N": str(BACKOFF_AFTER_FAILURES)},
            ":cutoff": {"N": cutoff},
        },
    )
    # Refused: backed off, or the retry is another invocation's; or the record is gone (UpdateItem made no
    # item: a failed condition writes nothing).
    return claimed or read_record(dynamodb, table, primary_id) is None


def release_retry(dynamodb: DynamoDBClient, table: str, primary_id: str, now: float) -> None:
    """Give back a retry claimed at `now` whose copy did not start (no free slot, throttled): the next
    invocation may try. Only if the claim is still this one's (a failure recorded since resets it)."""
    _update_if(
        dynamodb,
        table,
        primary_id,
        "SET retry_at = :zero",
        "retry_at = :now",
        {":zero": {"N": "0"}, ":now": {"N": str(int(now))}},
    )


def _update_if(
    dynamodb: DynamoDBClient,
    table: str,
    primary_id: str,
    update: str,
    condition: str,
    values: dict[str, Any],
) -> bool:
    """One conditional UpdateItem of the record of `primary_id`; False when its condition does not hold."""
    try:
        with aws.aws_errors("UpdateItem"):
            dynamodb.update_item(
                TableName=table,
                Key=_key(primary_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
    except AwsError as exc:
        if exc.code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def failure_records(dynamodb: DynamoDBClient, table: str) -> dict[str, FailureRecord]:
    """Every failure record (one Query of the partition, every page)."""
    records: dict[str, FailureRecord] = {}
    start: Any = None  # LastEvaluatedKey: spread into the next request's arguments
    while True:
        with aws.aws_errors("Query"):
            page = dynamodb.query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": FAILURES_PK}},
                **({"ExclusiveStartKey": start} if start else {}),
            )
        for item in page.get("Items", []):
            record = _from_item(item)
            records[record.snapshot_id] = record
        start = page.get("LastEvaluatedKey")
        if not start:
            return records
