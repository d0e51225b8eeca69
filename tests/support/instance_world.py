"""Backup sets with their restore metadata on moto, for the full-instance restore tests.

`make_backup_set` writes what a v2 backup run leaves behind for one instance in one region: one snapshot per
volume, each with the set tags, the set-wide restore metadata and its per-volume metadata; DR copies carry
`smart-vault:source-region` like the copies the backup makes. `set_state` and `age_set` adjust moto's
snapshots in place (moto completes snapshots at once and stamps them with the current time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
from moto.backends import get_backend

from smart_vault import aws

INSTANCE_ID = "i-0a1b2c3d4e5f60718"
LINUX = "Linux/UNIX"
DEVICES = (("/dev/xvda", 8, "gp3"), ("/dev/sdf", 20, "gp3"), ("/dev/sdg", 4, "io2"))
VOLUME_PERFORMANCE = {
    "gp3": {"smart-vault:iops": "3000", "smart-vault:throughput": "125"},
    "io2": {"smart-vault:iops": "200"},
}


def set_id_for(label: str) -> str:
    return "bset-" + hashlib.sha256(label.encode()).hexdigest()[:20]


@dataclass
class BackupSet:
    region: str
    backup_set_id: str
    snapshot_ids: list[str]


def network(region: str, cidr: str = "10.30.0.0/16") -> tuple[str, str, list[str]]:
    """A VPC with one subnet (in zone a) and two security groups: (vpc, subnet, groups)."""
    ec2 = boto3.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"), AvailabilityZone=f"{region}a"
    )
    groups = [
        ec2.create_security_group(GroupName=f"restore-{vpc}-{i}", Description="restore", VpcId=vpc)["GroupId"]
        for i in range(2)
    ]
    return vpc, subnet["Subnet"]["SubnetId"], groups


def make_backup_set(
    region: str,
    label: str,
    *,
    instance_id: str = INSTANCE_ID,
    subnet_id: str = "subnet-0aaaaaaaaaaaaaaaa",
    security_group_ids: Sequence[str] = ("sg-0aaaaaaaaaaaaaaaa",),
    instance_type: str = "t3.small",
    platform: str | None = LINUX,
    instance_profile: str | None = None,
    source_region: str | None = None,
    devices: Sequence[tuple[str, int, str]] = DEVICES,
    set_size: int | None = None,
    name: str = "web-1",
) -> BackupSet:
    """One recovery point of `instance_id` in `region` (a DR copy set when `source_region` is given)."""
    ec2 = boto3.client("ec2", region)
    backup_set_id = set_id_for(label)
    set_tags = {
        "ManagedBy": "smart-vault",
        "Name": name,
        "smart-vault:source-instance": instance_id,
        "smart-vault:backup-set": backup_set_id,
        "smart-vault:run-id": f"run-{label}",
        "smart-vault:retention-days": "7",
        "smart-vault:set-size": str(set_size or len(devices)),
        "smart-vault:instance-type": instance_type,
        "smart-vault:architecture": "x86_64",
        "smart-vault:root-device": devices[0][0],
        "smart-vault:ena": "true",
        "smart-vault:image-id": "ami-0bbbbbbbbbbbbbbbb",
        "smart-vault:availability-zone": f"{source_region or region}a",
        "smart-vault:subnet-id": subnet_id,
        "smart-vault:security-groups": " ".join(security_group_ids),
        "smart-vault:key-name": "ops",
    }
    if platform is not None:
        set_tags["smart-vault:platform"] = platform
    if instance_profile is not None:
        set_tags["smart-vault:instance-profile"] = instance_profile
    if source_region is not None:
        set_tags["smart-vault:source-region"] = source_region
    snapshot_ids = []
    for index, (device, size, volume_type) in enumerate(devices):
        volume_id = ec2.create_volume(AvailabilityZone=f"{region}a", Size=size)["VolumeId"]
        tags = {
            **set_tags,
            "smart-vault:device": device,
            "smart-vault:source-volume": f"vol-0{index:016x}",
            "smart-vault:volume-type": volume_type,
            "smart-vault:delete-on-termination": "true",
            # What DescribeVolumes reports for such a volume, as the backup records it.
            **VOLUME_PERFORMANCE.get(volume_type, {}),
        }
        snapshot_ids.append(
            ec2.create_snapshot(
                VolumeId=volume_id,
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(tags)}],
            )["SnapshotId"]
        )
        ec2.delete_volume(VolumeId=volume_id)
    return BackupSet(region, backup_set_id, snapshot_ids)


def _backend(region: str):
    account = boto3.client("sts", region).get_caller_identity()["Account"]
    return get_backend("ec2")[account][region]


def set_state(backup_set: BackupSet, state: str, index: int = -1) -> None:
    """Put one snapshot of the set (default: the last) in `state` (e.g. `pending`)."""
    _backend(backup_set.region).snapshots[backup_set.snapshot_ids[index]].status = state


def age_set(backup_set: BackupSet, started: datetime) -> None:
    """Make every snapshot of the set look started at `started`."""
    backend = _backend(backup_set.region)
    naive_utc = started.astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC times
    for snapshot_id in backup_set.snapshot_ids:
        backend.snapshots[snapshot_id].start_time = naive_utc
