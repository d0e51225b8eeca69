"""The pre-checks of a full-instance restore: its recovery point, every default, the network it lands in.

The recovery point must exist (404 RecoveryPointNotFound) and be complete (409) in the target region; every
default comes from the set's recorded metadata or `RESTORE_NETWORKS`; the subnet, security groups and AMI are
checked. Only the target region is read: a DR restore works while the primary region is down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.change_rate import suspect_warning
from smart_vault.config import RestoreApiSettings, RestoreNetwork
from smart_vault.errors import Conflict, NotFound, ValidationError
from smart_vault.observability import trace
from smart_vault.restore.checks.resources import check_image, check_security_groups, check_subnet
from smart_vault.restore.clean_points import clean_recovery_point
from smart_vault.restore.recovery_points import (
    RECOVERY_POINT_NOT_FOUND,
    is_complete,
    managed_snapshots,
    snapshots_by_set,
)
from smart_vault.restore.request import InstanceRestoreRequest
from smart_vault.tags import (
    ARCHITECTURE_TAG,
    BACKUP_SET_TAG,
    INSTANCE_PROFILE_TAG,
    INSTANCE_TYPE_TAG,
    LINUX_PLATFORM,
    PLATFORM_TAG,
    ROOT_DEVICE_TAG,
    SECURITY_GROUPS_TAG,
    SET_SIZE_TAG,
    SOURCE_REGION_TAG,
    SUBNET_ID_TAG,
    SUSPECT_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class ResolvedInstanceRestore:
    """A full-instance request with every default applied, as the job records it for the worker."""

    instance_id: str
    backup_set_id: str
    region: str
    subnet_id: str
    availability_zone: str
    security_group_ids: tuple[str, ...]
    instance_type: str
    ami_id: str | None
    keep_on_failure: bool
    instance_profile_arn: str | None
    warnings: tuple[str, ...] = ()

    def to_request(self) -> dict[str, Any]:
        """The job's `request`: the contract's resolved request, its fields as JSON (warnings go on the job
        itself)."""
        values = asdict(self)
        del values["warnings"]
        values["security_group_ids"] = list(self.security_group_ids)
        return values


def find_recovery_point(
    ec2: EC2Client, instance_id: str, backup_set_id: str | None, region: str
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The snapshots of the recovery point to restore, and warnings: the named set (a suspect one with a
    warning), or the instance's newest complete one that is not suspect (naming the newer suspect ones skipped).

    404 RecoveryPointNotFound when the instance has no such set in `region`; 409 Conflict when the named set
    is incomplete there, or (without a name) when every set of the instance there is.
    """
    sets = snapshots_by_set(managed_snapshots(ec2, instance_id=instance_id, backup_set_id=backup_set_id))
    if not sets:
        message = (
            f"recovery point {backup_set_id} of instance {instance_id} was not found in {region}"
            if backup_set_id
            else f"instance {instance_id} has no recovery point in {region}"
        )
        raise NotFound(message, error=RECOVERY_POINT_NOT_FOUND)
    if backup_set_id is not None:
        items = sets[backup_set_id]
        if not is_complete(items):
            raise Conflict(
                f"recovery point {backup_set_id} of instance {instance_id} is not complete in {region}: "
                f"{_completed_of(items)}; restore another one or retry when it has completed"
            )
        suspect = any(aws.tags_to_dict(i.get("Tags")).get(SUSPECT_TAG) == "true" for i in items)
        return items, [suspect_warning(backup_set_id)] if suspect else []
    complete = [(set_id, items) for set_id, items in sets.items() if is_complete(items)]
    if not complete:
        raise Conflict(
            f"none of the {len(sets)} recovery point{'s' if len(sets) > 1 else ''} of instance {instance_id} "
            f"in {region} is complete yet; retry when a backup set has completed"
        )
    return clean_recovery_point(instance_id, region, sets)


def _completed_of(items: Sequence[Mapping[str, Any]]) -> str:
    completed = sum(1 for i in items if i.get("State") == "completed")
    size = aws.tags_to_dict(items[0].get("Tags")).get(SET_SIZE_TAG) or str(len(items))
    return f"{completed} of {size} snapshots completed"


def _default_network(
    request: InstanceRestoreRequest, recorded: Mapping[str, str], settings: RestoreApiSettings
) -> tuple[str | None, tuple[str, ...], str]:
    """(subnet, security groups, where they came from) when the request leaves them out.

    In the region the set was taken in (a primary snapshot: no `smart-vault:source-region`), the recorded
    network is still there; a DR copy's recorded ids belong to the other region, so RESTORE_NETWORKS says.
    """
    network = settings.restore_networks.get(request.region) or RestoreNetwork()
    if SOURCE_REGION_TAG not in recorded and recorded.get(SUBNET_ID_TAG):
        groups = tuple(recorded.get(SECURITY_GROUPS_TAG, "").split())
        return recorded[SUBNET_ID_TAG], groups, "the recorded network"
    return network.subnet_id, tuple(network.security_group_ids), f"RESTORE_NETWORKS[{request.region}]"


