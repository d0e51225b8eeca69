"""The copy ledger: one DynamoDB item per primary snapshot copied to DR (`COPY_LEDGER_TABLE`, pk/sk).

A copy is *claimed* with a conditional write before `CopySnapshot`, so two invocations that overlap (a
scheduled run and a completion event, or the same event delivered twice) never copy one snapshot twice:
only the invocation whose write succeeded calls `CopySnapshot`. Item, for primary snapshot `snap-1`:

    pk = "copy#snap-1", sk = "claim"
    state = "claimed" | "started" | "failed", copy_snapshot_id, claimed_at (epoch s), expires_at (TTL)

A claim may be taken again when its copy `failed` (a copy-completion event said so, or `CopySnapshot` was
refused), or when it is older than `STALE_CLAIM_SECONDS`: the invocation that claimed it died between the
claim and the call, or its copy was deleted since. Claims are only tried for primaries the caller found
without a live copy in DR; a copy started an hour ago is visible to describes (EC2's eventual consistency
lasts seconds to minutes) and a Lambda lives at most 15 minutes, so an old claim never hides a live copy. A
claim refused with `ResourceLimitExceeded` is released at once: the copy is owed.

(v2) The owed copies, oldest first, are one partition (still no secondary index):

    pk = "owed", sk = "<primary start time, ISO 8601 UTC>#snap-1"
    snapshot_id, source_region, start_time, tags (the DR copy's tags, JSON), expires_at (TTL)

It lets a copy-completion event fill the slot it freed from one Query and one short describe of the pending
snapshots, instead of describing every managed snapshot of both regions. The queue is an index, not the
truth: the full run and the reconciliation re-derive the owed copies from EC2 and rewrite it (`sync_owed`),
so an entry a dead invocation left behind, or one it never wrote, is corrected within one reconciliation.
A queued copy is claimed with `claim(..., queued=True)`, which takes no stale claim: only an invocation
that has just looked at the DR region may decide that an old claim has no live copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryOutputTypeDef

CLAIMED = "claimed"
STARTED = "started"
FAILED = "failed"
CLAIM_SK = "claim"
OWED_PK = "owed"
# A claim this old whose copy is not visible in DR belongs to a dead invocation or a deleted copy.
STALE_CLAIM_SECONDS = 3600
# Ledger items outlive any copy they describe: DR retention plus this margin.
TTL_MARGIN_DAYS = 30


def claim_key(primary_snapshot_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"copy#{primary_snapshot_id}"}, "sk": {"S": CLAIM_SK}}


@dataclass(frozen=True)
class OwedCopy:
    """One entry of the owed-copy queue: what CopySnapshot needs, without describing the primary again."""

    snapshot_id: str
    source_region: str
    start_time: datetime
    tags: dict[str, str]

    @property
    def sort_key(self) -> str:
        return owed_sort_key(self.start_time, self.snapshot_id)


def owed_sort_key(start_time: datetime, snapshot_id: str) -> str:
    """`2026-03-01T02:00:00.000000Z#snap-…`: UTC to the microsecond, so that keys sort oldest first."""
    utc = start_time.astimezone(UTC).replace(tzinfo=None)  # isoformat: strftime's text, 3x faster
    return f"{utc.isoformat(timespec='microseconds')}Z#{snapshot_id}"


def _owed_key(sort_key: str) -> dict[str, Any]:
    return {"pk": {"S": OWED_PK}, "sk": {"S": sort_key}}


def _owed_from_item(item: dict[str, Any]) -> OwedCopy:
    return OwedCopy(
        snapshot_id=item["snapshot_id"]["S"],
        source_region=item["source_region"]["S"],
        start_time=datetime.fromisoformat(item["start_time"]["S"]),
        tags=json.loads(item["tags"]["S"]),
    )


@dataclass
class CopyLedger:
    """The ledger in one DynamoDB table, through a client of the function's region."""

    dynamodb: DynamoDBClient
    table: str
    ttl_days: int = 30

    def claim(self, primary_snapshot_id: str, now: float, owner: str, queued: bool = False) -> bool:
        """True when this invocation now owns the copy of `primary_snapshot_id` (and must start it).

        `queued`: the caller took the snapshot from the owed queue without looking at the DR region, so a
        stale claim is not taken (its copy may be live); the reconciliation takes those.
        """
        expires = int(now + (self.ttl_days + TTL_MARGIN_DAYS) * 86400)
        condition = "attribute_not_exists(pk) OR #s = :failed"
        values: dict[str, Any] = {":failed": {"S": FAILED}}
        if not queued:
            condition += " OR claimed_at < :stale"
            values[":stale"] = {"N": str(int(now - STALE_CLAIM_SECONDS))}
        try:
            with aws.aws_errors("PutItem"):
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        **claim_key(primary_snapshot_id),
                        "state": {"S": CLAIMED},
                        "owner": {"S": owner},
                        "claimed_at": {"N": str(int(now))},
                        "expires_at": {"N": str(expires)},
                    },
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues=values,
                )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def started(self, primary_snapshot_id: str, copy_snapshot_id: str) -> None:
        with aws.aws_errors("UpdateItem"):
            self.dynamodb.update_item(
                TableName=self.table,
                Key=claim_key(primary_snapshot_id),
                UpdateExpression="SET #s = :started, copy_snapshot_id = :copy",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":started": {"S": STARTED}, ":copy": {"S": copy_snapshot_id}},
            )

    def copied(self, primary_snapshot_id: str) -> bool:
        """Whether the copy of `primary_snapshot_id` was started (its claim says so): one consistent read."""
        with aws.aws_errors("GetItem"):
            item = self.dynamodb.get_item(
                TableName=self.table, Key=claim_key(primary_snapshot_id), ConsistentRead=True
            ).get("Item")
        return item is not None and item.get("state", {}).get("S") == STARTED

    def release(self, primary_snapshot_id: str, owner: str) -> None:
        """Give a claim back (the copy was refused for lack of a slot): the copy is owed again."""
        try:
            with aws.aws_errors("DeleteItem"):
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key=claim_key(primary_snapshot_id),
                    ConditionExpression="#o = :owner AND #s = :claimed",
                    ExpressionAttributeNames={"#o": "owner", "#s": "state"},
                    ExpressionAttributeValues={":owner": {"S": owner}, ":claimed": {"S": CLAIMED}},
                )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise

    def failed(self, primary_snapshot_id: str, copy_ids: Iterable[str] = ()) -> None:
        """The copy failed: the snapshot is owed again and the next reconciliation may claim it.

        With `copy_ids` (the copies seen in `error`), only when the claim's copy is one of them: a late or
        redelivered failure event of an old copy never reopens a claim whose newer copy is live.
        """
        names = {"#s": "state"}
        values: dict[str, Any] = {":failed": {"S": FAILED}}
        condition = None
        wanted = sorted(set(copy_ids))
        if wanted:
            names["#c"] = "copy_snapshot_id"
            condition = " OR ".join(f"#c = :c{i}" for i in range(len(wanted)))
            values.update({f":c{i}": {"S": c} for i, c in enumerate(wanted)})
        conditional: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        try:
            with aws.aws_errors("UpdateItem"):
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=claim_key(primary_snapshot_id),
                    UpdateExpression="SET #s = :failed",
                    **conditional,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise

    # ------------------------------------------------------------------ (v2) the owed-copy queue
    def owe(self, owed: OwedCopy, now: float) -> None:
        """Put a copy in the owed queue (idempotent: the same snapshot has the same key)."""
        with aws.aws_errors("PutItem"):
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **_owed_key(owed.sort_key),
                    "snapshot_id": {"S": owed.snapshot_id},
                    "source_region": {"S": owed.source_region},
                    "start_time": {"S": owed.start_time.astimezone(UTC).isoformat()},
                    "tags": {"S": json.dumps(owed.tags, sort_keys=True)},
                    "expires_at": {"N": str(int(now + (self.ttl_days + TTL_MARGIN_DAYS) * 86400))},
                },
            )

    def copy_started(self, snapshot_id: str, start_time: datetime, copy_snapshot_id: str) -> None:
        """The copy of an owed snapshot started: its claim records the copy, then it leaves the owed queue."""
        self.started(snapshot_id, copy_snapshot_id)
        self.paid(owed_sort_key(start_time, snapshot_id))

    def owed_copy_started(
        self, owed: OwedCopy, copy_snapshot_id: str, region: str, report: list[dict[str, str]]
    ) -> None:
        """`copy_started`, and the copy added to the run's report (its `copies_started`)."""
        self.copy_started(owed.snapshot_id, owed.start_time, copy_snapshot_id)
        report.append(
            {"source_snapshot_id": owed.snapshot_id, "copy_snapshot_id": copy_snapshot_id, "region": region}
        )

    def paid(self, sort_key: str) -> None:
        """Take a copy out of the owed queue (it started, or is no longer owed)."""
        with aws.aws_errors("DeleteItem"):
            self.dynamodb.delete_item(TableName=self.table, Key=_owed_key(sort_key))

    def _query(self, **extra: Any) -> Iterator[QueryOutputTypeDef]:
        """The pages of a Query of the owed partition, in sort-key order (oldest first)."""
        start: Any = None  # LastEvaluatedKey: spread into the next request's arguments
        while True:
            with aws.aws_errors("Query"):
                page = self.dynamodb.query(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": OWED_PK}},
                    ScanIndexForward=True,
                    **extra,
                    **({"ExclusiveStartKey": start} if start else {}),
                )
            yield page
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def owed(self, limit: int | None = None) -> Iterator[OwedCopy]:
        """The owed queue, oldest first; with `limit`, only its `limit` oldest entries (one short page)."""
        left = limit
        for page in self._query(**({"Limit": limit} if limit else {})):
            for item in page.get("Items", []):
                yield _owed_from_item(item)
                if left is not None:
                    left -= 1
                    if left <= 0:
                        return

    def owed_count(self) -> int:
        """How many copies the queue holds (a Query with Select=COUNT: no items are returned)."""
        return sum(int(page.get("Count", 0)) for page in self._query(Select="COUNT"))

    def owed_keys(self) -> Iterator[str]:
        """The sort keys of the whole owed queue, oldest first (the Query returns only `sk`: no entry is read)."""
        for page in self._query(ProjectionExpression="sk"):
            for item in page.get("Items", []):
                yield item["sk"]["S"]

    def sync_owed(self, owed: Iterable[OwedCopy], now: float) -> None:
        """Make the queue hold exactly `owed` (derived from EC2 by the caller): puts and deletes the difference."""
        wanted = {o.sort_key: o for o in owed}
        present = set(self.owed_keys())
        for key in sorted(present - wanted.keys()):
            self.paid(key)
        for key in sorted(wanted.keys() - present):
            self.owe(wanted[key], now)


def ledger_for(settings: Any) -> CopyLedger:
    """The ledger of `settings.copy_ledger_table`, in the function's region."""
    return CopyLedger(
        aws.client("dynamodb", settings.region), settings.copy_ledger_table, settings.dr_retention_days
    )
