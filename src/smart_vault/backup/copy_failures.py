"""(v3) Repeated DR copy failures, backed off: 3 in a row for one primary, then at most one try every 6 hours.

A copy that fails for good (a key the DR region cannot use, a primary EBS cannot read) would otherwise be
claimed and started again by every reconciliation, every 30 minutes, each leaving an `error` snapshot. Each
failure is recorded once in the copy ledger, one item per primary in its own partition:

    pk = "copy-failures", sk = "snap-1"
    failures (N), last_copy (S: the failed copy counted last), failed_at (N, epoch s), expires_at (TTL)

A failure is seen by the copy-completion event (`failed`), by a reconciliation that finds the copy in `error`
(the event may be lost), or as a refusal of `CopySnapshot` itself. `record_failure` counts a failed copy once
whoever sees it first (`last_copy`, with an optimistic write on what was read); only the newest `error` copy
of a primary is offered, and a new copy starts only after the previous failure was recorded, so every
failed copy is counted exactly once. The whole partition is one Query per invocation (a few items: only
primaries that failed), and `blocked_primaries` says which may not be tried now.

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
