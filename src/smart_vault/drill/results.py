"""Drill results in DynamoDB (`DRILL_RESULTS_TABLE`: partition key `pk`, sort key `sk`, TTL `expires_at`).

Two items per drill, so that neither reader needs a scan or a secondary index:
- history: `pk = instance#<instance_id>`, `sk = <started_at>#<drill_id>`; one Query, newest first, reads an
  instance's last 50 drills;
- latest: `pk = latest`, `sk = <instance_id>`; one Query reads the newest drill of every instance (the input of
  the next run's selection and `GET /drills`). The write is conditional on being newer, so two overlapping runs
  cannot put an older result over a newer one.
The record itself is stored as one JSON string: it holds floats (DynamoDB wants Decimals) and is only ever read
whole. Items expire 400 days after the drill started.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError, ValidationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8,17}$")
LATEST_PK = "latest"
HISTORY_LIMIT = 50
RETENTION = timedelta(days=400)
_CONDITION_FAILED = "ConditionalCheckFailedException"

Record = dict[str, Any]


def validate_drills_query(params: Mapping[str, str] | None) -> str | None:
    """The instance id of a `GET /drills` query (None: the latest drill of every instance)."""
    params = params or {}
    unknown = sorted(set(params) - {"instance_id"})
    if unknown:
        raise ValidationError(f"unknown query parameter {unknown[0]!r}", field=unknown[0] or None)
    instance_id = params.get("instance_id")
    if instance_id is not None and not INSTANCE_ID_RE.match(instance_id):
        raise ValidationError("instance_id must match ^i-[0-9a-f]{8,17}$", field="instance_id")
    return instance_id


def history_pk(instance_id: str) -> str:
    return f"instance#{instance_id}"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _item(pk: str, sk: str, record: Record) -> dict[str, Any]:
    expires = _parse_time(record["started_at"]) + RETENTION
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "started_at": {"S": record["started_at"]},
        "record": {"S": json.dumps(record, separators=(",", ":"), sort_keys=True)},
        "expires_at": {"N": str(int(expires.timestamp()))},
    }


def _record(item: dict[str, Any]) -> Record:
    return dict(json.loads(item["record"]["S"]))


class DrillResultStore:
    """Reads and writes drill records. `dynamodb` is a low-level client (default: this region's)."""

    def __init__(self, table_name: str, dynamodb: DynamoDBClient | None = None):
        self.table_name = table_name
        self._dynamodb = dynamodb

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    def put(self, record: Record) -> None:
        """Write the drill to the instance's history and, when it is the newest, as the instance's latest."""
        history_sk = f"{record['started_at']}#{record['drill_id']}"
        with aws.aws_errors("PutItem"):
            self.dynamodb.put_item(
                TableName=self.table_name, Item=_item(history_pk(record["instance_id"]), history_sk, record)
            )
        try:
            with aws.aws_errors("PutItem"):
                self.dynamodb.put_item(
                    TableName=self.table_name,
                    Item=_item(LATEST_PK, record["instance_id"], record),
                    ConditionExpression="attribute_not_exists(pk) OR started_at <= :started",
                    ExpressionAttributeValues={":started": {"S": record["started_at"]}},
                )
        except AwsError as exc:
            if exc.code != _CONDITION_FAILED:
                raise
            # A newer drill of this instance (an overlapping run) is already the latest: keep it.

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return aws.paginate(self.dynamodb, "query", "Items", TableName=self.table_name, **kwargs)

    def latest(self) -> list[Record]:
        """The newest drill of every instance, newest first."""
        records = [
            _record(item)
            for item in self._query(
                KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": LATEST_PK}}
            )
        ]
        return sorted(records, key=lambda r: (r["started_at"], r["instance_id"]), reverse=True)

    def last_drilled(self) -> dict[str, datetime]:
        """Instance id -> start of its latest drill (the selection's input)."""
        return {r["instance_id"]: _parse_time(r["started_at"]) for r in self.latest()}

    def history(self, instance_id: str, limit: int = HISTORY_LIMIT) -> list[Record]:
        """The instance's drills, newest first, at most `limit`."""
        with aws.aws_errors("Query"):
            answer = self.dynamodb.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": history_pk(instance_id)}},
                ScanIndexForward=False,
                Limit=limit,
            )
        return [_record(item) for item in answer.get("Items", [])]
