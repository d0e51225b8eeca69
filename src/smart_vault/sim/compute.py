"""Instances, images and their volumes in the simulated EC2: what a full-instance restore (and so a drill) calls.

`SimEC2` (world.py) hands every operation it does not have itself to `Compute` of its region, and its
paginators of restored resources (filtered by `smart-vault:restore-id`) too. States are computed from the
virtual clock when read, so a poll that sleeps sees them change exactly as time passes.

Modelled (the figures are guesses from AWS's documentation and common experience, marked GUESS; AWS publishes
no launch-time figures):
- RegisterImage from snapshots: the image is `pending` for 3..15 s, then `available` (GUESS);
- RunInstances: the instance is invisible to describes for 0..`invisible_max_s` s (eventual consistency, as
  the contract describes), `pending` for 30..60 s, then `running` (GUESS); its status checks are
  `initializing` for a further 2..4 min, then `ok` (GUESS; EC2 documents that checks start once running);
- TerminateInstances: `shutting-down` for 20..40 s, then `terminated`; volumes with DeleteOnTermination go
  with it, the others become `available` (GUESS for the time);
- DeleteVolume and DeregisterImage take effect at once (GUESS: their `deleting` phase is not modelled);
- every subnet id exists, in the region's zone `a` (the simulation has no VPCs).
Not modelled: capacity errors (`InsufficientInstanceCapacity`, see tests/faults), instance type quotas,
throttling of the run-instances bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.tags import RESTORE_ID_TAG

RESTORE_TAG = f"tag:{RESTORE_ID_TAG}"
IMAGE_PENDING_S = (3.0, 15.0)  # GUESS
INSTANCE_PENDING_S = (30.0, 60.0)  # GUESS
STATUS_INITIALIZING_S = (120.0, 240.0)  # GUESS
SHUTTING_DOWN_S = (20.0, 40.0)  # GUESS


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _tag_list(specs: Any, resource_type: str) -> list[dict[str, str]]:
    return [dict(t) for s in specs or () if s.get("ResourceType") == resource_type for t in s.get("Tags", [])]


def _matches(item: dict[str, Any], filters: list[dict[str, Any]], state: str) -> bool:
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    for f in filters:
        name, values = f["Name"], f["Values"]
        if name.startswith("tag:"):
            ok = tags.get(name[4:]) in values
        elif name == "tag-key":
            ok = any(v in tags for v in values)
        elif name in ("instance-state-name", "status", "state"):
            ok = state in values
        elif name == "name":
            ok = item.get("Name") in values
        else:
            raise _error("InvalidParameterValue", f"the simulation has no filter {name}", "Describe")
        if not ok:
            return False
    return True


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
    """The restored instances, images and volumes of one region of the simulated world."""

    world: Any
    region: str
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # image id -> item (with _available_at)
    instances: dict[str, _Instance] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # volume id -> item (with _instance)
    tokens: dict[str, str] = field(default_factory=dict)  # ClientToken -> instance id

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

    def _volume_state(self, volume: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """(state, attachments) of a volume launched with an instance."""
        owner = self.instances.get(volume.get("_instance", ""))
        if owner is not None and self._state(owner) != "terminated":
            attachments = [
                {"InstanceId": owner.item["InstanceId"], "Device": volume["_device"], "State": "attached"}
            ]
            return "in-use", attachments
        return "available", []

    def _live_volumes(self) -> Iterator[dict[str, Any]]:
        for volume_id, volume in list(self.volumes.items()):
            owner = self.instances.get(volume.get("_instance", ""))
            if owner is not None and self._state(owner) == "terminated" and volume["_delete_on_termination"]:
                del self.volumes[volume_id]
                continue
            yield volume

    def _volume_view(self, volume: dict[str, Any]) -> dict[str, Any]:
        state, attachments = self._volume_state(volume)
        view = {k: v for k, v in volume.items() if not k.startswith("_")}
        return {**view, "State": state, "Attachments": attachments}

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
        found = [
            self._image_view(i)
            for i in self.images.values()
            if _matches(i, list(Filters), self._image_view(i)["State"])
        ]
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
        for mapping in image["BlockDeviceMappings"]:
            volume_id = self.world.new_id("vol")
            ebs = mapping["Ebs"]
            self.volumes[volume_id] = {
                "VolumeId": volume_id,
                "SnapshotId": ebs["SnapshotId"],
                "Size": ebs.get("VolumeSize", 8),
                "VolumeType": ebs.get("VolumeType", "gp3"),
                "AvailabilityZone": f"{self.region}a",
                "Tags": [dict(t) for t in volume_tags],
                "_instance": instance_id,
                "_device": mapping["DeviceName"],
                "_delete_on_termination": bool(ebs.get("DeleteOnTermination", True)),
            }
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
            chosen = self._visible(list(InstanceIds), "DescribeInstances")
        else:
            chosen = [
                i
                for i in self.instances.values()
                if self.world.clock >= i.visible_at and _matches(i.item, list(Filters), self._state(i))
            ]
        return {"Reservations": [{"Instances": [self._instance_view(i) for i in chosen]}] if chosen else []}

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
            changes.append(
                {
                    "InstanceId": instance.item["InstanceId"],
                    "PreviousState": {"Name": before},
                    "CurrentState": {"Name": self._state(instance)},
                }
            )
        return {"TerminatingInstances": changes}

    # ------------------------------------------------------------------ volumes, subnets, key pairs
    def has_volume(self, volume_id: str) -> bool:
        return volume_id in self.volumes

    def describe_volumes(self, VolumeIds=None, Filters=(), **_: Any):
        live = {v["VolumeId"]: v for v in self._live_volumes()}
        if VolumeIds:
            missing = [v for v in VolumeIds if v not in live]
            if missing:
                raise _error(
                    "InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist.", "DescribeVolumes"
                )
            return {"Volumes": [self._volume_view(live[v]) for v in VolumeIds]}
        return {
            "Volumes": [
                self._volume_view(v)
                for v in live.values()
                if _matches(v, list(Filters), self._volume_state(v)[0])
            ]
        }

    def delete_volume(self, VolumeId: str):
        live = {v["VolumeId"]: v for v in self._live_volumes()}
        volume = live.get(VolumeId)
        if volume is None:
            raise _error("InvalidVolume.NotFound", f"The volume '{VolumeId}' does not exist.", "DeleteVolume")
        if self._volume_state(volume)[0] != "available":
            raise _error("VolumeInUse", f"Volume {VolumeId} is currently attached", "DeleteVolume")
        del self.volumes[VolumeId]
        return {}

    def describe_subnets(self, SubnetIds, **_: Any):
        return {"Subnets": [{"SubnetId": s, "AvailabilityZone": f"{self.region}a"} for s in SubnetIds]}

    def describe_key_pairs(self, KeyNames, **_: Any):
        raise _error(
            "InvalidKeyPair.NotFound", f"The key pair '{KeyNames[0]}' does not exist", "DescribeKeyPairs"
        )

    # ------------------------------------------------------------------ the hooks SimEC2 uses
    OPERATIONS = (
        "register_image",
        "describe_images",
        "deregister_image",
        "run_instances",
        "describe_instances",
        "describe_instance_status",
        "terminate_instances",
        "describe_volumes",
        "delete_volume",
        "describe_subnets",
        "describe_key_pairs",
    )

    def operation(self, name: str, count: Callable[[str], None]) -> Callable[..., Any]:
        if name not in self.OPERATIONS:
            raise AttributeError(f"the simulated EC2 has no operation {name}")
        method = getattr(self, name)

        def call(**kwargs: Any) -> Any:
            count(name)
            return method(**kwargs)

        return call

    def paginator(self, operation: str, fallback: Any) -> Any:
        """Restored resources (filtered by their restore id) are this module's; the rest is world.py's."""
        return _Paginator(self, operation, fallback)


@dataclass
class _Paginator:
    compute: Compute
    operation: str
    fallback: Any

    def paginate(self, PaginationConfig: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict]:
        filters = kwargs.get("Filters", [])
        if self.operation in ("describe_instances", "describe_volumes") and any(
            f["Name"] == RESTORE_TAG for f in filters
        ):
            yield getattr(self.compute, self.operation)(Filters=filters)
            return
        yield from self.fallback.paginate(PaginationConfig=PaginationConfig, **kwargs)
