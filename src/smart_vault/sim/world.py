"""An in-memory EC2 (two regions), DynamoDB and EventBridge with a virtual clock and seeded randomness.

Why not moto: moto completes snapshots and copies at once, has no clock, and needs seconds per describe of
thousands of snapshots; 1,500 volumes over 7 days means tens of thousands of invocations. This world answers
only what the backup function sends (same operations, parameters, error codes) and keeps time itself.

Modelled (the numbers are guesses, marked GUESS, not AWS figures):
- snapshots stay `pending` for a lognormal while (GUESS: first of a volume 30 min median, later 5 min);
- copies stay `pending` for a lognormal while (first copy of a volume: `first_copy_median_s`, later ones:
  `incremental_copy_median_s`, sigma 0.5 GUESS); `copy_failure_rate` of them end in `error`;
- at most `copy_limit` (20) copies pending per destination region: `ResourceLimitExceeded` beyond;
- a created snapshot is invisible to describes (and answers `InvalidSnapshot.NotFound` to CreateTags) for
  a uniform 0..`invisible_max_s` seconds;
- EventBridge is at least once: each event is dropped with `drop_rate`, duplicated with `duplicate_rate`,
  delivered after a uniform 0.5..`max_delay_s` s delay (so out of order).
Not modelled: EC2 token buckets (RequestLimitExceeded), Lambda time limits and truly concurrent
invocations (invocations run one at a time; duplicated and late events stand in for the overlaps).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.sim.compute import Compute

ACCOUNT = "123456789012"


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


@dataclass
class SimParams:
    seed: int = 1
    copy_limit: int = 20
    first_snapshot_median_s: float = 1800.0  # GUESS
    incremental_snapshot_median_s: float = 300.0  # GUESS
    first_copy_median_s: float = 3600.0
    incremental_copy_median_s: float = 600.0
    sigma: float = 0.5  # GUESS: lognormal spread of every duration
    copy_failure_rate: float = 0.0
    invisible_max_s: float = 5.0
    drop_rate: float = 0.05
    duplicate_rate: float = 0.05
    max_delay_s: float = 30.0


@dataclass(order=True)
class _Item:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class SimWorld:
    """The shared state and the event heap. `clock` is epoch seconds of virtual time."""

    def __init__(self, params: SimParams, start: datetime, primary: str, dr: str) -> None:
        self.p = params
        self.rng = random.Random(params.seed)  # noqa: S311  # nosec B311 - seeded simulation, not security
        self.clock = start.timestamp()
        self.primary, self.dr = primary, dr
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = {primary: {}, dr: {}}
        self.instances: list[dict[str, Any]] = []
        self.copied_volumes: set[str] = set()  # source volumes with a copy already (later ones incremental)
        self.snapshotted_volumes: set[str] = set()
        self.pending_copies: set[str] = set()
        self.table: dict[tuple[str, str], dict[str, Any]] = {}
        self.heap: list[_Item] = []
        self.seq = itertools.count()
        self.ids = itertools.count(1)
        self.deliver: Callable[[dict[str, Any]], None] = lambda _event: None
        self.copy_calls: list[str] = []  # source snapshot of every CopySnapshot that started a copy
        self.deleted: list[tuple[str, dict[str, Any]]] = []  # (region, snapshot) of every deletion
        self.events_sent = self.events_dropped = self.events_duplicated = 0
        self.on_change: Callable[[], None] = lambda: None
        # Owed copies (completed primaries without a live copy), kept incrementally, and the time integrals.
        self.completed_primaries: set[str] = set()
        self.live_copies: dict[str, int] = {}
        self.owed: set[str] = set()
        self.first_owed_at: float | None = None
        self.owed_time = 0.0
        self.slot_time = 0.0
        self.copy_work = 0.0  # seconds of every copy that completed
        self.last_set_complete_at = 0.0
        self.unsafe_deletions = 0
        self.copies_of: dict[str, list[dict[str, Any]]] = {}
        self.compute: dict[str, Compute] = {}  # region -> restored instances and images (sim/compute.py)

    # ------------------------------------------------------------------ time
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock, UTC)

    def monotonic(self) -> float:
        return self.clock

    def sleep(self, seconds: float) -> None:
        self.advance_to(self.clock + max(seconds, 0.0))

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, _Item(when, next(self.seq), action))

    def advance_to(self, when: float) -> None:
        """Move the clock (a handler sleeping); due heap items run after the invocation returns."""
        self._tick(when)

    def _tick(self, when: float) -> None:
        if when > self.clock:
            if self.owed:
                dt = when - self.clock
                self.owed_time += dt
                self.slot_time += dt * min(len(self.pending_copies), self.p.copy_limit) / self.p.copy_limit
            self.clock = when

    def step(self) -> bool:
        """Run the next heap item; False when the heap is empty."""
        if not self.heap:
            return False
        item = heapq.heappop(self.heap)
        self._tick(item.at)
        item.action()
        return True

    def lognormal(self, median: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, self.p.sigma))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):017x}"

    # ------------------------------------------------------------------ EventBridge
    def emit(self, event: dict[str, Any]) -> None:
        """At-least-once delivery: dropped, delayed, duplicated."""
        self.events_sent += 1
        if self.rng.random() < self.p.drop_rate:
            self.events_dropped += 1
            return
        copies = 2 if self.rng.random() < self.p.duplicate_rate else 1
        self.events_duplicated += copies - 1
        for _ in range(copies):
            delay = self.rng.uniform(0.5, self.p.max_delay_s)
            self.at(self.clock + delay, lambda e=event: self.deliver(e))

    def _ebs_event(self, region: str, snapshot_id: str, kind: str, result: str) -> dict[str, Any]:
        return {
            "version": "0",
            "id": self.new_id("evt"),
            "detail-type": "EBS Snapshot Notification",
            "source": "aws.ec2",
            "account": ACCOUNT,
            "region": region,
            "resources": [f"arn:aws:ec2::{region}:snapshot/{snapshot_id}"],
            "detail": {
                "event": kind,
                "result": result,
                "cause": "" if result == "succeeded" else "simulated copy failure",
                "snapshot_id": f"arn:aws:ec2::{region}:snapshot/{snapshot_id}",
            },
        }

    # ------------------------------------------------------------------ EC2 behaviour
    def add_instance(self, volumes: int, tag_key: str = "Backup-Tier", tag_value: str = "Gold") -> str:
        instance_id = self.new_id("i")
        devices = ["/dev/xvda"] + [f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1)]
        self.instances.append(
            {
                "InstanceId": instance_id,
                "State": {"Name": "running"},
                "Tags": [{"Key": tag_key, "Value": tag_value}, {"Key": "Name", "Value": instance_id}],
                "BlockDeviceMappings": [
                    {"DeviceName": d, "Ebs": {"VolumeId": self.new_id("vol")}} for d in devices
                ],
            }
        )
        return instance_id

    def _new_snapshot(
        self, region: str, volume_id: str, tags: list[dict[str, str]], **extra: Any
    ) -> dict[str, Any]:
        snapshot_id = self.new_id("snap")
        item = {
            "SnapshotId": snapshot_id,
            "VolumeId": volume_id,
            "State": "pending",
            "StartTime": self.now(),
            "OwnerId": ACCOUNT,
            "VolumeSize": 8,
            "Tags": [dict(t) for t in tags],
            "_visible_at": self.clock + self.rng.uniform(0.0, self.p.invisible_max_s),
            **extra,
        }
        self.snapshots[region][snapshot_id] = item
        return item

    def create_snapshots(
        self, region: str, instance_id: str, tags: list[dict[str, str]]
    ) -> list[dict[str, Any]]:
        instance = next((i for i in self.instances if i["InstanceId"] == instance_id), None)
        if instance is None:
            raise _error("InvalidInstanceID.NotFound", f"no instance {instance_id}", "CreateSnapshots")
        created = []
        for mapping in instance["BlockDeviceMappings"]:
            volume = mapping["Ebs"]["VolumeId"]
            item = self._new_snapshot(region, volume, tags)
            first = volume not in self.snapshotted_volumes
            self.snapshotted_volumes.add(volume)
            median = self.p.first_snapshot_median_s if first else self.p.incremental_snapshot_median_s
            self.at(self.clock + self.lognormal(median), lambda s=item, r=region: self._snapshot_done(r, s))
            created.append(item)
        return created

    def _snapshot_done(self, region: str, item: dict[str, Any]) -> None:
        if item["SnapshotId"] not in self.snapshots[region]:
            return
        item["State"] = "completed"
        _changed(item)
        if region == self.primary:
            sid = item["SnapshotId"]
            self.completed_primaries.add(sid)
            if not self.live_copies.get(sid):
                self.owed.add(sid)
                if self.first_owed_at is None:
                    self.first_owed_at = self.clock
        self.on_change()
        self.emit(self._ebs_event(region, item["SnapshotId"], "createSnapshot", "succeeded"))

    def copy_snapshot(self, source_region: str, source_id: str, tags: list[dict[str, str]], kms: str) -> str:
        source = self.snapshots[source_region].get(source_id)
        if source is None or source["State"] != "completed":
            raise _error("InvalidSnapshot.NotFound", f"no completed snapshot {source_id}", "CopySnapshot")
        if len(self.pending_copies) >= self.p.copy_limit:
            raise _error("ResourceLimitExceeded", "too many snapshot copies in progress", "CopySnapshot")
        volume = _tags(source).get("smart-vault:source-volume") or source["VolumeId"]
        item = self._new_snapshot(self.dr, "vol-ffffffff", tags, Encrypted=True, KmsKeyId=kms)
        self.pending_copies.add(item["SnapshotId"])
        self.copy_calls.append(source_id)
        item["_source"] = source_id
        self.copies_of.setdefault(source_id, []).append(item)
        item["_started"] = self.clock
        self.live_copies[source_id] = self.live_copies.get(source_id, 0) + 1
        self.owed.discard(source_id)
        first = volume not in self.copied_volumes
        self.copied_volumes.add(volume)
        median = self.p.first_copy_median_s if first else self.p.incremental_copy_median_s
        self.at(self.clock + self.lognormal(median), lambda s=item: self._copy_done(s))
        self.on_change()
        return item["SnapshotId"]

    def _copy_gone(self, item: dict[str, Any]) -> None:
        source = item["_source"]
        self.live_copies[source] = self.live_copies.get(source, 1) - 1
        if not self.live_copies[source] and source in self.completed_primaries:
            self.owed.add(source)

    def copy_state(self, source_id: str) -> set[str]:
        return {s["State"] for s in self.copies_of.get(source_id, [])}

    def _copy_done(self, item: dict[str, Any]) -> None:
        self.pending_copies.discard(item["SnapshotId"])
        failed = self.rng.random() < self.p.copy_failure_rate
        item["State"] = "error" if failed else "completed"
        _changed(item)
        if failed:
            self._copy_gone(item)
        else:
            self.copy_work += self.clock - item["_started"]
            self.last_set_complete_at = self.clock
        self.on_change()
        self.emit(
            self._ebs_event(self.dr, item["SnapshotId"], "copySnapshot", "failed" if failed else "succeeded")
        )


def _match(item: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for f in filters:
        name, values = f["Name"], f["Values"]
        if name.startswith("tag:"):
            tags = item.get("_td")
            if tags is None:
                tags = item["_td"] = _tags(item)
            if tags.get(name[4:]) not in values:
                return False
        elif name == "snapshot-id":
            if item["SnapshotId"] not in values:
                return False
        elif name == "status":
            if item["State"] not in values:
                return False
        elif name == "instance-state-name":
            if item["State"]["Name"] not in values:
                return False
        elif name == "instance-id":
            if item["InstanceId"] not in values:
                return False
        else:
            raise _error("InvalidParameterValue", f"the simulation has no filter {name}", "Describe")
    return True


def _attached_volumes(instances: list[dict[str, Any]], filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeVolumes with the one filter the backup sends (`attachment.instance-id`). GUESS: every simulated
    volume is a 100 GiB gp3 at its baseline (3000 IOPS, 125 MiB/s); the copy times do not depend on it."""
    wanted: set[str] | None = None
    for f in filters:
        if f["Name"] != "attachment.instance-id":
            raise _error("InvalidParameterValue", f"the simulation has no filter {f['Name']}", "Describe")
        wanted = set(f["Values"]) if wanted is None else wanted & set(f["Values"])
    return [
        {
            "VolumeId": mapping["Ebs"]["VolumeId"],
            "Size": 100,
            "VolumeType": "gp3",
            "Iops": 3000,
            "Throughput": 125,
            "State": "in-use",
            "Attachments": [
                {"InstanceId": instance["InstanceId"], "Device": mapping["DeviceName"], "State": "attached"}
            ],
        }
        for instance in instances
        if wanted is None or instance["InstanceId"] in wanted
        for mapping in instance["BlockDeviceMappings"]
    ]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """The API view of an item, cached until the item changes (`_changed`)."""
    view = item.get("_pub")
    if view is None:
        view = item["_pub"] = {k: v for k, v in item.items() if not k.startswith("_")}
    return view


