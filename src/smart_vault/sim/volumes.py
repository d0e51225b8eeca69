"""EBS volumes restored from snapshots, in the simulated world: created `creating`, invisible for a while,
`available` (or `error`) after a while, deletable when `available` or `error`.

What the restore worker calls: CreateVolume (idempotent by `ClientToken`, as EC2 documents), DescribeVolumes
(by id: `InvalidVolume.NotFound` while a volume is invisible or gone; by filter: only the visible ones),
DeleteVolume (`IncorrectState` unless `available` or `error`; `InvalidVolume.NotFound` while invisible), and
botocore's `volume_available` / `volume_in_use` waiters run on the virtual clock (`SimWaiter`: botocore's
own waiter model and acceptors; only the sleep is virtual). GUESS: creation takes a lognormal
`volume_create_median_s` (10 s); `volume_error_rate` of them end in `error`. The backup's own view of the
instances' attached volumes stays in `world._attached_volumes`.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.exceptions import ClientError, WaiterError

VOLUME_CREATE_MEDIAN_S = 10.0  # GUESS


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class SimVolumes:
    """The restored volumes of every region of one world."""

    def __init__(self, world: Any, error_rate: float = 0.0, create_median_s: float = VOLUME_CREATE_MEDIAN_S):
        self.world = world
        self.error_rate = error_rate
        self.create_median_s = create_median_s
        self.volumes: dict[str, dict[str, dict[str, Any]]] = {}
        self.by_token: dict[tuple[str, str], str] = {}
        self.not_found_answers = 0
        self.created: list[str] = []

    def region(self, region: str) -> dict[str, dict[str, Any]]:
        return self.volumes.setdefault(region, {})

    def _visible(self, item: dict[str, Any]) -> bool:
        return item["_visible_at"] <= self.world.monotonic()

    def create(self, region: str, **params: Any) -> dict[str, Any]:
        world = self.world
        token = params.get("ClientToken")
        if token and (region, token) in self.by_token:
            return self._public(self.region(region)[self.by_token[(region, token)]])
        snapshot = world.snapshots.get(region, {}).get(params["SnapshotId"])
        if snapshot is None or snapshot["State"] != "completed" or not world_visible(world, snapshot):
            raise _error("InvalidSnapshot.NotFound", f"no snapshot {params['SnapshotId']}", "CreateVolume")
        volume_id = world.new_id("vol")
        tags = [t for spec in params.get("TagSpecifications", ()) for t in spec.get("Tags", [])]
        item = {
            "VolumeId": volume_id,
            "SnapshotId": params["SnapshotId"],
            "AvailabilityZone": params["AvailabilityZone"],
            "VolumeType": params.get("VolumeType", "gp3"),
            "Size": params.get("Size") or snapshot.get("VolumeSize", 8),
            "State": "creating",
            "CreateTime": world.now(),
            "Attachments": [],
            "Tags": tags,
            "Encrypted": bool(snapshot.get("Encrypted")),
            "_visible_at": world.monotonic() + world.rng.uniform(0.0, world.p.invisible_max_s),
        }
        if "Iops" in params:
            item["Iops"] = params["Iops"]
        self.region(region)[volume_id] = item
        if token:
            self.by_token[(region, token)] = volume_id
        self.created.append(volume_id)
        item["_final"] = "error" if world.rng.random() < self.error_rate else "available"
        item["_done_at"] = world.monotonic() + world.lognormal(self.create_median_s)
        return self._public(item)

    def _public(self, item: dict[str, Any]) -> dict[str, Any]:
        self._settle(item)
        return {k: v for k, v in item.items() if not k.startswith("_")}

    def _settle(self, item: dict[str, Any]) -> None:
        """A creating volume's state as of now on the virtual clock (the caller's own time in a thread)."""
        if item["State"] == "creating" and self.world.monotonic() >= item["_done_at"]:
            item["State"] = item["_final"]

    def describe(
        self, region: str, volume_ids: list[str] | None, filters: list[dict[str, Any]]
    ) -> list[dict]:
        volumes = self.region(region)
        if volume_ids:
            missing = [v for v in volume_ids if v not in volumes or not self._visible(volumes[v])]
            if missing:
                self.not_found_answers += 1
                raise _error(
                    "InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist.", "DescribeVolumes"
                )
            found = [volumes[v] for v in volume_ids]
        else:
            found = [v for v in volumes.values() if self._visible(v)]
        for volume in found:
            self._settle(volume)
        return [self._public(v) for v in found if _matches(v, filters)]

    def delete(self, region: str, volume_id: str) -> None:
        item = self.region(region).get(volume_id)
        if item is not None:
            self._settle(item)
        if item is None or not self._visible(item):
            self.not_found_answers += 1
            raise _error(
                "InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.", "DeleteVolume"
            )
        if item["State"] not in ("available", "error") or item["Attachments"]:
            raise _error("IncorrectState", f"The volume '{volume_id}' is '{item['State']}'.", "DeleteVolume")
        del self.region(region)[volume_id]

    def live(self, region: str) -> list[str]:
        """Every volume that exists, visible or not (what a leak check must count)."""
        return sorted(self.region(region))


def world_visible(world: Any, item: dict[str, Any]) -> bool:
    return item["_visible_at"] <= world.monotonic()


def _matches(volume: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
    for f in filters:
        name, values = f["Name"], f["Values"]
        if name.startswith("tag:"):
            if tags.get(name[4:]) not in values:
                return False
        elif name == "snapshot-id":
            if volume["SnapshotId"] not in values:
                return False
        elif name == "status":
            if volume["State"] not in values:
                return False
        elif name == "volume-id":
            if volume["VolumeId"] not in values:
                return False
        else:
            raise _error("InvalidParameterValue", f"the simulation has no volume filter {name}", "Describe")
    return True


@functools.cache
def _waiter_model() -> Any:
    import botocore.session
    from botocore.waiter import WaiterModel

    loader = botocore.session.get_session().get_component("data_loader")
    return WaiterModel(loader.load_service_model("ec2", "waiters-2"))


class SimWaiter:
    """botocore's waiter (its model and acceptors, as `Waiter.wait` applies them) with a virtual sleep."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = "".join(part.title() for part in name.split("_"))
        self.config = _waiter_model().get_waiter(self.name)

    def wait(self, WaiterConfig: dict[str, int] | None = None, **kwargs: Any) -> None:
        config = WaiterConfig or {}
        delay = config.get("Delay", self.config.delay)
        max_attempts = config.get("MaxAttempts", self.config.max_attempts)
        operation = "".join("_" + c.lower() if c.isupper() else c for c in self.config.operation).lstrip("_")
        for attempt in range(1, max_attempts + 1):
            try:
                response = getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                response = exc.response
            state = next((a.state for a in self.config.acceptors if a.matcher_func(response)), "waiting")
            if state == "success":
                return
            if state == "failure" or ("Error" in response and state == "waiting"):
                reason = "Waiter encountered a terminal failure state"
                if "Error" in response:
                    reason = f"An error occurred ({response['Error'].get('Code')}): {response['Error'].get('Message')}"
                raise WaiterError(name=self.name, reason=reason, last_response=response)
            if attempt < max_attempts:
                self.client.world.sleep(delay)
        raise WaiterError(name=self.name, reason="Max attempts exceeded", last_response=response)
