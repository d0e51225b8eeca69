"""The instances a run protects: selected by tag (running or stopped), with their volumes' device names and
tags, their retention override and (v3) their scripts document. One describe per 200 instances, pages of 1000.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.backup.metadata import delete_on_termination, instance_metadata, volume_metadata
from smart_vault.backup.snapshots import FILTER_VALUES_MAX
from smart_vault.config import BackupSettings
from smart_vault.observability import logger
from smart_vault.tags import INSTANCE_RETENTION_TAG, SCRIPTS_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

PAGE_SIZE = 1000  # DescribeInstances: MaxResults 5..1000


PROTECTED_STATES = ("running", "stopped")


MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    # (device name, volume id) of every attached EBS volume, in the instance's order.
    volumes: tuple[tuple[str, str], ...]
    retention_days: int | None = None  # the instance's Backup-Retention-Days override, when valid
    # (v2) Restore metadata: the set-wide tags, and (volume id, its per-volume tags) pairs.
    metadata: tuple[tuple[str, str], ...] = ()
    volume_tags: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # (v3) The SSM document of its pre- and post-scripts (its Backup-Scripts tag); empty: a plain instance.
    scripts_document: str = ""
    running: bool = True  # False: stopped (PROTECTED_STATES)

    @property
    def runs_scripts(self) -> bool:
        """Backed up between its scripts: it names a document and is running. SSM runs nothing on a stopped
        instance (its agent is offline), and a stopped instance's disks are not being written: its set is
        taken as a plain one, without the app-consistent tag, instead of failing its pre-script every run."""
        return bool(self.scripts_document) and self.running


def retention_override(tags: dict[str, str], instance_id: str) -> int | None:
    """The instance's `Backup-Retention-Days` tag as days; a bad value is logged and ignored (the default
    applies) so that a typo never leaves an instance unprotected."""
    raw = tags.get(INSTANCE_RETENTION_TAG)
    if raw is None:
        return None
    try:
        days = int(raw.strip())
    except ValueError:
        days = 0
    if 1 <= days <= MAX_RETENTION_DAYS:
        return days
    logger.warning(
        "ignoring invalid retention override",
        extra={"instance_id": instance_id, "tag": INSTANCE_RETENTION_TAG, "value": raw},
    )
    return None


def instance_from_api(item: dict[str, Any]) -> Instance:
    tags = aws.tags_to_dict(item.get("Tags"))
    volumes = tuple(
        (m["DeviceName"], m["Ebs"]["VolumeId"])
        for m in item.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("VolumeId")
    )
    return Instance(
        instance_id=item["InstanceId"],
        name=tags.get("Name", ""),
        volumes=volumes,
        retention_days=retention_override(tags, item["InstanceId"]),
        metadata=tuple(instance_metadata(item).items()),
        volume_tags=_volume_tags(item, {}),
        scripts_document=tags.get(SCRIPTS_TAG, "").strip(),
        running=item.get("State", {}).get("Name", "running") == "running",
    )


def _volume_tags(
    item: dict[str, Any], volumes: dict[str, dict[str, Any]]
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    on_termination = delete_on_termination(item)
    return tuple(
        (vid, tuple(volume_metadata(volumes.get(vid), on_termination.get(vid)).items()))
        for vid in on_termination
    )


def with_volume_details(instances: list[Instance], items: dict[str, dict[str, Any]], ec2: EC2Client) -> None:
    """Fill in the per-volume metadata from DescribeVolumes pages shared by all `instances` (batches of
    200 instance ids, pages of 1000 volumes): a handful of calls per run, none per instance."""
    volumes: dict[str, dict[str, Any]] = {}
    for batch in aws.chunks([i.instance_id for i in instances], FILTER_VALUES_MAX):
        for volume in aws.paginate(
            ec2,
            "describe_volumes",
            "Volumes",
            page_size=PAGE_SIZE,
            Filters=[{"Name": "attachment.instance-id", "Values": batch}],
        ):
            volumes[volume["VolumeId"]] = volume
    for index, instance in enumerate(instances):
        instances[index] = replace(instance, volume_tags=_volume_tags(items[instance.instance_id], volumes))


def _describe(ec2: EC2Client, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for reservation in aws.paginate(
        ec2, "describe_instances", "Reservations", page_size=PAGE_SIZE, Filters=filters
    ):
        yield from reservation.get("Instances", [])


def select_instances(
    ec2: EC2Client, settings: BackupSettings, instance_ids: Sequence[str] | None = None
) -> list[Instance]:
    """Instances to protect, sorted by id (the continuation cursor relies on that order).

    Without `instance_ids`: every running or stopped instance whose backup tag has an accepted value. With
    them: exactly those instances (no tag needed), when running or stopped. Instance ids go in a filter, not
    `InstanceIds`, so that the call can still ask for pages of 1000 and an unknown id is no error.
    """
    state_filter = {"Name": "instance-state-name", "Values": list(PROTECTED_STATES)}
    found: dict[str, dict[str, Any]] = {}
    if instance_ids is None:
        filters = [state_filter, {"Name": f"tag:{settings.tag_key}", "Values": list(settings.tag_values)}]
        found = {i["InstanceId"]: i for i in _describe(ec2, filters)}
    else:
        for batch in aws.chunks(sorted(set(instance_ids)), FILTER_VALUES_MAX):
            filters = [state_filter, {"Name": "instance-id", "Values": batch}]
            found.update((i["InstanceId"], i) for i in _describe(ec2, filters))
    instances = [instance_from_api(found[k]) for k in sorted(found)]
    if instances:
        with_volume_details(instances, found, ec2)
    return instances
