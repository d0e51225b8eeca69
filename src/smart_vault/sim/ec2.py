"""The simulated EC2 client of one region (`SimEC2`): the operations the code under test sends, answered from
the world's snapshots, instances and volumes, with its paginators, waiters' events and every request through
the world's request path (throttling, counts, cut-offs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.local.snapshot_lock import LockError
from smart_vault.sim.compute import Compute
from smart_vault.sim.locks import SnapshotLockCalls
from smart_vault.sim.throttle import RetryingCall
from smart_vault.sim.volumes import SimWaiter
from smart_vault.sim.world import ACCOUNT, MAX_RESULTS, SimWorld, _error, _match, _tags


def _attached_volumes(
    instances: list[dict[str, Any]], filters: list[dict[str, Any]], world_sizes: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """DescribeVolumes with the one filter the backup sends (`attachment.instance-id`). GUESS: every simulated
    volume is a 100 GiB gp3 at its baseline (3000 IOPS, 125 MiB/s); the copy times do not depend on it."""
    wanted: set[str] | None = None
    sizes = world_sizes or {}
    for f in filters:
        if f["Name"] != "attachment.instance-id":
            raise _error("InvalidParameterValue", f"the simulation has no filter {f['Name']}", "Describe")
        wanted = set(f["Values"]) if wanted is None else wanted & set(f["Values"])
    return [
        {
            "VolumeId": mapping["Ebs"]["VolumeId"],
            "Size": sizes.get(mapping["Ebs"]["VolumeId"], 100),
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


class _Paginator:
    def __init__(self, ec2: SimEC2, operation: str) -> None:
        self.ec2, self.operation = ec2, operation

    def paginate(self, PaginationConfig: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict]:
        """Pages of `PageSize` (MaxResults, at most 1000) items; each page is one throttled request."""
        filters = kwargs.get("Filters", [])
        world, ec2 = self.ec2.world, self.ec2
        size = min(int((PaginationConfig or {}).get("PageSize") or MAX_RESULTS), MAX_RESULTS)
        action = "".join(part.title() for part in self.operation.split("_"))
        filtered = bool(filters) or PaginationConfig is not None
        # The answer is read at the first page (a describe's pages are one listing).
        ec2.send(action, lambda: None, filtered)
        if self.operation == "describe_instances":
            found = [i for i in world.instances if _match(i, filters)]
            key = "Reservations"
        elif self.operation == "describe_volumes":
            if any(f["Name"] == "attachment.instance-id" for f in filters):
                found = _attached_volumes(world.instances, filters, world.volume_size)
            else:
                found = world.restored.describe(ec2.region, None, filters)
            key = "Volumes"
        else:
            found = world.find_snapshots(ec2.region, filters)
            key = "Snapshots"
        for index in range(0, max(len(found), 1), size):
            if index:
                ec2.send(action, lambda: None, filtered, first=False)
            page = found[index : index + size]
            yield {key: [{"Instances": page}]} if key == "Reservations" else {key: page}


class _Events:
    """The part of botocore's event system the product hooks: `provide-client-params.ec2.<Operation>`
    handlers run once per call, before its first attempt (where `smart_vault.pacing` takes its token)."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., Any]]] = {}

    def register(self, event: str, handler: Callable[..., Any], **_: Any) -> None:
        self.handlers.setdefault(event, []).append(handler)

    def register_first(self, event: str, handler: Callable[..., Any], **_: Any) -> None:
        self.handlers.setdefault(event, []).insert(0, handler)

    def call_started(self, action: str) -> None:
        for handler in self.handlers.get(f"provide-client-params.ec2.{action}", ()):
            handler(model=SimpleNamespace(name=action), params={})


