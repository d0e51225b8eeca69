"""Full-instance restore: one recovery point back as a whole instance, in the region the client is for.

Without an `ami_id`, a temporary AMI named `smart-vault-restore-<restore_id>` is registered from the set's
snapshots (each at its recorded device, with its recorded volume type, IOPS, throughput and
delete-on-termination), one instance is launched from it, and once the instance runs and passes its status
checks the AMI is deregistered (its snapshots are the vault's and stay). With an `ami_id`, the instance is
launched from that AMI (its own root volume) and a volume is made from every other snapshot of the set and
attached at its recorded device.

Every step is safe to run again: the AMI name is deterministic and looked up before registering, the launch
and every CreateVolume carry a ClientToken from the restore id, and resources are found again by their
`smart-vault:restore-id` tag. No call goes to any other region than the client's: a DR restore works while
the primary is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError, Conflict
from smart_vault.restore.engine.base import Recorder, RestoreAttempt, plan_from_request
from smart_vault.restore.engine.lookups import find_image, find_restored_instance, image_name
from smart_vault.restore.engine.point import RecoveryPoint, SetVolume, load_recovery_point
from smart_vault.restore.engine.polling import (
    POLL_SECONDS,
    Deadline,
    poll,
    wait_instance_running,
    wait_status_checks,
    wait_volume_attached,
    wait_volume_usable,
)
from smart_vault.restore.engine.teardown import deregister_image
from smart_vault.tags import (
    ARCHITECTURE_TAG,
    BACKUP_SET_TAG,
    BOOT_MODE_TAG,
    ENA_TAG,
    FAILED_IMAGE_STATES,
    IMAGE_AVAILABLE,
    KEY_NAME_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RESTORE_ID_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_SNAPSHOT_TAG,
    STARTING_INSTANCE_STATES,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# Only these volume types take an IOPS figure, and only gp3 a throughput figure.
IOPS_TYPES = ("io1", "io2", "gp3")
THROUGHPUT_TYPES = ("gp3",)


@dataclass(frozen=True)
class InstancePlan:
    """Where and how one recovery point comes back: resolved before the worker starts."""

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
    def from_request(cls, restore_id: str, request: Mapping[str, Any]) -> InstancePlan:
        """The plan of a job's resolved instance-form request."""
        return plan_from_request(
            cls, restore_id, request, security_group_ids=tuple(request["security_group_ids"])
        )

    @property
    def image_name(self) -> str:
        return image_name(self.restore_id)


def resource_tags(plan: InstancePlan, point: RecoveryPoint) -> dict[str, str]:
    tags = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        RESTORE_ID_TAG: plan.restore_id,
        SOURCE_INSTANCE_TAG: point.source_instance_id,
        BACKUP_SET_TAG: point.backup_set_id,
    }
    if point.name:
        tags["Name"] = point.name
    return {**tags, **plan.extra_tags}


def volume_shape(volume: SetVolume) -> dict[str, Any]:
    """VolumeType / Iops / Throughput as recorded, only where the type takes them."""
    shape: dict[str, Any] = {}
    if volume.volume_type:
        shape["VolumeType"] = volume.volume_type
        if volume.iops and volume.volume_type in IOPS_TYPES:
            shape["Iops"] = volume.iops
        if volume.throughput and volume.volume_type in THROUGHPUT_TYPES:
            shape["Throughput"] = volume.throughput
    return shape