def _changed(item: dict[str, Any]) -> None:
    item.pop("_pub", None)
    item.pop("_td", None)


class _Paginator:
    def __init__(self, ec2: SimEC2, operation: str) -> None:
        self.ec2, self.operation = ec2, operation

    def paginate(self, PaginationConfig: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict]:
        filters = kwargs.get("Filters", [])
        world = self.ec2.world
        if self.operation == "describe_instances":
            found = [i for i in world.instances if _match(i, filters)]
            yield {"Reservations": [{"Instances": found}]}
            return
        if self.operation == "describe_volumes":
            yield {"Volumes": _attached_volumes(world.instances, filters)}
            return
        now = world.clock
        found = [
            _public(s)
            for s in world.snapshots[self.ec2.region].values()
            if s["_visible_at"] <= now and _match(s, filters)
        ]
        yield {"Snapshots": found}


class SimEC2:
    """What the backup function calls on an EC2 client of one region."""

    def __init__(self, world: SimWorld, region: str) -> None:
        self.world, self.region = world, region
        self.meta = SimpleNamespace(region_name=region, events=SimpleNamespace(register=lambda *a, **k: None))
        self.calls: dict[str, int] = {}
        self.compute = world.compute.setdefault(region, Compute(world, region))  # instances and images

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "compute":
            raise AttributeError(name)
        return self.compute.operation(name, self._count)  # the operations of sim/compute.py

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get_paginator(self, operation: str) -> Any:
        self._count(operation)
        return self.compute.paginator(operation, _Paginator(self, operation))

    def create_snapshots(self, InstanceSpecification, TagSpecifications=(), **_: Any):
        self._count("create_snapshots")
        tags = [t for spec in TagSpecifications for t in spec["Tags"]]
        created = self.world.create_snapshots(self.region, InstanceSpecification["InstanceId"], tags)
        return {
            "Snapshots": [
                {k: s[k] for k in ("SnapshotId", "VolumeId", "State", "StartTime", "OwnerId")}
                for s in created
            ]
        }

    def create_tags(self, Resources, Tags):
        self._count("create_tags")
        for resource in Resources:
            item = self.world.snapshots[self.region].get(resource)
            if item is None or item["_visible_at"] > self.world.clock:
                raise _error(
                    "InvalidSnapshot.NotFound", f"The snapshot '{resource}' does not exist.", "CreateTags"
                )
            current = _tags(item)
            current.update({t["Key"]: t["Value"] for t in Tags})
            item["Tags"] = [{"Key": k, "Value": v} for k, v in current.items()]
            _changed(item)

    def copy_snapshot(self, SourceRegion, SourceSnapshotId, KmsKeyId, TagSpecifications=(), **_: Any):
        self._count("copy_snapshot")
        tags = [t for spec in TagSpecifications for t in spec["Tags"]]
        return {"SnapshotId": self.world.copy_snapshot(SourceRegion, SourceSnapshotId, tags, KmsKeyId)}

    def delete_snapshot(self, SnapshotId):
        self._count("delete_snapshot")
        item = self.world.snapshots[self.region].pop(SnapshotId, None)
        if item is None:
            raise _error("InvalidSnapshot.NotFound", f"no snapshot {SnapshotId}", "DeleteSnapshot")
        world = self.world
        world.pending_copies.discard(SnapshotId)
        world.deleted.append((self.region, item))
        if self.region == world.primary:
            world.completed_primaries.discard(SnapshotId)
            world.owed.discard(SnapshotId)
            if "completed" not in world.copy_state(SnapshotId):
                world.unsafe_deletions += 1  # a primary must outlive the completion of its DR copy
        elif item["State"] != "error":
            world._copy_gone(item)
        self.world.on_change()