def _resolve_subnet(
    request: InstanceRestoreRequest, default: str | None, origin: str, settings: RestoreApiSettings
) -> str:
    subnet_id = request.subnet_id or default
    if subnet_id is None:
        raise ValidationError(
            f"subnet_id is required: the recovery point was taken in another region and "
            f"RESTORE_NETWORKS names no subnet for {request.region}",
            field="subnet_id",
        )
    if settings.allowed_subnet_ids and subnet_id not in settings.allowed_subnet_ids:
        source = "" if request.subnet_id else f" (from {origin})"
        raise ValidationError(
            f"subnet_id {subnet_id!r}{source} is not allowed for restores", field="subnet_id"
        )
    return subnet_id


def _check_platform(request: InstanceRestoreRequest, recorded: Mapping[str, str]) -> None:
    """Without ami_id the worker registers an AMI from the snapshots, which only keeps Linux/UNIX whole: any
    other platform (Windows, RHEL, SUSE...) carries a billing code that such an AMI loses."""
    if request.ami_id is not None:
        return
    platform = recorded.get(PLATFORM_TAG)
    if platform != LINUX_PLATFORM:
        reason = (
            f"its recorded platform is {platform!r}, whose licence an AMI registered from snapshots would lose"
            if platform
            else "its platform was not recorded"
        )
        raise ValidationError(
            f"ami_id is required to restore instance {request.instance_id}: {reason}; give an AMI of that "
            f"platform in {request.region}",
            field="ami_id",
        )
    if not recorded.get(ROOT_DEVICE_TAG):
        raise ValidationError(
            "ami_id is required: the recovery point does not record its root device", field="ami_id"
        )


def _resolve_instance_type(
    request: InstanceRestoreRequest, recorded: Mapping[str, str], settings: RestoreApiSettings
) -> str:
    recorded_type = recorded.get(INSTANCE_TYPE_TAG)
    instance_type = request.instance_type or recorded_type
    if instance_type is None:
        raise ValidationError(
            "instance_type is required: the recovery point does not record one", field="instance_type"
        )
    if instance_type != recorded_type and instance_type not in settings.allowed_instance_types:
        raise ValidationError(
            f"instance_type {instance_type!r} is not allowed; allowed: the recorded type"
            f"{f' ({recorded_type})' if recorded_type else ''} or {', '.join(settings.allowed_instance_types)}",
            field="instance_type",
        )
    return instance_type


def _resolve_instance_profile(
    recorded: Mapping[str, str], settings: RestoreApiSettings
) -> tuple[str | None, tuple[str, ...]]:
    profile = recorded.get(INSTANCE_PROFILE_TAG)
    if profile is None:
        return None, ()
    if profile in settings.allowed_instance_profile_arns:
        return profile, ()
    return None, (
        f"the recorded instance profile {profile} is not in ALLOWED_INSTANCE_PROFILE_ARNS; "
        "the instance was launched without one",
    )


@trace
def run_instance_prechecks(
    request: InstanceRestoreRequest, settings: RestoreApiSettings, ec2: EC2Client | None = None
) -> ResolvedInstanceRestore:
    """Check a full-instance request in its target region and resolve every default.

    At most four calls, all to the target region: DescribeSnapshots (the recovery point, paginated),
    DescribeSubnets, DescribeSecurityGroups and, with ami_id, DescribeImages. The rules that need no AWS
    answer run before the calls that could be spared.
    """
    region = request.region
    ec2 = ec2 or aws.client("ec2", region)
    items, point_warnings = find_recovery_point(ec2, request.instance_id, request.backup_set_id, region)
    recorded = aws.tags_to_dict(items[0].get("Tags"))
    backup_set_id = recorded[BACKUP_SET_TAG]
    _check_platform(request, recorded)
    instance_type = _resolve_instance_type(request, recorded, settings)
    default_subnet, default_groups, origin = _default_network(request, recorded, settings)
    subnet_id = _resolve_subnet(request, default_subnet, origin, settings)
    groups = request.security_group_ids or default_groups
    if not groups:
        raise ValidationError(
            f"security_group_ids is required: {origin} names no security groups", field="security_group_ids"
        )
    profile, warnings = _resolve_instance_profile(recorded, settings)

    try:
        subnet = check_subnet(ec2, subnet_id, region)
        check_security_groups(ec2, groups, subnet.get("VpcId", ""), region)
    except ValidationError as exc:
        defaulted = request.subnet_id is None if exc.field == "subnet_id" else not request.security_group_ids
        if not defaulted:
            raise
        raise ValidationError(
            f"{exc.message} (the default from {origin}; give {exc.field})", exc.field
        ) from None
    if request.ami_id is not None:
        image = check_image(ec2, request.ami_id, region)
        architecture = recorded.get(ARCHITECTURE_TAG)
        if architecture and image.get("Architecture") and image["Architecture"] != architecture:
            raise ValidationError(
                f"AMI {request.ami_id} is {image['Architecture']}; the instance was {architecture}",
                field="ami_id",
            )
    return ResolvedInstanceRestore(
        instance_id=request.instance_id,
        backup_set_id=backup_set_id,
        region=region,
        subnet_id=subnet_id,
        availability_zone=subnet["AvailabilityZone"],
        security_group_ids=tuple(groups),
        instance_type=instance_type,
        ami_id=request.ami_id,
        keep_on_failure=request.keep_on_failure,
        instance_profile_arn=profile,
        warnings=(*point_warnings, *warnings),
    )
