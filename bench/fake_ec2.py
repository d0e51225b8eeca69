"""A small in-memory EC2 for figure 5 (10,000 instances): moto needs minutes to describe that many.

It answers only what the backup run sends (the same operations, parameters and page sizes), completes
snapshots at once like moto, and adds a fixed latency to every call so that time passes as against AWS.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

_ids = itertools.count(1)
_id_lock = threading.Lock()


def _new_id(prefix: str) -> str:
    with _id_lock:
        return f"{prefix}-{next(_ids):017x}"


class World:
    """The state both regions share."""

    def __init__(self) -> None:
        self.instances: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = {}  # region -> id -> snapshot
        self.lock = threading.Lock()

    def seed(self, count: int, tag_key: str = "Backup-Tier", tag_value: str = "Gold") -> list[str]:
        for _ in range(count):
            instance_id = _new_id("i")
            self.instances.append(
                {
                    "InstanceId": instance_id,
                    "State": {"Name": "running"},
                    "Tags": [{"Key": tag_key, "Value": tag_value}],
                    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": _new_id("vol")}}],
                }
            )
        self.by_id = {i["InstanceId"]: i for i in self.instances}
        return [i["InstanceId"] for i in self.instances]


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def _matches(item: dict[str, Any], filters: list[dict[str, Any]], fields: dict[str, str]) -> bool:
    tags = _tags(item)
    for f in filters:
        name, values = f["Name"], f["Values"]
        if name.startswith("tag:"):
            if tags.get(name[4:]) not in values:
                return False
        elif name == "instance-state-name":
            if item["State"]["Name"] not in values:
                return False
        elif name in fields:
            if item.get(fields[name]) not in values:
                return False
        else:
            raise ValueError(f"filter {name} is not emulated")
    return True


class _Paginator:
    def __init__(self, client: FakeEC2, operation: str) -> None:
        self.client, self.operation = client, operation

    def paginate(self, PaginationConfig: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict]:
        page_size = (PaginationConfig or {}).get("PageSize") or 1000
        if self.operation == "describe_instances":
            items, key = self.client.find_instances(kwargs.get("Filters", [])), "Reservations"
        elif self.operation == "describe_volumes":
            items, key = self.client.find_volumes(kwargs.get("Filters", [])), "Volumes"
        else:
            assert kwargs.get("OwnerIds") == ["self"]
            items, key = self.client.find_snapshots(kwargs.get("Filters", [])), "Snapshots"
        for start in range(0, max(len(items), 1), page_size):
            self.client.latency()
            chunk = items[start : start + page_size]
            yield {key: [{"Instances": [i]} for i in chunk] if key == "Reservations" else chunk}


class FakeEC2:
    def __init__(self, world: World, region: str, latency_s: float = 0.005) -> None:
        self.world, self.region, self.latency_s = world, region, latency_s
        self.meta = SimpleNamespace(region_name=region)
        world.snapshots.setdefault(region, {})

    def latency(self) -> None:
        time.sleep(self.latency_s)

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    def find_instances(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in self.world.instances if _matches(i, filters, {"instance-id": "InstanceId"})]

    def find_volumes(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = {v for f in filters if f["Name"] == "attachment.instance-id" for v in f["Values"]}
        return [
            {"VolumeId": m["Ebs"]["VolumeId"], "VolumeType": "gp3", "Iops": 3000, "Throughput": 125}
            for i in self.world.instances
            if i["InstanceId"] in wanted
            for m in i["BlockDeviceMappings"]
        ]

    def find_snapshots(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.world.lock:
            snapshots = list(self.world.snapshots[self.region].values())
        fields = {"snapshot-id": "SnapshotId", "status": "State"}
        return [dict(s) for s in snapshots if _matches(s, filters, fields)]

    def _add_snapshot(self, volume_id: str, tags: list[dict[str, str]]) -> dict[str, Any]:
        snapshot = {
            "SnapshotId": _new_id("snap"),
            "VolumeId": volume_id,
            "State": "completed",
            "StartTime": datetime.now(UTC),
            "OwnerId": "123456789012",
            "Tags": [dict(t) for t in tags],
        }
        with self.world.lock:
            self.world.snapshots[self.region][snapshot["SnapshotId"]] = snapshot
        return snapshot

    def create_snapshots(self, InstanceSpecification: dict, TagSpecifications: list, **_: Any) -> dict:
        self.latency()
        instance = self.world.by_id[InstanceSpecification["InstanceId"]]
        tags = TagSpecifications[0]["Tags"]
        created = [self._add_snapshot(m["Ebs"]["VolumeId"], tags) for m in instance["BlockDeviceMappings"]]
        return {"Snapshots": [{k: s[k] for k in ("SnapshotId", "VolumeId", "StartTime")} for s in created]}

    def create_tags(self, Resources: list[str], Tags: list[dict[str, str]]) -> dict:
        self.latency()
        with self.world.lock:
            for resource in Resources:
                snapshot = self.world.snapshots[self.region][resource]
                merged = {**_tags(snapshot), **{t["Key"]: t["Value"] for t in Tags}}
                snapshot["Tags"] = [{"Key": k, "Value": v} for k, v in merged.items()]
        return {}

    def copy_snapshot(self, SourceSnapshotId: str, TagSpecifications: list, **_: Any) -> dict:
        self.latency()
        return {"SnapshotId": self._add_snapshot("vol-ffffffff", TagSpecifications[0]["Tags"])["SnapshotId"]}

    def delete_snapshot(self, SnapshotId: str) -> dict:
        self.latency()
        with self.world.lock:
            self.world.snapshots[self.region].pop(SnapshotId, None)
        return {}
