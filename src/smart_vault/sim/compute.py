"""Instances and images in the simulated EC2: the fleet's instances (`adopt`, running from the start) and what
a full-instance restore (and so a drill) launches and calls. One store of instances per region.

`SimEC2` (ec2.py) hands every operation it does not have itself to `Compute` of its region, through its one
request path (`SimEC2.send`: counted, throttled, cut off like every call), and its instance listings ask
`listing()` here. States are computed from the virtual clock when read, so a poll that sleeps sees them change
exactly as time passes. The instances' volumes live in the world's one volume store (`volumes.py`).

Modelled (the figures are guesses from AWS's documentation and common experience, marked GUESS; AWS publishes
no launch-time figures):
- RegisterImage from snapshots: the image is `pending` for 3..15 s, then `available` (GUESS);
- RunInstances: the instance is invisible to describes for 0..`invisible_max_s` s (eventual consistency, as
  the contract describes), `pending` for 30..60 s, then `running` (GUESS); its status checks are
  `initializing` for a further 2..4 min, then `ok` (GUESS; EC2 documents that checks start once running);
- TerminateInstances: `shutting-down` for 20..40 s, then `terminated`; volumes with DeleteOnTermination go
  with it, the others become `available` (GUESS for the time; `volumes.py`);
- DeregisterImage takes effect at once (GUESS);
- every subnet id exists, in the region's zone `a` (the simulation has no VPCs).
Not modelled: capacity errors (`InsufficientInstanceCapacity`, see tests/faults), instance type quotas,
the resource-token buckets of RunInstances and TerminateInstances (their request-token buckets are:
`throttle.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.sim.filters import select

IMAGE_PENDING_S = (3.0, 15.0)  # GUESS
INSTANCE_PENDING_S = (30.0, 60.0)  # GUESS
STATUS_INITIALIZING_S = (120.0, 240.0)  # GUESS
SHUTTING_DOWN_S = (20.0, 40.0)  # GUESS


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _tag_list(specs: Any, resource_type: str) -> list[dict[str, str]]:
    return [dict(t) for s in specs or () if s.get("ResourceType") == resource_type for t in s.get("Tags", [])]


@dataclass
class _Instance:
    item: dict[str, Any]
    visible_at: float
    running_at: float
    status_ok_at: float
    terminate_at: float | None = None
    terminated_at: float | None = None


@dataclass
class Compute:
    """The instances (the fleet's and those restores launch) and the images of one region of the world."""

    world: Any
    region: str
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # image id -> item (with _available_at)
    instances: dict[str, _Instance] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # ClientToken -> instance id

    def adopt(self, item: dict[str, Any]) -> None:
        """A fleet instance of the scenario (`SimWorld.add_instance`): running, its checks ok, from the start."""
        never = float("-inf")
        self.instances[item["InstanceId"]] = _Instance(
            item, visible_at=never, running_at=never, status_ok_at=never
        )

    # ------------------------------------------------------------------ state from the clock
    def _uniform(self, bounds: tuple[float, float]) -> float:
        return self.world.rng.uniform(*bounds)

    def _state(self, instance: _Instance) -> str:
        now = self.world.clock
        if instance.terminated_at is not None and now >= instance.terminated_at:
            return "terminated"
        if instance.terminate_at is not None:
            return "shutting-down"
        return "running" if now >= instance.running_at else "pending"

    def _instance_view(self, instance: _Instance) -> dict[str, Any]:
        state = self._state(instance)
        view = {k: v for k, v in instance.item.items() if not k.startswith("_")}
        view["State"] = {"Name": state}
        if state == "terminated":
            view["BlockDeviceMappings"] = []
        return view

    def _image_view(self, image: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in image.items() if not k.startswith("_")}
        view["State"] = "available" if self.world.clock >= image["_available_at"] else "pending"
        return view

    # ------------------------------------------------------------------ images
    def register_image(
        self, Name: str, BlockDeviceMappings: list[dict[str, Any]], TagSpecifications=(), **params: Any
    ):
        if any(i["Name"] == Name for i in self.images.values()):
            raise _error("InvalidAMIName.Duplicate", f"AMI name {Name} is already in use", "RegisterImage")
        snapshots = self.world.snapshots[self.region]
        for mapping in BlockDeviceMappings:
            snapshot_id = mapping["Ebs"]["SnapshotId"]
            if snapshot_id not in snapshots or snapshots[snapshot_id]["State"] != "completed":
                raise _error(
                    "InvalidSnapshot.NotFound", f"snapshot {snapshot_id} is not available", "RegisterImage"
                )
        image_id = self.world.new_id("ami")
        self.images[image_id] = {
            "ImageId": image_id,
            "Name": Name,
            "RootDeviceName": params.get("RootDeviceName"),
            "Architecture": params.get("Architecture", "x86_64"),
            "BlockDeviceMappings": [dict(m) for m in BlockDeviceMappings],
            "Tags": _tag_list(TagSpecifications, "image"),
            "_available_at": self.world.clock + self._uniform(IMAGE_PENDING_S),
        }
        return {"ImageId": image_id}

    def describe_images(self, ImageIds=None, Owners=None, Filters=()):
        if ImageIds:
            missing = [i for i in ImageIds if i not in self.images]
            if missing:
                raise _error(
                    "InvalidAMIID.NotFound", f"The image id '[{missing[0]}]' does not exist", "DescribeImages"
                )
            return {"Images": [self._image_view(self.images[i]) for i in ImageIds]}
        found = select((self._image_view(i) for i in self.images.values()), Filters, "image")
        return {"Images": found}

    def deregister_image(self, ImageId: str, **_: Any):
        if self.images.pop(ImageId, None) is None:
            raise _error(
                "InvalidAMIID.NotFound", f"The image id '[{ImageId}]' does not exist", "DeregisterImage"
            )
        return {}

    # ------------------------------------------------------------------ instances
    def run_instances(
        self,
        ImageId: str,
        InstanceType: str,
        SubnetId: str,
        ClientToken: str | None = None,
        TagSpecifications=(),
        **_: Any,
    ):
        if ClientToken and ClientToken in self.tokens:
            return {"Instances": [self._instance_view(self.instances[self.tokens[ClientToken]])]}
        image = self.images.get(ImageId)
        if image is None:
            raise _error(
                "InvalidAMIID.NotFound", f"The image id '[{ImageId}]' does not exist", "RunInstances"
            )
        if self.world.clock < image["_available_at"]:
            raise _error("IncorrectState", f"image {ImageId} is pending", "RunInstances")
        now = self.world.clock
        instance_id = self.world.new_id("i")
        volume_tags = _tag_list(TagSpecifications, "volume")
        mappings = []
        snapshots = self.world.snapshots[self.region]
        for mapping in image["BlockDeviceMappings"]:
            volume_id = self.world.new_id("vol")
            ebs = mapping["Ebs"]
            self.world.volumes.attached(
                self.region,
                volume_id,
                instance_id,
                mapping["DeviceName"],
                availability_zone=f"{self.region}a",
                size=ebs.get("VolumeSize", 8),
                volume_type=ebs.get("VolumeType", "gp3"),
                snapshot_id=ebs["SnapshotId"],
                tags=[dict(t) for t in volume_tags],
                encrypted=bool(snapshots.get(ebs["SnapshotId"], {}).get("Encrypted")),
                delete_on_termination=bool(ebs.get("DeleteOnTermination", True)),
            )
            mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": {"VolumeId": volume_id}})
        running_at = now + self._uniform(INSTANCE_PENDING_S)
        instance = _Instance(
            item={
                "InstanceId": instance_id,
                "ImageId": ImageId,
                "InstanceType": InstanceType,
                "SubnetId": SubnetId,
                "PrivateIpAddress": f"10.250.0.{len(self.instances) % 250 + 4}",
                "BlockDeviceMappings": mappings,
                "Tags": _tag_list(TagSpecifications, "instance"),
            },
            visible_at=now + self.world.rng.uniform(0.0, self.world.p.invisible_max_s),
            running_at=running_at,
            status_ok_at=running_at + self._uniform(STATUS_INITIALIZING_S),
        )
        self.instances[instance_id] = instance
        if ClientToken:
            self.tokens[ClientToken] = instance_id
        return {"Instances": [self._instance_view(instance)]}

    def _visible(self, ids: list[str], operation: str) -> list[_Instance]:
        found = []
        for instance_id in ids:
            instance = self.instances.get(instance_id)
            if instance is None or self.world.clock < instance.visible_at:
                raise _error(
                    "InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist", operation
                )
            found.append(instance)
        return found

    def describe_instances(self, InstanceIds=None, Filters=(), **_: Any):
        if InstanceIds:
            views = [self._instance_view(i) for i in self._visible(list(InstanceIds), "DescribeInstances")]
            views = select(views, Filters, "instance")
        else:
            views = self.listing(list(Filters))
        return {"Reservations": [{"Instances": views}] if views else []}

    def describe_instance_status(self, InstanceIds, IncludeAllInstances=False, **_: Any):
        statuses = []
        for instance in self._visible(list(InstanceIds), "DescribeInstanceStatus"):
            state = self._state(instance)
            if state != "running" and not IncludeAllInstances:
                continue
            check = (
                "ok" if state == "running" and self.world.clock >= instance.status_ok_at else "initializing"
            )
            if state != "running":
                check = "not-applicable"
            statuses.append(
                {
                    "InstanceId": instance.item["InstanceId"],
                    "InstanceState": {"Name": state},
                    "InstanceStatus": {"Status": check},
                    "SystemStatus": {"Status": check},
                }
            )
        return {"InstanceStatuses": statuses}

    def terminate_instances(self, InstanceIds):
        changes = []
        for instance in self._visible(list(InstanceIds), "TerminateInstances"):
            before = self._state(instance)
            if instance.terminate_at is None:
                instance.terminate_at = self.world.clock
                instance.terminated_at = self.world.clock + self._uniform(SHUTTING_DOWN_S)
                self.world.volumes.instance_terminated(
                    self.region, instance.item["InstanceId"], instance.terminated_at
                )
            changes.append(
                {
                    "InstanceId": instance.item["InstanceId"],
                    "PreviousState": {"Name": before},
                    "CurrentState": {"Name": self._state(instance)},
                }
            )
        return {"TerminatingInstances": changes}

    def listing(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The visible instances matching `filters`, as DescribeInstances lists them (one reservation each)."""
        visible = (
            self._instance_view(i) for i in self.instances.values() if self.world.clock >= i.visible_at
        )
        return select(visible, filters, "instance")

    def zone_of(self, instance_id: str, operation: str) -> str:
        """The zone of a visible instance a volume may be attached to (every subnet is in zone `a`): EC2
        attaches to a `running` or `stopped` instance only (GUESS: the error code `IncorrectInstanceState`)."""
        (instance,) = self._visible([instance_id], operation)
        state = self._state(instance)
        if state not in ("running", "stopped"):
            message = f"The instance '{instance_id}' is not in a valid state for this operation ({state})."
            raise _error("IncorrectInstanceState", message, operation)
        return f"{self.region}a"

    def mapping_changed(self, instance_id: str, device: str, volume_id: str | None) -> None:
        """AttachVolume (a volume id) or DetachVolume (None) on one of these instances: its block devices."""
        instance = self.instances.get(instance_id)
        if instance is None:
            return
        mappings = [m for m in instance.item["BlockDeviceMappings"] if m["DeviceName"] != device]
        if volume_id is not None:
            mappings.append({"DeviceName": device, "Ebs": {"VolumeId": volume_id}})
        instance.item["BlockDeviceMappings"] = mappings

    # ------------------------------------------------------------------ subnets, key pairs
    def describe_subnets(self, SubnetIds, **_: Any):
        return {"Subnets": [{"SubnetId": s, "AvailabilityZone": f"{self.region}a"} for s in SubnetIds]}

    def describe_key_pairs(self, KeyNames, **_: Any):
        raise _error(
            "InvalidKeyPair.NotFound", f"The key pair '{KeyNames[0]}' does not exist", "DescribeKeyPairs"
        )

    # ------------------------------------------------------------------ the hook SimEC2 uses
    OPERATIONS = (
        "register_image",
        "describe_images",
        "deregister_image",
        "run_instances",
        "describe_instances",
        "describe_instance_status",
        "terminate_instances",
        "describe_subnets",
        "describe_key_pairs",
    )

    def operation(self, name: str) -> Callable[..., Any]:
        """The method answering the EC2 operation `name` (SimEC2 sends it as one request)."""
        if name not in self.OPERATIONS:
            raise AttributeError(f"the simulated EC2 has no operation {name}")
        return getattr(self, name)