def register_image_params(plan: InstancePlan, point: RecoveryPoint) -> dict[str, Any]:
    """Pure: the RegisterImage call for the temporary AMI of this restore."""
    root = point.root_volume
    if root is None:
        raise Conflict(
            f"recovery point {point.backup_set_id} has no snapshot of its root device "
            f"{point.root_device or '(not recorded)'}; restore it with ami_id"
        )
    mappings = [
        {
            "DeviceName": v.device,
            "Ebs": {
                "SnapshotId": v.snapshot_id,
                "DeleteOnTermination": v.delete_on_termination,
                **volume_shape(v),
            },
        }
        for v in point.volumes
    ]
    params: dict[str, Any] = {
        "Name": plan.image_name,
        "Description": f"Smart Vault restore {plan.restore_id} of {point.source_instance_id} "
        f"({point.backup_set_id}); temporary",
        "Architecture": point.tag(ARCHITECTURE_TAG) or "x86_64",
        "RootDeviceName": root.device,
        "VirtualizationType": "hvm",
        "EnaSupport": point.tag(ENA_TAG) == "true",
        "BlockDeviceMappings": mappings,
        "TagSpecifications": [
            {"ResourceType": "image", "Tags": aws.dict_to_tags(resource_tags(plan, point))}
        ],
    }
    if point.tag(BOOT_MODE_TAG):
        params["BootMode"] = point.tag(BOOT_MODE_TAG)
    return params


def _image_failure(image_id: str, images: list[Any]) -> str | None:
    if images and images[0].get("State") in FAILED_IMAGE_STATES:
        reason = (images[0].get("StateReason") or {}).get("Message", "no reason given")
        return f"image {image_id} is {images[0].get('State')}: {reason}"
    return None


