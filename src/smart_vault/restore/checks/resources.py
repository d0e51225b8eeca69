"""Checks of single resources in the target region, shared by both forms of a restore.

A snapshot that does not exist, is not this account's or is not managed by the vault is `NotFound` (404
SnapshotNotFound: the API never tells a caller about snapshots it may not restore); one that is not
`completed` yet is `Conflict` (409); a missing AMI or subnet, an availability zone that does not match, or a
security group of another VPC is `ValidationError` (400).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError, Conflict, NotFound, ValidationError
from smart_vault.tags import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


SNAPSHOT_NOT_FOUND = "SnapshotNotFound"
_SNAPSHOT_MISSING_CODES = frozenset({"InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed"})
_IMAGE_MISSING_CODES = frozenset(
    {"InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable"}
)
_SUBNET_MISSING_CODES = frozenset({"InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"})
_ZONE_MISSING_CODES = frozenset({"InvalidParameterValue", "InvalidAvailabilityZone"})


def _describe(
    call: Any, operation: str, result_key: str, missing_codes: frozenset[str], **kwargs: Any
) -> list:
    """Items of a Describe call; [] when AWS answers that the named resource does not exist."""
    try:
        with aws.aws_errors(operation):
            return list(call(**kwargs).get(result_key, []))
    except AwsError as exc:
        if exc.code in missing_codes:
            return []
        raise


def _find(
    call: Any, result_key: str, missing_codes: frozenset[str], id_field: tuple[str, str], **kwargs: Any
) -> dict[str, Any] | None:
    """The one item of a Describe call whose `id_field` (name, value) matches; None when there is none."""
    operation = "Describe" + result_key
    name, value = id_field
    return next(
        (i for i in _describe(call, operation, result_key, missing_codes, **kwargs) if i.get(name) == value),
        None,
    )


def check_snapshot(ec2: EC2Client, snapshot_id: str, region: str) -> dict[str, Any]:
    """The snapshot, when it is this account's, managed by the vault and completed."""
    not_found = NotFound(
        f"snapshot {snapshot_id} was not found in {region} among this account's Smart Vault snapshots",
        error=SNAPSHOT_NOT_FOUND,
    )
    # OwnerIds=['self'] makes AWS hide snapshots of other accounts (public or shared ones included).
    snapshot = _find(
        ec2.describe_snapshots,
        "Snapshots",
        _SNAPSHOT_MISSING_CODES,
        ("SnapshotId", snapshot_id),
        SnapshotIds=[snapshot_id],
        OwnerIds=["self"],
    )
    if snapshot is None:
        raise not_found
    if aws.tags_to_dict(snapshot.get("Tags")).get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
        raise not_found
    state = snapshot.get("State")
    if state != "completed":
        raise Conflict(f"snapshot {snapshot_id} is {state}, not completed; retry when it has completed")
    return snapshot


def check_image(ec2: EC2Client, ami_id: str, region: str) -> dict[str, Any]:
    image = _find(ec2.describe_images, "Images", _IMAGE_MISSING_CODES, ("ImageId", ami_id), ImageIds=[ami_id])
    if image is None:
        raise ValidationError(f"AMI {ami_id} was not found in {region}", field="ami_id")
    if image.get("State", "available") != "available":
        raise ValidationError(f"AMI {ami_id} is {image.get('State')}, not available", field="ami_id")
    return image


def check_subnet(ec2: EC2Client, subnet_id: str, region: str) -> dict[str, Any]:
    subnet = _find(
        ec2.describe_subnets, "Subnets", _SUBNET_MISSING_CODES, ("SubnetId", subnet_id), SubnetIds=[subnet_id]
    )
    if subnet is None:
        raise ValidationError(f"subnet {subnet_id} was not found in {region}", field="subnet_id")
    return subnet


def check_availability_zone(ec2: EC2Client, zone: str, region: str) -> None:
    zones = _describe(
        ec2.describe_availability_zones,
        "DescribeAvailabilityZones",
        "AvailabilityZones",
        _ZONE_MISSING_CODES,
        ZoneNames=[zone],
    )
    if not any(z.get("ZoneName") == zone for z in zones):
        raise ValidationError(
            f"availability zone {zone} does not exist in {region}", field="availability_zone"
        )


def check_security_groups(ec2: EC2Client, group_ids: Sequence[str], vpc_id: str, region: str) -> None:
    """Every group exists in `region` and belongs to `vpc_id`. A `group-id` filter (not GroupIds) answers
    with the groups that exist instead of failing the whole call, so the error can name the missing ones."""
    found = {
        g["GroupId"]: g.get("VpcId")
        for g in _describe(
            ec2.describe_security_groups,
            "DescribeSecurityGroups",
            "SecurityGroups",
            frozenset(),
            Filters=[{"Name": "group-id", "Values": list(group_ids)}],
        )
    }
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise ValidationError(
            f"security group{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found in {region}",
            field="security_group_ids",
        )
    elsewhere = [g for g in group_ids if found[g] != vpc_id]
    if elsewhere:
        raise ValidationError(
            f"security group{'s' if len(elsewhere) > 1 else ''} {', '.join(elsewhere)} "
            f"{'are' if len(elsewhere) > 1 else 'is'} not in the subnet's VPC {vpc_id}",
            field="security_group_ids",
        )
