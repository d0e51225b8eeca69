"""The simulated DynamoDB (the copy ledger and the other tables the code under test writes: conditional
writes, queries, counts, overlapping invocations at a write) and SNS (the notifications it publishes).
"""

from __future__ import annotations

from typing import Any

from smart_vault.sim.world import SimWorld, _error


class SimDynamoDB:
    """PutItem / UpdateItem / DeleteItem / Query with the expressions the copy ledger uses. Every write is a
    point where an overlapping invocation may run (`SimWorld.preempt`)."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    @staticmethod
    def _key(key: dict[str, Any]) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]

    @staticmethod
    def _value(raw: dict[str, str]) -> Any:
        return float(raw["N"]) if "N" in raw else raw["S"]

    def _get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        return self.world.table.get(key[0], {}).get(key[1])

    def _holds(self, item: dict | None, expression: str | None, names: dict, values: dict) -> bool:
        if not expression:
            return True
        for alternative in expression.split(" OR "):
            if all(self._atom(item, atom.strip(" ()"), names, values) for atom in alternative.split(" AND ")):
                return True
        return False

    def _atom(self, item: dict | None, atom: str, names: dict, values: dict) -> bool:
        if atom.startswith("attribute_not_exists"):
            return item is None
        left, op, right = atom.split()
        if item is None:
            return False
        attr = names.get(left, left)
        if attr not in item:
            return False
        have, want = self._value(item[attr]), self._value(values[right])
        return {"=": have == want, "<": have < want}[op]

    def _write(self, operation: str, key: tuple[str, str], condition: str | None, names, values) -> None:
        self.world.preempt()
        self.world.request(None, operation)
        if not self._holds(self._get(key), condition, names or {}, values or {}):
            raise _error("ConditionalCheckFailedException", "The conditional request failed", operation)

    def put_item(
        self,
        TableName,
        Item,
        ConditionExpression=None,
        ExpressionAttributeNames=None,
        ExpressionAttributeValues=None,
    ):
        key = self._key(Item)
        self._write("PutItem", key, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues)
        self.world.table.setdefault(key[0], {})[key[1]] = dict(Item)

    def update_item(
        self,
        TableName,
        Key,
        UpdateExpression,
        ConditionExpression=None,
        ExpressionAttributeNames=None,
        ExpressionAttributeValues=None,
    ):
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        key = self._key(Key)
        self._write("UpdateItem", key, ConditionExpression, names, values)
        item = self.world.table.setdefault(key[0], {}).setdefault(key[1], dict(Key))
        for assignment in UpdateExpression.removeprefix("SET ").split(","):
            left, right = (part.strip() for part in assignment.split("="))
            item[names.get(left, left)] = values[right]

    def delete_item(
        self,
        TableName,
        Key,
        ConditionExpression=None,
        ExpressionAttributeNames=None,
        ExpressionAttributeValues=None,
    ):
        key = self._key(Key)
        self._write(
            "DeleteItem", key, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues
        )
        self.world.table.get(key[0], {}).pop(key[1], None)

    def get_item(self, TableName, Key, ConsistentRead=False, **_: Any):
        self.world.request(None, "GetItem")
        item = self._get(self._key(Key))
        return {"Item": dict(item)} if item is not None else {}

    def query(
        self,
        TableName,
        KeyConditionExpression,
        ExpressionAttributeValues,
        ExpressionAttributeNames=None,
        ScanIndexForward=True,
        Limit=None,
        ExclusiveStartKey=None,
        ConsistentRead=False,
        Select=None,
        ProjectionExpression=None,
    ) -> dict[str, Any]:
        """`pk = :pk` queries in sort-key order, all attributes or the projected ones. GUESS: 1000 items a page
        (DynamoDB's limit is 1 MB of items read, before the projection)."""
        self.world.request(None, "Query")
        names = ExpressionAttributeNames or {}
        left, op, right = KeyConditionExpression.split()
        if names.get(left, left) != "pk" or op != "=":
            raise _error("ValidationException", "the simulation queries on pk = :value only", "Query")
        partition = self.world.table.get(ExpressionAttributeValues[right]["S"], {})
        keys = sorted(partition, reverse=not ScanIndexForward)
        if ExclusiveStartKey is not None:
            after = ExclusiveStartKey["sk"]["S"]
            keys = [k for k in keys if (k > after if ScanIndexForward else k < after)]
        limit = min(Limit or 1000, 1000)
        page = keys[:limit]
        answer: dict[str, Any] = {"Count": len(page)}
        if Select != "COUNT" and ProjectionExpression:
            wanted = [names.get(n.strip(), n.strip()) for n in ProjectionExpression.split(",")]
            answer["Items"] = [{a: partition[k][a] for a in wanted if a in partition[k]} for k in page]
        elif Select != "COUNT":
            answer["Items"] = [dict(partition[k]) for k in page]
        if len(keys) > limit:
            answer["LastEvaluatedKey"] = {"pk": partition[page[-1]]["pk"], "sk": {"S": page[-1]}}
        return answer


class SimSNS:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.messages.append(kwargs)
        return {"MessageId": f"m-{len(self.messages)}"}
