"""Change measurements in the copy ledger's table: one item per measured primary snapshot, by volume.

    pk = "change#<source volume id>", sk = "<primary start time, ISO 8601 UTC>#<snapshot id>"
    snapshot_id, changed_bytes, method ("changed" | "written"), volume_size_gib, instance_id, backup_set_id,
    suspect (bool), measured_at, expires_at (TTL)

Why the ledger and not a tag on the primary: the figure exists only once the snapshot has completed, and no
EC2 write to the primary happens then (its tags are written at creation, while it is pending). One more
CreateTags per snapshot would spend EC2's mutating bucket, which the snapshot sets and copies need; a
DynamoDB write costs nothing there. One Query per volume, newest first, gives both what the judge needs (the
last measurements and the lineage parent) and what `GET /recovery-points` shows in the primary region. The DR
copy carries the figure as a tag written at its creation, so the DR region's listing needs no table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smart_vault import aws
from smart_vault.change_rate import CHANGED, HISTORY_MAX, Measurement

CHANGE_PK_PREFIX = "change#"
SUSPECT_PK_PREFIX = "suspect#"
TTL_DAYS = 400  # the history outlives any retention worth judging against


def change_key(volume_id: str, start_time: datetime, snapshot_id: str) -> dict[str, Any]:
    stamp = start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"pk": {"S": CHANGE_PK_PREFIX + volume_id}, "sk": {"S": f"{stamp}#{snapshot_id}"}}


def _measurement(item: dict[str, Any], volume_id: str) -> Measurement:
    stamp = item["sk"]["S"].split("#", 1)[0]
    return Measurement(
        snapshot_id=item["snapshot_id"]["S"],
        volume_id=volume_id,
        start_time=datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        changed_bytes=int(item["changed_bytes"]["N"]),
        method=item.get("method", {}).get("S", CHANGED),
        volume_size_gib=int(item.get("volume_size_gib", {}).get("N", "0")),
        suspect=bool(item.get("suspect", {}).get("BOOL", False)),
    )


@dataclass
class ChangeLedger:
    dynamodb: Any
    table: str

    def _pages(self, volume_id: str, limit: int | None) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            with aws.aws_errors("Query"):
                page = self.dynamodb.query(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": CHANGE_PK_PREFIX + volume_id}},
                    ScanIndexForward=False,
                    **({"Limit": limit} if limit else {}),
                    **({"ExclusiveStartKey": start} if start else {}),
                )
            yield page
            start = page.get("LastEvaluatedKey")
            if not start or limit:
                return

    def history(self, volume_id: str, limit: int | None = HISTORY_MAX + 2) -> list[Measurement]:
        """The volume's measurements, newest first (with `limit`: one page of that many)."""
        return [
            _measurement(item, volume_id)
            for page in self._pages(volume_id, limit)
            for item in page.get("Items", [])
        ]

    def record(self, measurement: Measurement, instance_id: str, backup_set_id: str, now: datetime) -> None:
        """Write (or rewrite, idempotently) one measurement."""
        item = {
            **change_key(measurement.volume_id, measurement.start_time, measurement.snapshot_id),
            "snapshot_id": {"S": measurement.snapshot_id},
            "changed_bytes": {"N": str(measurement.changed_bytes)},
            "method": {"S": measurement.method},
            "volume_size_gib": {"N": str(measurement.volume_size_gib)},
            "instance_id": {"S": instance_id or "-"},
            "backup_set_id": {"S": backup_set_id or "-"},
            "suspect": {"BOOL": measurement.suspect},
            "measured_at": {"S": now.astimezone(UTC).isoformat()},
            "expires_at": {"N": str(int(now.timestamp()) + TTL_DAYS * 86400)},
        }
        with aws.aws_errors("PutItem"):
            self.dynamodb.put_item(TableName=self.table, Item=item)

    # A suspect set, as one item (`pk = "suspect#<backup set id>"`, `sk = "set"`): the copies of its other
    # volumes that start later, in this invocation or another, carry the mark from their creation.
    def mark_set_suspect(self, backup_set_id: str, now: datetime) -> None:
        with aws.aws_errors("PutItem"):
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": SUSPECT_PK_PREFIX + backup_set_id},
                    "sk": {"S": "set"},
                    "marked_at": {"S": now.astimezone(UTC).isoformat()},
                    "expires_at": {"N": str(int(now.timestamp()) + TTL_DAYS * 86400)},
                },
            )

    def is_set_suspect(self, backup_set_id: str) -> bool:
        with aws.aws_errors("Query"):
            page = self.dynamodb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": SUSPECT_PK_PREFIX + backup_set_id}},
                Limit=1,
            )
        return bool(page.get("Items"))