class SimDynamoDB:
    """PutItem / UpdateItem / DeleteItem with the condition expressions the copy ledger uses."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    @staticmethod
    def _key(key: dict[str, Any]) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]

    @staticmethod
    def _value(raw: dict[str, str]) -> Any:
        return float(raw["N"]) if "N" in raw else raw["S"]

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

    def put_item(
        self,
        TableName,
        Item,
        ConditionExpression=None,
        ExpressionAttributeNames=None,
        ExpressionAttributeValues=None,
    ):
        key = self._key(Item)
        if not self._holds(
            self.world.table.get(key),
            ConditionExpression,
            ExpressionAttributeNames or {},
            ExpressionAttributeValues or {},
        ):
            raise _error("ConditionalCheckFailedException", "The conditional request failed", "PutItem")
        self.world.table[key] = dict(Item)

    def update_item(
        self, TableName, Key, UpdateExpression, ExpressionAttributeNames=None, ExpressionAttributeValues=None
    ):
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues or {}
        item = self.world.table.setdefault(self._key(Key), dict(Key))
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
        if not self._holds(
            self.world.table.get(key),
            ConditionExpression,
            ExpressionAttributeNames or {},
            ExpressionAttributeValues or {},
        ):
            raise _error("ConditionalCheckFailedException", "The conditional request failed", "DeleteItem")
        self.world.table.pop(key, None)


class SimSNS:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.messages.append(kwargs)
        return {"MessageId": f"m-{len(self.messages)}"}
