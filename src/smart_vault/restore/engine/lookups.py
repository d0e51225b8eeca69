"""How the engine finds again what a restore created: by client token, by name, by the restore-id tag.

Every create call carries a `ClientToken` derived from the restore id, so EC2 itself answers a repeated call
with the resource it created the first time. Before creating, the engine also looks for a resource tagged
with the restore id: that covers a worker that crashed between the create call and recording its result,
and emulators that ignore client tokens. The same lookups tell a rollback or a drill's teardown what is left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.tags import (
    IMAGE_DEREGISTERED,
    LISTED_VOLUME_STATES,
    LIVE_INSTANCE_STATES,
    LIVE_VOLUME_STATES,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RESTORE_ID_TAG,
    SOURCE_SNAPSHOT_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef

# A fixed namespace makes the client tokens a pure function of the restore id.
CLIENT_TOKEN_NAMESPACE = uuid.UUID("6a0b3c3e-5f7d-4b9a-9a1e-2f0d7c9b8e41")
IMAGE_NAME_PREFIX = "smart-vault-restore-"
PAGE_SIZES = {"Volumes": 500, "Reservations": 1000}


def client_token(restore_id: str, purpose: str) -> str:
    """The idempotency token of one create call of one restore (64 characters at most, as EC2 requires)."""
    return str(uuid.uuid5(CLIENT_TOKEN_NAMESPACE, f"{restore_id}/{purpose}"))


def restore_tags(restore_id: str, snapshot_id: str) -> dict[str, str]:
    return {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        RESTORE_ID_TAG: restore_id,
        SOURCE_SNAPSHOT_TAG: snapshot_id,
    }


def image_name(restore_id: str) -> str:
    """The deterministic name of a restore's temporary AMI."""
    return IMAGE_NAME_PREFIX + restore_id


def describe_volume(ec2: EC2Client, volume_id: str, *, fresh: bool = False) -> dict[str, Any] | None:
    """The volume, None when EC2 does not know it. For a volume created moments ago (`fresh`), a NotFound is
    EC2 not seeing it yet: retried (>= 60 s) instead of taken as gone."""
    try:
        if fresh:
            volumes = aws.retry_not_found(
                lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"], "DescribeVolumes"
            )
        else:
            with aws.aws_errors("DescribeVolumes"):
                volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    except AwsError as exc:
        if exc.code == "InvalidVolume.NotFound":
            return None
        raise
    return dict(volumes[0]) if volumes else None


def _tagged(
    ec2: EC2Client,
    operation: str,
    key: str,
    restore_id: str,
    state_filter: str,
    states: tuple[str, ...],
    **filters: str,
) -> Iterator[Any]:
    """The items of a Describe call tagged with this restore id, in one of `states`, matching `filters`."""
    return aws.paginate(
        ec2,
        operation,
        key,
        page_size=PAGE_SIZES[key],
        Filters=[
            {"Name": f"tag:{RESTORE_ID_TAG}", "Values": [restore_id]},
            *({"Name": name, "Values": [value]} for name, value in filters.items()),
            {"Name": state_filter, "Values": list(states)},
        ],
    )


def tagged_volumes(
    ec2: EC2Client, restore_id: str, states: tuple[str, ...] = LISTED_VOLUME_STATES, **filters: str
) -> list[dict[str, Any]]:
    """The volumes tagged with this restore id in one of `states` (and matching `filters`, name -> value)."""
    return list(_tagged(ec2, "describe_volumes", "Volumes", restore_id, "status", states, **filters))


def find_restored_volume(ec2: EC2Client, restore_id: str, snapshot_id: str) -> dict[str, Any] | None:
    """The volume an earlier attempt of this restore created from `snapshot_id`, if any (the lowest id)."""
    volumes = tagged_volumes(ec2, restore_id, LIVE_VOLUME_STATES, **{"snapshot-id": snapshot_id})
    return min(volumes, key=lambda v: v["VolumeId"]) if volumes else None


def tagged_instances(ec2: EC2Client, restore_id: str, states: tuple[str, ...]) -> list[dict[str, Any]]:
    """The instances tagged with this restore id that are in one of `states`."""
    reservations = _tagged(
        ec2, "describe_instances", "Reservations", restore_id, "instance-state-name", states
    )
    return [instance for reservation in reservations for instance in reservation.get("Instances", [])]


def find_restored_instance(
    ec2: EC2Client, restore_id: str, states: tuple[str, ...] = LIVE_INSTANCE_STATES
) -> dict[str, Any] | None:
    """The instance an earlier attempt of this restore launched, if any (the lowest id of several)."""
    instances = tagged_instances(ec2, restore_id, states)
    return min(instances, key=lambda i: i["InstanceId"]) if instances else None


def find_image(ec2: EC2Client, name: str) -> ImageTypeDef | None:
    """The account's image with this name, if it exists (and is not deregistered)."""
    with aws.aws_errors("DescribeImages"):
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    live = [i for i in images if i.get("State") != IMAGE_DEREGISTERED]
    return live[0] if live else None


def tagged_images(ec2: EC2Client, restore_id: str) -> list[ImageTypeDef]:
    with aws.aws_errors("DescribeImages"):
        images = ec2.describe_images(
            Owners=["self"], Filters=[{"Name": f"tag:{RESTORE_ID_TAG}", "Values": [restore_id]}]
        )["Images"]
    return [i for i in images if i.get("State") != IMAGE_DEREGISTERED]


def find_leftovers(ec2: EC2Client, restore_id: str) -> list[str]:
    """Ids of anything still there that carries this restore's tag: live instances, volumes, images."""
    leftovers = [i["InstanceId"] for i in tagged_instances(ec2, restore_id, LIVE_INSTANCE_STATES)]
    leftovers += [v["VolumeId"] for v in tagged_volumes(ec2, restore_id) if v.get("State") != "deleting"]
    leftovers += [i["ImageId"] for i in tagged_images(ec2, restore_id)]
    image = find_image(ec2, image_name(restore_id))
    if image and image["ImageId"] not in leftovers:
        leftovers.append(image["ImageId"])
    return sorted(leftovers)
