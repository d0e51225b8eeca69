"""The pre-checks of a volume-form restore, in its target region, before anything is created."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from smart_vault import aws
from smart_vault.errors import ValidationError
from smart_vault.observability import trace
from smart_vault.restore.checks.resources import (
    check_availability_zone,
    check_image,
    check_snapshot,
    check_subnet,
)
from smart_vault.restore.request import RestoreRequest

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@trace
def run_prechecks(request: RestoreRequest, ec2: EC2Client | None = None) -> RestoreRequest:
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
