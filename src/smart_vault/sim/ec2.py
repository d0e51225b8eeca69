"""The simulated EC2 client of one region (`SimEC2`): the operations the code under test sends, answered from
the world's snapshots, instances and volumes, with its paginators, waiters' events and every request through
the world's request path (throttling, counts, cut-offs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from smart_vault.local.snapshot_lock import LockError
from smart_vault.sim.compute import Compute
from smart_vault.sim.filters import tag_dict
from smart_vault.sim.locks import SnapshotLockCalls
from smart_vault.sim.throttle import RetryingCall
from smart_vault.sim.waiters import SimWaiter
from smart_vault.sim.world import ACCOUNT, MAX_RESULTS, SimWorld, _error


def _action(method: str) -> str:
    """boto3's method name -> the API action: `run_instances` -> `RunInstances`."""
    return "".join(part.title() for part in method.split("_"))


def _filtered(params: dict[str, Any]) -> bool:
    """Whether a request names filters, ids or a page size: EC2 takes the tokens of a describe that names
    none from the smaller bucket of unfiltered and unpaginated actions (`throttle.py`)."""
    return any(
        params.get(k) for k in params if k == "Filters" or k == "MaxResults" or k.endswith(("Ids", "Names"))
    )


class _Paginator:
    def __init__(self, ec2: SimEC2, operation: str) -> None:
        self.ec2, self.operation = ec2, operation

    def paginate(self, PaginationConfig: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict]:
        """Pages of `PageSize` (MaxResults, at most 1000) items; each page is one throttled request."""
        filters = list(kwargs.get("Filters", []))
        ec2 = self.ec2
        size = min(int((PaginationConfig or {}).get("PageSize") or MAX_RESULTS), MAX_RESULTS)
        action = _action(self.operation)
        filtered = bool(filters) or PaginationConfig is not None
        # The answer is read at the first page (a describe's pages are one listing).
        found = ec2.send(action, lambda: self.listing(filters), filtered)
        key = {"describe_instances": "Reservations", "describe_volumes": "Volumes"}.get(
            self.operation, "Snapshots"
        )
        for index in range(0, max(len(found), 1), size):
            if index:
                ec2.send(action, lambda: None, filtered, first=False)
            page = found[index : index + size]
            yield {key: [{"Instances": page}]} if key == "Reservations" else {key: page}

    def listing(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        world, region = self.ec2.world, self.ec2.region
        if self.operation == "describe_instances":
            return self.ec2.compute.listing(filters)
        if self.operation == "describe_volumes":
            return world.volumes.describe(region, None, filters)
        return world.find_snapshots(region, filters)


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
        method = self.compute.operation(name)  # the operations of sim/compute.py, each one request

        def call(**params: Any) -> Any:
            self._count(name)
            return self.send(_action(name), lambda: method(**params), _filtered(params))

        return call

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
        return _Paginator(self, operation)

    def get_waiter(self, name: str) -> SimWaiter:
        return SimWaiter(self, name)

    def create_volume(self, **params: Any) -> dict[str, Any]:
        self._count("create_volume")
        return self.send("CreateVolume", lambda: self.world.volumes.create(self.region, **params))

    def describe_volumes(self, VolumeIds=None, Filters=(), **_: Any) -> dict[str, Any]:
        self._count("describe_volumes")
        found = self.send(
            "DescribeVolumes", lambda: self.world.volumes.describe(self.region, VolumeIds, list(Filters))
        )
        return {"Volumes": found}

    def delete_volume(self, VolumeId: str, **_: Any) -> dict[str, Any]:
        self._count("delete_volume")
        self.send("DeleteVolume", lambda: self.world.volumes.delete(self.region, VolumeId))
        return {}

    def attach_volume(self, VolumeId: str, InstanceId: str, Device: str, **_: Any) -> dict[str, Any]:
        self._count("attach_volume")

        def attach() -> dict[str, Any]:
            zone = self.compute.zone_of(InstanceId, "AttachVolume")
            answer = self.world.volumes.attach(self.region, VolumeId, InstanceId, Device, zone)
            self.compute.mapping_changed(InstanceId, Device, VolumeId)
            return answer

        return self.send("AttachVolume", attach)

    def detach_volume(self, VolumeId: str, **_: Any) -> dict[str, Any]:
        self._count("detach_volume")

        def detach() -> dict[str, Any]:
            answer = self.world.volumes.detach(self.region, VolumeId)
            self.compute.mapping_changed(answer["InstanceId"], answer["Device"], None)
            return answer

        return self.send("DetachVolume", detach)

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
            current = tag_dict(item)
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