class SimEC2(SnapshotLockCalls):
    """What the product calls on an EC2 client of one region; each call is throttled and retried as botocore
    would (`throttle.py`)."""

    account = ACCOUNT

    def __init__(self, world: SimWorld, region: str) -> None:
        self.world, self.region = world, region
        self.meta = SimpleNamespace(region_name=region, events=_Events())
        self.calls: dict[str, int] = {}
        self.compute = world.compute.setdefault(region, Compute(world, region))  # instances and images
        self.retry = RetryingCall(world.sleep, world.rng.random)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("compute", "retry"):
            raise AttributeError(name)
        return self.compute.operation(name, self._count)  # the operations of sim/compute.py

    def send(self, action: str, call: Callable[[], Any], filtered: bool = True, first: bool = True) -> Any:
        if first:
            self.meta.events.call_started(action)

        def attempt() -> Any:
            with self.world.api_lock:
                self.world.request(self.region, action, filtered)
                return call()

        return self.retry(action, attempt)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get_paginator(self, operation: str) -> Any:
        self._count(operation)
        return self.compute.paginator(operation, _Paginator(self, operation))

    def get_waiter(self, name: str) -> SimWaiter:
        return SimWaiter(self, name)

    def create_volume(self, **params: Any) -> dict[str, Any]:
        self._count("create_volume")
        return self.send("CreateVolume", lambda: self.world.restored.create(self.region, **params))

    def describe_volumes(self, VolumeIds=None, Filters=(), **_: Any) -> dict[str, Any]:
        self._count("describe_volumes")
        ids = list(VolumeIds or [])
        # Volumes of simulated instances (sim/compute.py) and volumes created by CreateVolume (sim/volumes.py).
        try:
            launched = list(self.compute.describe_volumes(Filters=list(Filters))["Volumes"])
        except ClientError:
            launched = []  # a filter only restored volumes have (sim/compute.py knows tags and state)
        if ids:
            launched = [v for v in launched if v["VolumeId"] in ids]
            ids = [i for i in ids if i not in {v["VolumeId"] for v in launched}]
            if not ids:
                return {"Volumes": launched}
        found = self.send(
            "DescribeVolumes", lambda: self.world.restored.describe(self.region, ids or None, list(Filters))
        )
        return {"Volumes": launched + found}

    def delete_volume(self, VolumeId: str) -> None:
        self._count("delete_volume")
        if self.compute.has_volume(VolumeId):
            self.compute.delete_volume(VolumeId=VolumeId)
            return
        self.send("DeleteVolume", lambda: self.world.restored.delete(self.region, VolumeId))

    def describe_snapshots(self, SnapshotIds=(), Filters=(), **_: Any) -> dict[str, Any]:
        self._count("describe_snapshots")
        filters = [*Filters, *([{"Name": "snapshot-id", "Values": list(SnapshotIds)}] if SnapshotIds else [])]
        found = self.send("DescribeSnapshots", lambda: self.world.find_snapshots(self.region, filters))
        if SnapshotIds and len(found) < len(set(SnapshotIds)):
            raise _error("InvalidSnapshot.NotFound", "a snapshot does not exist", "DescribeSnapshots")
        return {"Snapshots": found}

    def create_snapshots(self, InstanceSpecification, TagSpecifications=(), **_: Any):
        self._count("create_snapshots")
        tags = [t for spec in TagSpecifications for t in spec["Tags"]]
        created = self.send(
            "CreateSnapshots",
            lambda: self.world.create_snapshots(self.region, InstanceSpecification["InstanceId"], tags),
        )
        return {
            "Snapshots": [
                {k: s[k] for k in ("SnapshotId", "VolumeId", "State", "StartTime", "OwnerId")}
                for s in created
            ]
        }

    def create_tags(self, Resources, Tags):
        self._count("create_tags")
        self.send("CreateTags", lambda: self._create_tags(Resources, Tags))

    def _create_tags(self, resources: list[str], tags: list[dict[str, str]]) -> None:
        for resource in resources:
            item = self.world.snapshots[self.region].get(resource)
            if item is None or item["_visible_at"] > self.world.monotonic():
                raise _error(
                    "InvalidSnapshot.NotFound", f"The snapshot '{resource}' does not exist.", "CreateTags"
                )
            current = _tags(item)
            current.update({t["Key"]: t["Value"] for t in tags})
            self.world.set_tags(self.region, item, current)

    def copy_snapshot(self, SourceRegion, SourceSnapshotId, KmsKeyId, TagSpecifications=(), **_: Any):
        self._count("copy_snapshot")
        tags = [t for spec in TagSpecifications for t in spec["Tags"]]
        copy_id = self.send(
            "CopySnapshot", lambda: self.world.copy_snapshot(SourceRegion, SourceSnapshotId, tags, KmsKeyId)
        )
        return {"SnapshotId": copy_id}

    def delete_snapshot(self, SnapshotId):
        self._count("delete_snapshot")
        self.send("DeleteSnapshot", lambda: self._delete_snapshot(SnapshotId))

    def _delete_snapshot(self, snapshot_id: str) -> None:
        world = self.world
        present = world.snapshots[self.region].get(snapshot_id)
        if present is not None:
            try:
                world.locks[self.region].check_delete(snapshot_id, world.now())
            except LockError as exc:
                raise _error(exc.code, exc.message, "DeleteSnapshot") from None
            world.watch.before_delete(self.region, present)
        item = world.remove(self.region, snapshot_id)
        if item is None:
            raise _error("InvalidSnapshot.NotFound", f"no snapshot {snapshot_id}", "DeleteSnapshot")
        world.locks[self.region].deleted(snapshot_id)
        world.pending_copies.discard(snapshot_id)
        world.deleted.append((self.region, item))
        if self.region == world.primary:
            world.completed_primaries.discard(snapshot_id)
            world.owed.discard(snapshot_id)
            if "completed" not in world.copy_state(snapshot_id):
                world.unsafe_deletions += 1  # a primary must outlive the completion of its DR copy
        elif item["State"] != "error":
            world._copy_gone(item)
        world.on_change()
