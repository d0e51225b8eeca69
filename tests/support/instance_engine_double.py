"""A stand-in for `smart_vault.restore.instance` (the lead's full-instance restore engine) while it is not on
main, honouring the shared interface exactly: InstancePlan, InstanceRestore(ec2, plan, recorder, deadline)
with `execute()` recording the steps under the interface's names, `roll_back()`, `find_leftovers(ec2, id)` and
`tear_down(ec2, id, instance_id, image_id, volume_ids, deadline)`.

It makes the real EC2 calls (on moto, or on the simulation) that the interface describes: RegisterImage from
the set's snapshots, RunInstances with IMDSv2 and tags at creation, the two waits, DeregisterImage; teardown
terminates and waits, deletes volumes, deregisters, then looks for anything still tagged with the restore id.
`engine()` returns the real module once it exists, so the drill tests move to it without an edit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from smart_vault import aws
from smart_vault.errors import AwsError, Conflict, NotFound

TAG_RESTORE_ID = "smart-vault:restore-id"
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
LIVE_VOLUME_STATES = ["creating", "available", "in-use", "error"]


def engine() -> Any:
    """The real engine when it has landed, else this double."""
    try:
        from smart_vault.restore import instance
    except ImportError:
        import sys

        return sys.modules[__name__]
    return instance


def is_double(module: Any) -> bool:
    return isinstance(module, ModuleType) and module.__name__ == __name__


@dataclass(frozen=True)
class InstancePlan:
    restore_id: str
    region: str
    backup_set_id: str
    subnet_id: str
    availability_zone: str
    security_group_ids: tuple[str, ...]
    instance_type: str
    ami_id: str | None = None
    instance_profile_arn: str | None = None
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, restore_id: str, request: dict[str, Any]) -> InstancePlan:
        return cls(
            restore_id=restore_id,
            region=request["region"],
            backup_set_id=request["backup_set_id"],
            subnet_id=request["subnet_id"],
            availability_zone=request["availability_zone"],
            security_group_ids=tuple(request["security_group_ids"]),
            instance_type=request["instance_type"],
            ami_id=request.get("ami_id"),
            instance_profile_arn=request.get("instance_profile_arn"),
        )


@dataclass(frozen=True)
class RecoveryPoint:
    backup_set_id: str
    snapshots: tuple[dict[str, Any], ...]
    tags: Mapping[str, str]


def load_recovery_point(ec2: Any, backup_set_id: str) -> RecoveryPoint:
    items = list(
        aws.paginate(
            ec2,
            "describe_snapshots",
            "Snapshots",
            OwnerIds=["self"],
            Filters=[
                {"Name": "tag:ManagedBy", "Values": ["smart-vault"]},
                {"Name": "tag:smart-vault:backup-set", "Values": [backup_set_id]},
            ],
        )
    )
    if not items:
        raise NotFound(f"recovery point {backup_set_id} not found", error="RecoveryPointNotFound")
    tags = aws.tags_to_dict(items[0].get("Tags"))
    size = int(tags.get("smart-vault:set-size", len(items)))
    if sum(1 for i in items if i.get("State") == "completed") < size:
        raise Conflict(f"recovery point {backup_set_id} is not complete")
    return RecoveryPoint(backup_set_id, tuple(items), tags)


def _tags(plan: InstancePlan, point: RecoveryPoint) -> list[dict[str, str]]:
    tags = {
        "ManagedBy": "smart-vault",
        TAG_RESTORE_ID: plan.restore_id,
        "smart-vault:source-instance": point.tags.get("smart-vault:source-instance", ""),
        "smart-vault:backup-set": plan.backup_set_id,
        **({"Name": point.tags["Name"]} if point.tags.get("Name") else {}),
        **dict(plan.extra_tags),
    }
    return aws.dict_to_tags(tags)


def _token(restore_id: str, purpose: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{restore_id}/{purpose}"))


class InstanceRestore:
    def __init__(self, ec2: Any, plan: InstancePlan, recorder: Any, deadline: Any):
        self.ec2, self.plan, self.recorder, self.deadline = ec2, plan, recorder, deadline
        self.instance_id: str | None = None
        self.image_id: str | None = None
        self.volume_ids: list[str] = []
        self.warnings: list[str] = []

    def _wait(self, name: str, **kwargs: Any) -> None:
        budget = self.deadline.budget()
        if budget <= 0:
            raise AwsError("WaiterError", f"{name}: the time ran out", f"wait {name}")
        with aws.aws_errors(f"wait {name}"):
            self.ec2.get_waiter(name).wait(
                **kwargs, WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(budget // 5))}
            )

    def execute(self) -> None:
        point = load_recovery_point(self.ec2, self.plan.backup_set_id)
        tags = _tags(self.plan, point)
        with self.recorder.step("register_image"):
            mappings = []
            for item in point.snapshots:
                snap_tags = aws.tags_to_dict(item.get("Tags"))
                mappings.append(
                    {
                        "DeviceName": snap_tags["smart-vault:device"],
                        "Ebs": {
                            "SnapshotId": item["SnapshotId"],
                            "VolumeType": snap_tags.get("smart-vault:volume-type", "gp3"),
                            "DeleteOnTermination": True,
                        },
                    }
                )
            with aws.aws_errors("RegisterImage"):
                self.image_id = self.ec2.register_image(
                    Name=f"smart-vault-restore-{self.plan.restore_id}",
                    RootDeviceName=point.tags["smart-vault:root-device"],
                    Architecture=point.tags.get("smart-vault:architecture", "x86_64"),
                    VirtualizationType="hvm",
                    EnaSupport=point.tags.get("smart-vault:ena") == "true",
                    BlockDeviceMappings=mappings,
                    TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
                )["ImageId"]
            self.recorder.save(image_id=self.image_id)
        with self.recorder.step("launch_instance"):
            params: dict[str, Any] = {
                "ImageId": self.image_id,
                "InstanceType": self.plan.instance_type,
                "SubnetId": self.plan.subnet_id,
                "SecurityGroupIds": list(self.plan.security_group_ids),
                "MinCount": 1,
                "MaxCount": 1,
                "ClientToken": _token(self.plan.restore_id, "instance"),
                "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": tags},
                    {"ResourceType": "volume", "Tags": tags},
                ],
            }
            if self.plan.instance_profile_arn:
                params["IamInstanceProfile"] = {"Arn": self.plan.instance_profile_arn}
            with aws.aws_errors("RunInstances"):
                instance = self.ec2.run_instances(**params)["Instances"][0]
            self.instance_id = instance["InstanceId"]
            self.volume_ids = [
                m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m
            ]
            self.recorder.save(instance_id=self.instance_id, volume_ids=self.volume_ids)
        with self.recorder.step("wait_instance_running"):
            self._wait("instance_running", InstanceIds=[self.instance_id])
        with self.recorder.step("wait_status_checks"):
            self._wait("instance_status_ok", InstanceIds=[self.instance_id])
        with self.recorder.step("deregister_image"):
            with aws.aws_errors("DeregisterImage"):
                self.ec2.deregister_image(ImageId=self.image_id)
            self.image_id = None
            self.recorder.save(image_id=None)

    def roll_back(self) -> list[str]:
        return tear_down(
            self.ec2, self.plan.restore_id, self.instance_id, self.image_id, self.volume_ids, self.deadline
        )


def find_leftovers(ec2: Any, restore_id: str) -> list[str]:
    by_tag = [{"Name": f"tag:{TAG_RESTORE_ID}", "Values": [restore_id]}]
    found = [
        i["InstanceId"]
        for r in aws.paginate(
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[*by_tag, {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}],
        )
        for i in r["Instances"]
    ]
    found += [
        v["VolumeId"]
        for v in aws.paginate(
            ec2,
            "describe_volumes",
            "Volumes",
            Filters=[*by_tag, {"Name": "status", "Values": LIVE_VOLUME_STATES}],
        )
    ]
    with aws.aws_errors("DescribeImages"):
        images = ec2.describe_images(Owners=["self"], Filters=by_tag)["Images"]
    found += [i["ImageId"] for i in images if i.get("State") != "deregistered"]
    return sorted(found)


def _ignore(call: Any, operation: str, codes: tuple[str, ...]) -> None:
    try:
        with aws.aws_errors(operation):
            call()
    except AwsError as exc:
        if exc.code not in codes:
            raise


def tear_down(
    ec2: Any, restore_id: str, instance_id: str | None, image_id: str | None, volume_ids: Any, deadline: Any
) -> list[str]:
    leftovers = set(find_leftovers(ec2, restore_id))
    instances = {instance_id} if instance_id else set()
    instances |= {i for i in leftovers if i.startswith("i-")}
    if instances:
        _ignore(
            lambda: ec2.terminate_instances(InstanceIds=sorted(instances)),
            "TerminateInstances",
            ("InvalidInstanceID.NotFound",),
        )
        with aws.aws_errors("wait instance_terminated"):
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=sorted(instances),
                WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(deadline.budget() // 5))},
            )
    for volume_id in sorted(set(volume_ids or []) | {v for v in leftovers if v.startswith("vol-")}):
        _ignore(
            lambda v=volume_id: ec2.delete_volume(VolumeId=v), "DeleteVolume", ("InvalidVolume.NotFound",)
        )
    for image in sorted(({image_id} if image_id else set()) | {i for i in leftovers if i.startswith("ami-")}):
        _ignore(
            lambda i=image: ec2.deregister_image(ImageId=i), "DeregisterImage", ("InvalidAMIID.NotFound",)
        )
    return find_leftovers(ec2, restore_id)
