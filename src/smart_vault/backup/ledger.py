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
lasts seconds to minutes) and a Lambda lives at most 15 minutes, so an old claim never hides a live copy. A claim refused with `ResourceLimitExceeded` is released at once: the copy is owed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smart_vault import aws
from smart_vault.errors import AwsError

CLAIMED = "claimed"
STARTED = "started"
FAILED = "failed"
CLAIM_SK = "claim"
# A claim this old whose copy is not visible in DR belongs to a dead invocation or a deleted copy.
STALE_CLAIM_SECONDS = 3600
# Ledger items outlive any copy they describe: DR retention plus this margin.
TTL_MARGIN_DAYS = 30


def claim_key(primary_snapshot_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"copy#{primary_snapshot_id}"}, "sk": {"S": CLAIM_SK}}


@dataclass
class CopyLedger:
    """The ledger in one DynamoDB table, through a client of the function's region."""

    dynamodb: Any
    table: str
    ttl_days: int = 30

    def claim(self, primary_snapshot_id: str, now: float, owner: str) -> bool:
        """True when this invocation now owns the copy of `primary_snapshot_id` (and must start it)."""
        expires = int(now + (self.ttl_days + TTL_MARGIN_DAYS) * 86400)
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
                    ConditionExpression=("attribute_not_exists(pk) OR #s = :failed OR claimed_at < :stale"),
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={
                        ":failed": {"S": FAILED},
                        ":stale": {"N": str(int(now - STALE_CLAIM_SECONDS))},
                    },
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

    def failed(self, primary_snapshot_id: str) -> None:
        """The copy failed: the snapshot is owed again and the next reconciliation may claim it."""
        with aws.aws_errors("UpdateItem"):
            self.dynamodb.update_item(
                TableName=self.table,
                Key=claim_key(primary_snapshot_id),
                UpdateExpression="SET #s = :failed",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":failed": {"S": FAILED}},
            )


def ledger_for(settings: Any) -> CopyLedger:
    """The ledger of `settings.copy_ledger_table`, in the function's region."""
    return CopyLedger(
        aws.client("dynamodb", settings.region), settings.copy_ledger_table, settings.dr_retention_days
    )