class InstanceRestore(RestoreAttempt):
    """One attempt at one full-instance restore. Each step is recorded through the recorder."""

    def __init__(self, ec2: EC2Client, plan: InstancePlan, recorder: Recorder, deadline: Deadline):
        super().__init__(ec2, plan.restore_id, recorder, deadline)
        self.plan = plan
        self.image_id = plan.ami_id
        self.point: RecoveryPoint | None = None

    def execute(self) -> None:
        if self.plan.ami_id is None:
            self._execute_registered()
        else:
            self._execute_from_ami(self.plan.ami_id)

    def result_fields(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "image_id": self.image_id,
            "volume_ids": list(self.volume_ids),
            "volume_id": self.volume_ids[0] if self.volume_ids else None,
        }

    def _execute_registered(self) -> None:
        with self.recorder.step("register_image"):
            point, existing = self._prepare()
            self._register_image(point, skip=existing is not None)
        with self.recorder.step("launch_instance"):
            self._launch(point, self.temporary_image or "", existing)
        with self.recorder.step("wait_instance_running"):
            self._wait_running()
        with self.recorder.step("wait_status_checks"):
            wait_status_checks(self.ec2, self.instance_id or "", self.deadline.budget())
        with self.recorder.step("deregister_image"):
            if self.temporary_image:
                deregister_image(self.ec2, self.temporary_image, fresh=self.temporary_image in self.fresh)

    def _execute_from_ami(self, ami_id: str) -> None:
        with self.recorder.step("launch_instance"):
            point, existing = self._prepare()
            self._launch(point, ami_id, existing)
        with self.recorder.step("create_volumes"):
            data = self._create_volumes(point)
        with self.recorder.step("wait_instance_running"):
            self._wait_running()
        with self.recorder.step("attach_volumes"):
            for volume, volume_id in data:
                self.attach(volume_id, volume.device)
            for _, volume_id in data:
                wait_volume_attached(self.ec2, volume_id, self.deadline.budget())
        with self.recorder.step("wait_status_checks"):
            wait_status_checks(self.ec2, self.instance_id or "", self.deadline.budget())

    def _save(self) -> None:
        self.recorder.save(
            instance_id=self.instance_id, image_id=self.image_id, volume_ids=list(self.volume_ids)
        )

    def _prepare(self) -> tuple[RecoveryPoint, dict[str, Any] | None]:
        """The recovery point (checked complete again: the API's check was some time ago) and the instance
        an earlier attempt of this restore already launched, if any."""
        self.point = load_recovery_point(self.ec2, self.plan.backup_set_id)
        return self.point, find_restored_instance(self.ec2, self.restore_id, STARTING_INSTANCE_STATES)

    def _register_image(self, point: RecoveryPoint, *, skip: bool) -> None:
        found = find_image(self.ec2, self.plan.image_name)
        if found:
            self.temporary_image = found["ImageId"]
        elif skip:
            return  # an earlier attempt launched the instance and already deregistered the image
        else:
            self.temporary_image = self._registered(point)
        self.image_id = self.temporary_image
        self._save()
        image_id = self.temporary_image
        poll(
            lambda: aws.retry_not_found(
                lambda: self.ec2.describe_images(ImageIds=[image_id])["Images"], "DescribeImages"
            ),
            lambda images: bool(images) and images[0].get("State") == IMAGE_AVAILABLE,
            lambda images: _image_failure(image_id, images),
            budget_seconds=self.deadline.budget(),
            delay=POLL_SECONDS["image"],
            what=f"image {image_id} available",
        )

    def _registered(self, point: RecoveryPoint) -> str:
        """RegisterImage, or the image an earlier attempt registered that EC2 does not show yet."""
        try:
            # Retried on a NotFound of a resource created moments before (eventual consistency).
            image_id: str = aws.retry_not_found(
                lambda: self.ec2.register_image(**register_image_params(self.plan, point))["ImageId"],
                "RegisterImage",
            )
        except AwsError as exc:
            if exc.code != "InvalidAMIName.Duplicate":
                raise
            found = poll(
                lambda: find_image(self.ec2, self.plan.image_name),
                lambda image: image is not None,
                lambda image: None,
                budget_seconds=min(aws.NOT_FOUND_RETRY_SECONDS, self.deadline.budget()),
                delay=POLL_SECONDS["image"],
                what=f"image {self.plan.image_name} visible",
            )
            return str(found["ImageId"])
        self.fresh.add(image_id)
        return image_id

    def _key_name(self, point: RecoveryPoint) -> str | None:
        key = point.tag(KEY_NAME_TAG)
        if not key:
            return None
        try:
            with aws.aws_errors("DescribeKeyPairs"):
                self.ec2.describe_key_pairs(KeyNames=[key])
        except AwsError as exc:
            if exc.code != "InvalidKeyPair.NotFound":
                raise
            self.warnings.append(
                f"the recorded key pair {key} does not exist in {self.plan.region}; "
                "the instance was launched without a key pair"
            )
            return None
        return key

    def _launch(self, point: RecoveryPoint, image_id: str, existing: dict[str, Any] | None) -> None:
        if existing:
            self.instance_id = existing["InstanceId"]
            self._save()
            return
        tags = aws.dict_to_tags(resource_tags(self.plan, point))
        params: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": self.plan.instance_type,
            "SubnetId": self.plan.subnet_id,
            "SecurityGroupIds": list(self.plan.security_group_ids),
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        key = self._key_name(point)
        if key:
            params["KeyName"] = key
        if self.plan.instance_profile_arn:
            params["IamInstanceProfile"] = {"Arn": self.plan.instance_profile_arn}
        self.launch(params)
        self._save()

    def _wait_running(self) -> None:
        instance_id = self.instance_id or ""
        instance = wait_instance_running(
            self.ec2, instance_id, self.deadline.budget(), fresh=instance_id in self.fresh
        )
        launched = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs")]
        self.volume_ids = launched + [v for v in self.volume_ids if v not in launched]
        self._save()

    def _volume_params(self, point: RecoveryPoint, volume: SetVolume) -> dict[str, Any]:
        tags = {**resource_tags(self.plan, point), SOURCE_SNAPSHOT_TAG: volume.snapshot_id}
        return {
            "AvailabilityZone": self.plan.availability_zone,
            "TagSpecifications": [{"ResourceType": "volume", "Tags": aws.dict_to_tags(tags)}],
            **volume_shape(volume),
        }

    def _create_volumes(self, point: RecoveryPoint) -> list[tuple[SetVolume, str]]:
        created = []
        for volume in point.data_volumes:
            volume_id = self.create_volume(
                volume.snapshot_id,
                f"volume/{volume.snapshot_id}",
                partial(self._volume_params, point, volume),
            )
            self._save()
            created.append((volume, volume_id))
        for _, volume_id in created:
            wait_volume_usable(self.ec2, volume_id, self.deadline.budget())
        return created
