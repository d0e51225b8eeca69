"""The volume form as a plan of the engine: one snapshot back as a volume, optionally attached to a new instance.

The volume is created and the instance launched side by side (each takes tens of seconds), both are waited
for, then the volume is attached and waited for until `in-use`. Each step is safe to run again: a resumed
attempt finds what the earlier one created by its ClientToken and its restore-id tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.restore.engine.base import Recorder, RestoreAttempt, plan_from_request
from smart_vault.restore.engine.lookups import find_restored_instance, restore_tags
from smart_vault.restore.engine.polling import (
    Deadline,
    wait_instance_running,
    wait_volume_attached,
    wait_volume_usable,
)
from smart_vault.restore.jobs import LeaseLost

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# The smallest volume of each type CreateVolume takes (its API reference: io1 and io2 from 4 GiB, st1 and sc1
# from 125 GiB, the others from 1); a restore may make the volume larger than the snapshot.
MIN_SIZE_GIB = {"st1": 125, "sc1": 125, "io1": 4, "io2": 4}
# io1/io2 need an explicit IOPS figure: 50 IOPS per GiB is the io1 maximum ratio, capped at 3000 (gp3's base).
PROVISIONED_IOPS_TYPES = ("io1", "io2")
IOPS_PER_GIB = 50
MAX_DEFAULT_IOPS = 3_000
MIN_IOPS = 100


def volume_size_and_iops(volume_type: str, snapshot_size_gib: int) -> tuple[int, int | None]:
    """Size and IOPS for a volume of `volume_type` restored from a snapshot of `snapshot_size_gib`."""
    size = max(snapshot_size_gib, MIN_SIZE_GIB.get(volume_type, 1))
    if volume_type in PROVISIONED_IOPS_TYPES:
        return size, max(MIN_IOPS, min(MAX_DEFAULT_IOPS, size * IOPS_PER_GIB))
    return size, None


def snapshot_size_gib(ec2: EC2Client, snapshot_id: str) -> int:
    with aws.aws_errors("DescribeSnapshots"):
        snapshots = ec2.describe_snapshots(SnapshotIds=[snapshot_id], OwnerIds=["self"])["Snapshots"]
    return int(snapshots[0]["VolumeSize"])


@dataclass(frozen=True)
class VolumePlan:
    """One snapshot back as a volume of `volume_type` in `availability_zone`; with `launch_instance`, attached
    at `device_name` to a new instance of `ami_id` in `subnet_id`."""

    restore_id: str
    snapshot_id: str
    availability_zone: str
    volume_type: str
    launch_instance: bool = False
    ami_id: str | None = None
    instance_type: str | None = None
    subnet_id: str | None = None
    device_name: str | None = None

    @classmethod
    def from_request(cls, restore_id: str, request: Mapping[str, Any]) -> VolumePlan:
        """The plan of a job's volume-form request."""
        return plan_from_request(
            cls, restore_id, request, launch_instance=bool(request.get("launch_instance"))
        )


class VolumeRestore(RestoreAttempt):
    """One attempt at one volume-form restore (`resume` it from what the job recorded). Each step is
    recorded through the recorder."""

    def __init__(self, ec2: EC2Client, plan: VolumePlan, recorder: Recorder, deadline: Deadline):
        super().__init__(ec2, plan.restore_id, recorder, deadline)
        self.plan = plan

    def resume(self, volume_id: str | None, instance_id: str | None) -> VolumeRestore:
        """Start from what an earlier attempt recorded on the job (its volume and instance, if any)."""
        self.volume_ids = [volume_id] if volume_id else []
        self.instance_id = instance_id
        return self

    @property
    def volume_id(self) -> str | None:
        return self.volume_ids[0] if self.volume_ids else None

    def execute(self) -> None:
        """Run the steps; raises the first failure (after both branches end)."""
        branches = [self._volume_branch]
        if self.plan.launch_instance:
            branches.append(self._instance_branch)
        # Creating a volume and booting an instance each take tens of seconds: do them side by side.
        with ThreadPoolExecutor(max_workers=len(branches), thread_name_prefix="restore") as pool:
            futures = [pool.submit(branch) for branch in branches]
            errors = [future.exception() for future in futures]
        _raise_first(errors)
        if not self.plan.launch_instance:
            return
        if self.volume_id is None or self.instance_id is None:  # both branches succeeded: both are set
            raise RuntimeError("the restore branches ended without a volume or an instance")
        volume_id = self.volume_id
        with self.recorder.step("attach_volume"):
            self.attach(volume_id, self.plan.device_name or "")
        with self.recorder.step("wait_volume_in_use"):
            wait_volume_attached(self.ec2, volume_id, self.deadline.budget())

    def needs_rollback(self) -> bool:
        return bool(self.volume_ids or self.instance_id)

    def result_fields(self) -> dict[str, Any]:
        return {
            "volume_id": self.volume_id,
            "instance_id": self.instance_id,
            "volume_ids": list(self.volume_ids),
        }

    def _volume_branch(self) -> None:
        with self.recorder.step("create_volume"):
            recorded = self.volume_id
            volume_id = self.create_volume(self.plan.snapshot_id, "volume", self._volume_params)
            self.volume_ids = [volume_id]
            if volume_id != recorded:
                self.fresh.add(volume_id)
            self.recorder.save(volume_id=volume_id)
        with self.recorder.step("wait_volume_available"):
            wait_volume_usable(self.ec2, volume_id, self.deadline.budget())

    def _volume_params(self) -> dict[str, Any]:
        plan = self.plan
        params: dict[str, Any] = {
            "AvailabilityZone": plan.availability_zone,
            "VolumeType": plan.volume_type,
            "TagSpecifications": [
                {
                    "ResourceType": "volume",
                    "Tags": aws.dict_to_tags(restore_tags(plan.restore_id, plan.snapshot_id)),
                }
            ],
        }
        if plan.volume_type in (*MIN_SIZE_GIB, *PROVISIONED_IOPS_TYPES):
            size, iops = volume_size_and_iops(plan.volume_type, snapshot_size_gib(self.ec2, plan.snapshot_id))
            params["Size"] = size
            if iops is not None:
                params["Iops"] = iops
        return params

    def _instance_branch(self) -> None:
        with self.recorder.step("launch_instance"):
            recorded = self.instance_id
            existing = find_restored_instance(self.ec2, self.restore_id)
            if existing:
                self.instance_id = existing["InstanceId"]
            else:
                self.launch(self._launch_params())
            if self.instance_id != recorded:
                self.fresh.add(self.instance_id or "")
            self.recorder.save(instance_id=self.instance_id)
        with self.recorder.step("wait_instance_running"):
            instance_id = self.instance_id or ""
            wait_instance_running(
                self.ec2, instance_id, self.deadline.budget(), fresh=instance_id in self.fresh
            )

    def _launch_params(self) -> dict[str, Any]:
        tags = aws.dict_to_tags(restore_tags(self.restore_id, self.plan.snapshot_id))
        return {
            "ImageId": self.plan.ami_id,
            "InstanceType": self.plan.instance_type,
            "SubnetId": self.plan.subnet_id,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
        }


def _raise_first(errors: list[BaseException | None]) -> None:
    """Raise the first error of the branches; a lost lease before any other (the worker must stop at once)."""
    for error in errors:
        if isinstance(error, LeaseLost):
            raise error
    for error in errors:
        if error is not None:
            raise error
