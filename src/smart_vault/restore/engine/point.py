"""The recovery point a restore rebuilds: one backup set in one region, read from its snapshots' tags.

Every snapshot of a set records what rebuilding its instance needs (the contract's restore metadata), so the
set is self-describing in either region: the engine reads it from the region the client is for only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smart_vault import aws, recovery_sets
from smart_vault.errors import Conflict, NotFound
from smart_vault.restore.recovery_points import (
    RECOVERY_POINT_NOT_FOUND,
    is_complete,
    managed_snapshots,
    set_size_of,
)
from smart_vault.snapshot_model import snapshot_from_api
from smart_vault.tags import (
    BACKUP_SET_TAG,
    COMPLETED,
    DELETE_ON_TERMINATION_TAG,
    DEVICE_TAG,
    IOPS_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    ROOT_DEVICE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_REGION_TAG,
    SOURCE_VOLUME_TAG,
    THROUGHPUT_TAG,
    VOLUME_TYPE_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class SetVolume:
    """One snapshot of a recovery point, with what its volume needs."""

    snapshot_id: str
    device: str
    size_gib: int
    state: str
    source_volume: str
    volume_type: str | None
    iops: int | None
    throughput: int | None
    delete_on_termination: bool


@dataclass(frozen=True)
class RecoveryPoint:
    """One backup set in one region, read from its snapshots' tags: everything a rebuild needs."""

    backup_set_id: str
    region: str
    source_instance_id: str
    tags: Mapping[str, str]
    volumes: tuple[SetVolume, ...]
    complete: bool  # as recovery_points.is_complete judges the set's snapshots

    def tag(self, key: str) -> str | None:
        return self.tags.get(key) or None

    @property
    def set_size(self) -> int:
        return set_size_of(self.tags) or len(self.volumes)

    @property
    def root_device(self) -> str | None:
        return self.tag(ROOT_DEVICE_TAG)

    @property
    def root_volume(self) -> SetVolume | None:
        return next((v for v in self.volumes if v.device == self.root_device), None)

    @property
    def data_volumes(self) -> tuple[SetVolume, ...]:
        return tuple(v for v in self.volumes if v.device != self.root_device)

    @property
    def name(self) -> str | None:
        return self.tag("Name")

    @property
    def source_region(self) -> str:
        """The region the set was taken in (DR copies record it; a primary snapshot is in its own)."""
        return self.tag(SOURCE_REGION_TAG) or self.region


def _int_tag(tags: Mapping[str, str], key: str) -> int | None:
    try:
        return int(tags[key]) if tags.get(key) else None
    except ValueError:
        return None


def recovery_point_from_snapshots(
    backup_set_id: str, region: str, snapshots: Sequence[Mapping[str, Any]]
) -> RecoveryPoint:
    """Pure: a RecoveryPoint from the DescribeSnapshots items of one set (managed ones only)."""
    volumes = []
    members = []
    set_tags: dict[str, str] = {}
    for item in snapshots:
        tags = aws.tags_to_dict(item.get("Tags"))
        if tags.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE or tags.get(BACKUP_SET_TAG) != backup_set_id:
            continue
        members.append(item)
        set_tags = set_tags or tags
        volumes.append(
            SetVolume(
                snapshot_id=item["SnapshotId"],
                device=tags.get(DEVICE_TAG, ""),
                size_gib=int(item.get("VolumeSize") or 0),
                state=item.get("State", ""),
                source_volume=tags.get(SOURCE_VOLUME_TAG, ""),
                volume_type=tags.get(VOLUME_TYPE_TAG) or None,
                iops=_int_tag(tags, IOPS_TAG),
                throughput=_int_tag(tags, THROUGHPUT_TAG),
                delete_on_termination=tags.get(DELETE_ON_TERMINATION_TAG, "true") == "true",
            )
        )
    # (v3) One volume per device: a duplicate snapshot of a device (a retried call) is left out.
    duplicates = recovery_sets.duplicate_ids(snapshot_from_api(m, region) for m in members)
    volumes = [v for v in volumes if v.snapshot_id not in duplicates]
    volumes.sort(key=lambda v: (v.device, v.snapshot_id))
    return RecoveryPoint(
        backup_set_id=backup_set_id,
        region=region,
        source_instance_id=set_tags.get(SOURCE_INSTANCE_TAG, ""),
        tags=set_tags,
        volumes=tuple(volumes),
        complete=is_complete(members),
    )


def load_recovery_point(
    ec2: EC2Client, backup_set_id: str, *, require_complete: bool = True
) -> RecoveryPoint:
    """The set's managed snapshots in the client's region. NotFound (RecoveryPointNotFound) when there are
    none; Conflict when it is not complete there (unless `require_complete` is false)."""
    region = getattr(getattr(ec2, "meta", None), "region_name", "") or "this region"
    point = recovery_point_from_snapshots(
        backup_set_id, region, managed_snapshots(ec2, backup_set_id=backup_set_id)
    )
    if not point.volumes:
        raise NotFound(
            f"recovery point {backup_set_id} was not found in {region}", error=RECOVERY_POINT_NOT_FOUND
        )
    if require_complete and not point.complete:
        done = sum(1 for v in point.volumes if v.state == COMPLETED)
        raise Conflict(
            f"recovery point {backup_set_id} is not complete in {region}: "
            f"{done} of {point.set_size} snapshots completed"
        )
    return point
