"""Pure: the restore metadata every snapshot records, so that a backup set is self-describing in either region.

Set-wide values come from the instance's DescribeInstances item and go in the set's TagSpecifications;
per-volume values come from DescribeVolumes (pages shared by the whole run) and the instance's block device
mappings, and go in the per-volume CreateTags call. A value longer than 256 characters is left out: a
restore then needs it in its request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smart_vault.tags import (
    ARCHITECTURE_TAG,
    AVAILABILITY_ZONE_TAG,
    BOOT_MODE_TAG,
    DELETE_ON_TERMINATION_TAG,
    ENA_TAG,
    IMAGE_ID_TAG,
    INSTANCE_PROFILE_TAG,
    INSTANCE_TYPE_TAG,
    IOPS_TAG,
    KEY_NAME_TAG,
    LINUX_PLATFORM,
    PLATFORM_TAG,
    ROOT_DEVICE_TAG,
    SECURITY_GROUPS_TAG,
    SUBNET_ID_TAG,
    THROUGHPUT_TAG,
    VOLUME_TYPE_TAG,
)

MAX_TAG_VALUE = 256
# The vault's own tags on one snapshot stay within this, leaving room for the owner's (AWS allows 50).
MAX_VAULT_TAGS = 30


def _bool(value: Any) -> str:
    return "true" if value else "false"


def fitting(tags: Mapping[str, str | None]) -> dict[str, str]:
    """The tags whose value is present and at most 256 characters long."""
    return {k: v for k, v in tags.items() if v is not None and v != "" and len(v) <= MAX_TAG_VALUE}


def instance_metadata(item: Mapping[str, Any]) -> dict[str, str]:
    """Set-wide restore metadata of one DescribeInstances item (without the set size)."""
    groups = " ".join(g["GroupId"] for g in item.get("SecurityGroups", []) if g.get("GroupId"))
    return fitting(
        {
            INSTANCE_TYPE_TAG: item.get("InstanceType"),
            ARCHITECTURE_TAG: item.get("Architecture"),
            PLATFORM_TAG: _platform(item),
            ROOT_DEVICE_TAG: item.get("RootDeviceName"),
            ENA_TAG: _bool(item.get("EnaSupport")),
            IMAGE_ID_TAG: item.get("ImageId"),
            AVAILABILITY_ZONE_TAG: (item.get("Placement") or {}).get("AvailabilityZone"),
            SUBNET_ID_TAG: item.get("SubnetId"),
            SECURITY_GROUPS_TAG: groups or None,
            BOOT_MODE_TAG: item.get("BootMode"),
            KEY_NAME_TAG: item.get("KeyName"),
            INSTANCE_PROFILE_TAG: (item.get("IamInstanceProfile") or {}).get("Arn"),
        }
    )


def _platform(item: Mapping[str, Any]) -> str:
    """`PlatformDetails`; when an emulator leaves it out, `Platform` (`windows`) or else Linux/UNIX."""
    if item.get("PlatformDetails"):
        return str(item["PlatformDetails"])
    return "Windows" if str(item.get("Platform", "")).lower() == "windows" else LINUX_PLATFORM


def delete_on_termination(item: Mapping[str, Any]) -> dict[str, bool]:
    """Volume id -> DeleteOnTermination, from the instance's block device mappings."""
    return {
        m["Ebs"]["VolumeId"]: bool(m["Ebs"].get("DeleteOnTermination"))
        for m in item.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("VolumeId")
    }


def volume_metadata(volume: Mapping[str, Any] | None, delete_on_term: bool | None) -> dict[str, str]:
    """Per-volume restore metadata from one DescribeVolumes item (None when the volume was not found)."""
    volume = volume or {}
    iops = volume.get("Iops")
    throughput = volume.get("Throughput")
    return fitting(
        {
            VOLUME_TYPE_TAG: volume.get("VolumeType"),
            DELETE_ON_TERMINATION_TAG: None if delete_on_term is None else _bool(delete_on_term),
            IOPS_TAG: str(iops) if iops else None,
            THROUGHPUT_TAG: str(throughput) if throughput else None,
        }
    )
