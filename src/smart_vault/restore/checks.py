"""Pre-checks of a restore request against AWS, in the target region, before anything is created.

Each check answers with the project's errors, which the API maps to HTTP: a snapshot that does not exist, is
not this account's or is not managed by the vault is `NotFound` (404 SnapshotNotFound: the API never tells a
caller about snapshots it may not restore); one that is not `completed` yet is `Conflict` (409); a missing
AMI or subnet, or an availability zone that does not match, is `ValidationError` (400).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from smart_vault import aws
from smart_vault.errors import AwsError, Conflict, NotFound, ValidationError
from smart_vault.observability import trace
from smart_vault.restore.request import RestoreRequest

MANAGED_BY_KEY = "ManagedBy"
MANAGED_BY_VALUE = "smart-vault"
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


def check_snapshot(ec2: Any, snapshot_id: str, region: str) -> dict[str, Any]:
    """The snapshot, when it is this account's, managed by the vault and completed."""
    not_found = NotFound(
        f"snapshot {snapshot_id} was not found in {region} among this account's Smart Vault snapshots",
        error=SNAPSHOT_NOT_FOUND,
    )
    # OwnerIds=['self'] makes AWS hide snapshots of other accounts (public or shared ones included).
    snapshots = _describe(
        ec2.describe_snapshots,
        "DescribeSnapshots",
        "Snapshots",
        _SNAPSHOT_MISSING_CODES,
        SnapshotIds=[snapshot_id],
        OwnerIds=["self"],
    )
    snapshot = next((s for s in snapshots if s.get("SnapshotId") == snapshot_id), None)
    if snapshot is None:
        raise not_found
    if aws.tags_to_dict(snapshot.get("Tags")).get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
        raise not_found
    state = snapshot.get("State")
    if state != "completed":
        raise Conflict(f"snapshot {snapshot_id} is {state}, not completed; retry when it has completed")
    return snapshot


def check_image(ec2: Any, ami_id: str, region: str) -> dict[str, Any]:
    images = _describe(
        ec2.describe_images, "DescribeImages", "Images", _IMAGE_MISSING_CODES, ImageIds=[ami_id]
    )
    image = next((i for i in images if i.get("ImageId") == ami_id), None)
    if image is None:
        raise ValidationError(f"AMI {ami_id} was not found in {region}", field="ami_id")
    if image.get("State", "available") != "available":
        raise ValidationError(f"AMI {ami_id} is {image.get('State')}, not available", field="ami_id")
    return image


def check_subnet(ec2: Any, subnet_id: str, region: str) -> dict[str, Any]:
    subnets = _describe(
        ec2.describe_subnets, "DescribeSubnets", "Subnets", _SUBNET_MISSING_CODES, SubnetIds=[subnet_id]
    )
    subnet = next((s for s in subnets if s.get("SubnetId") == subnet_id), None)
    if subnet is None:
        raise ValidationError(f"subnet {subnet_id} was not found in {region}", field="subnet_id")
    return subnet


def check_availability_zone(ec2: Any, zone: str, region: str) -> None:
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


@trace
def run_prechecks(request: RestoreRequest, ec2: Any = None) -> RestoreRequest:
    """Check the request against its target region; return it with the availability zone resolved."""
    region = request.region
    ec2 = ec2 or aws.client("ec2", region)
    check_snapshot(ec2, request.snapshot_id, region)
    if request.ami_id:
        check_image(ec2, request.ami_id, region)
    zone = request.availability_zone
    if request.subnet_id:
        subnet_zone = check_subnet(ec2, request.subnet_id, region)["AvailabilityZone"]
        if zone is not None and zone != subnet_zone:
            raise ValidationError(
                f"availability_zone {zone} does not match subnet {request.subnet_id}, which is in {subnet_zone}",
                field="availability_zone",
            )
        zone = subnet_zone
    else:
        check_availability_zone(ec2, zone or "", region)
    return replace(request, availability_zone=zone)
