"""Snapshot sets and snapshot lists: the calls that create backups (the instances are `instances`, the DR
copies `dr_copies`).

One `CreateSnapshots` per instance (crash-consistent across its volumes, tagged at creation) and at most one
`CreateTags` per snapshot for the two per-volume tags. Snapshot lists come from describe pages of 1000 shared
by every instance of a run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.backup.metadata import MAX_VAULT_TAGS
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.snapshot_model import Snapshot, snapshot_from_api
from smart_vault.tags import (
    BACKUP_SET_TAG,
    DEVICE_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    PENDING,
    RETENTION_DAYS_TAG,
    RETENTION_OVERRIDE_TAG,
    RUN_ID_TAG,
    SET_SIZE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_VOLUME_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from smart_vault.backup.instances import Instance

# EC2 accepts at most 200 values in one filter.
FILTER_VALUES_MAX = 200


MANAGED_FILTER = {"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]}


def backup_set_id(run_id: str, instance_id: str) -> str:
    """The same run and instance always give the same set id (a redelivered event finds its own set)."""
    digest = hashlib.sha256(f"{run_id}/{instance_id}".encode()).hexdigest()[:20]
    return f"bset-{digest}"


def describe_managed_snapshots(
    ec2: EC2Client, region: str, extra_filters: Sequence[dict[str, Any]] = ()
) -> list[Snapshot]:
    """Every snapshot of this account in `region` tagged `ManagedBy=smart-vault` (and `extra_filters`)."""
    return [
        snapshot_from_api(item, region) for item in aws.own_snapshots(ec2, [MANAGED_FILTER, *extra_filters])
    ]


def describe_snapshots_by_id(ec2: EC2Client, region: str, snapshot_ids: Iterable[str]) -> list[Snapshot]:
    """The managed snapshots among `snapshot_ids` (a filter, so that page sizes still apply)."""
    found: list[Snapshot] = []
    for batch in aws.chunks(sorted(set(snapshot_ids)), FILTER_VALUES_MAX):
        found += describe_managed_snapshots(ec2, region, [{"Name": "snapshot-id", "Values": batch}])
    return found


def run_snapshots(ec2: EC2Client, region: str, run_id: str) -> list[Snapshot]:
    """Snapshots an earlier delivery of the same run already created."""
    return describe_managed_snapshots(ec2, region, [{"Name": f"tag:{RUN_ID_TAG}", "Values": [run_id]}])


@dataclass
class SetResult:
    instance_id: str
    backup_set_id: str
    snapshots: list[Snapshot] = field(default_factory=list)
    error: str | None = None

    @property
    def snapshot_ids(self) -> list[str]:
        return [s.snapshot_id for s in self.snapshots]


@dataclass(frozen=True)
class InitiatedSet:
    """What CreateSnapshots answered (its snapshot items) and the tags the whole set got at creation."""

    snapshots: tuple[Mapping[str, Any], ...]
    common_tags: dict[str, str]


def set_tags(instance: Instance, run_id: str, set_id: str, settings: BackupSettings) -> dict[str, str]:
    """The tags every snapshot of one instance's set shares (set at creation)."""
    tags = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        SOURCE_INSTANCE_TAG: instance.instance_id,
        BACKUP_SET_TAG: set_id,
        RUN_ID_TAG: run_id,
        RETENTION_DAYS_TAG: str(instance.retention_days or settings.retention_days),
    }
    if instance.retention_days:
        tags[RETENTION_OVERRIDE_TAG] = "true"
    if instance.name:
        tags["Name"] = instance.name
    tags[SET_SIZE_TAG] = str(len(instance.volumes))
    tags.update(instance.metadata)
    return tags


def create_snapshot_set(
    ec2: EC2Client,
    instance: Instance,
    run_id: str,
    settings: BackupSettings,
    extra_tags: dict[str, str] | None = None,
) -> SetResult:
    """One crash-consistent `CreateSnapshots` for the instance, then its per-volume tags.

    Errors are caught and recorded on the result: one instance's failure never stops the others.
    """
    result, initiated = start_snapshot_set(ec2, instance, run_id, settings, extra_tags)
    if initiated is not None:
        tag_snapshot_set(ec2, instance, result, initiated, settings)
    return result


def start_snapshot_set(
    ec2: EC2Client,
    instance: Instance,
    run_id: str,
    settings: BackupSettings,
    extra_tags: dict[str, str] | None = None,
) -> tuple[SetResult, InitiatedSet | None]:
    """The `CreateSnapshots` call alone (the set's tags at creation, with `extra_tags`): the snapshots are
    initiated when it answers. Returns the result and the answer (None, and the error on the result, when
    the call failed). An application-consistent set thaws its application right after this."""
    set_id = backup_set_id(run_id, instance.instance_id)
    result = SetResult(instance.instance_id, set_id)
    common = {**set_tags(instance, run_id, set_id, settings), **(extra_tags or {})}
    try:
        with aws.aws_errors("CreateSnapshots"):
            response = ec2.create_snapshots(
                InstanceSpecification={"InstanceId": instance.instance_id, "ExcludeBootVolume": False},
                Description=f"smart-vault {run_id} {instance.instance_id}",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(common)}],
            )
    except AwsError as exc:
        result.error = exc.readable()
        return result, None
    return result, InitiatedSet(tuple(response.get("Snapshots", [])), common)


def tag_snapshot_set(
    ec2: EC2Client, instance: Instance, result: SetResult, initiated: InitiatedSet, settings: BackupSettings
) -> None:
    """The per-volume tags of the snapshots `start_snapshot_set` initiated (one CreateTags each)."""
    common = initiated.common_tags
    devices = {volume_id: device for device, volume_id in instance.volumes}
    per_volume_metadata = dict(instance.volume_tags)
    for item in initiated.snapshots:
        volume_id = item.get("VolumeId", "")
        per_volume = {SOURCE_VOLUME_TAG: volume_id, DEVICE_TAG: devices.get(volume_id, "")}
        per_volume.update(per_volume_metadata.get(volume_id, ()))
        # Within the vault's tag budget (the DR copy adds two): optional metadata goes first.
        while len(common) + len(per_volume) > MAX_VAULT_TAGS - 2 and len(per_volume) > 2:
            per_volume.popitem()
        result.snapshots.append(
            Snapshot(
                snapshot_id=item["SnapshotId"],
                region=settings.region,
                state=item.get("State", PENDING),
                start_time=item["StartTime"],
                volume_id=volume_id,
                owner_id=item.get("OwnerId", ""),
                tags={**common, **per_volume},
            )
        )
        snapshot_id = item["SnapshotId"]
        try:
            # Right after CreateSnapshots the new snapshot may answer NotFound for a while: retried.
            aws.retry_not_found(
                lambda sid=snapshot_id, tags=per_volume: ec2.create_tags(
                    Resources=[sid], Tags=aws.dict_to_tags(tags)
                ),
                "CreateTags",
            )
        except AwsError as exc:
            # The snapshot exists and is managed (retention falls back to its VolumeId); report the gap.
            result.error = f"tagging {item['SnapshotId']} failed: {exc.readable()}"
