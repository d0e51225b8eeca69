"""The EC2 side of a restore: create, launch, wait, attach and roll back, each safe to run again.

Every create call carries a `ClientToken` derived from the restore id, so EC2 itself answers a repeated call
with the resource it created the first time. Before creating, the functions also look for a resource tagged
with the restore id: that covers a worker that crashed between the create call and recording its result,
and emulators that ignore client tokens. Waits use botocore waiters, bounded by the time the caller has left.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.clock import monotonic_clock
from smart_vault.errors import AwsError
from smart_vault.tags import (
    LIVE_INSTANCE_STATES,
    LIVE_VOLUME_STATES,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RESTORE_ID_TAG,
    SOURCE_SNAPSHOT_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import WaiterName
    from mypy_boto3_ec2.type_defs import VolumeTypeDef, WaiterConfigTypeDef

# A fixed namespace makes the client tokens a pure function of the restore id.
CLIENT_TOKEN_NAMESPACE = uuid.UUID("6a0b3c3e-5f7d-4b9a-9a1e-2f0d7c9b8e41")
# st1 and sc1 volumes cannot be smaller than 125 GiB; a restore may make the volume larger than the snapshot.
MIN_SIZE_GIB = {"st1": 125, "sc1": 125}
# io1/io2 need an explicit IOPS figure: 50 IOPS per GiB is the io1 maximum ratio, capped at 3000 (gp3's base).
PROVISIONED_IOPS_TYPES = ("io1", "io2")
IOPS_PER_GIB = 50
MAX_DEFAULT_IOPS = 3_000
MIN_IOPS = 100
WAIT_DELAY_SECONDS = {"volume_available": 5, "instance_running": 5, "volume_in_use": 3}


def client_token(restore_id: str, purpose: str) -> str:
    """The idempotency token of one create call of one restore (64 characters at most, as EC2 requires)."""
    return str(uuid.uuid5(CLIENT_TOKEN_NAMESPACE, f"{restore_id}/{purpose}"))


def restore_tags(restore_id: str, snapshot_id: str) -> dict[str, str]:
    return {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        RESTORE_ID_TAG: restore_id,
        SOURCE_SNAPSHOT_TAG: snapshot_id,
    }


def volume_size_and_iops(volume_type: str, snapshot_size_gib: int) -> tuple[int, int | None]:
    """Size and IOPS for a volume of `volume_type` restored from a snapshot of `snapshot_size_gib`."""
    size = max(snapshot_size_gib, MIN_SIZE_GIB.get(volume_type, 1))
    if volume_type in PROVISIONED_IOPS_TYPES:
        return size, max(MIN_IOPS, min(MAX_DEFAULT_IOPS, size * IOPS_PER_GIB))
    return size, None


@dataclass
class Deadline:
    """Time left in this invocation, minus a reserve kept for rollback and for recording the outcome."""

    seconds_left: float
    reserve_seconds: float
    clock: Callable[[], float] = field(default_factory=monotonic_clock)  # the one clock of durations
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return self.seconds_left - (self.clock() - self.started)

    def budget(self) -> float:
        """Seconds a wait may take now."""
        return self.remaining() - self.reserve_seconds


def waiter_config(budget_seconds: float, delay: int) -> WaiterConfigTypeDef:
    """A WaiterConfig whose polling ends within `budget_seconds` (at least one attempt)."""
    return {"Delay": delay, "MaxAttempts": max(1, int(budget_seconds // delay))}


def wait_for(ec2: EC2Client, waiter_name: WaiterName, budget_seconds: float, **kwargs: Any) -> None:
    """Run a botocore waiter within the budget. Raises AwsError (code WaiterError) on timeout or failure."""
    delay = WAIT_DELAY_SECONDS.get(waiter_name, 5)
    with aws.aws_errors(f"wait {waiter_name}"):
        ec2.get_waiter(waiter_name).wait(**kwargs, WaiterConfig=waiter_config(budget_seconds, delay))


def wait_volume_usable(ec2: EC2Client, volume_id: str, budget_seconds: float) -> None:
    """Wait until the new volume is `available`; one an earlier attempt already attached (`in-use`) is ready.

    The `volume_available` waiter alone would poll an attached volume until the budget runs out.
    Right after CreateVolume the volume may answer `InvalidVolume.NotFound` for a while (EC2 is eventually
    consistent): retried with backoff (`aws.retry_not_found`, >= 60 s, within the budget). A volume in
    `error` fails at once with a readable reason instead of being polled until the budget runs out.
    """
    clock, sleep = aws.clock()
    end = clock() + budget_seconds
    delay = WAIT_DELAY_SECONDS.get("volume_available", 5)
    while True:
        volume = aws.retry_not_found(
            lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"],
            "DescribeVolumes",
            total_seconds=min(aws.NOT_FOUND_RETRY_SECONDS, max(end - clock(), 1.0)),
        )
        state = volume[0].get("State") if volume else None
        if state in ("available", "in-use"):
            return
        if state in ("error", "deleting", "deleted"):
            raise AwsError(
                "VolumeError",
                f"volume {volume_id} is in state {state}: EC2 could not create it from the snapshot",
                "CreateVolume",
            )
        if clock() + delay > end:
            raise AwsError(
                "WaiterError",
                f"volume {volume_id} still {state} when the time ran out",
                "wait volume_available",
            )
        sleep(delay)


def find_restored_volume(ec2: EC2Client, restore_id: str, snapshot_id: str) -> dict[str, Any] | None:
    """The data volume an earlier attempt of this restore created, if any."""
    volumes = list(
        aws.paginate(
            ec2,
            "describe_volumes",
            "Volumes",
            page_size=500,
            Filters=[
                {"Name": f"tag:{RESTORE_ID_TAG}", "Values": [restore_id]},
                {"Name": "snapshot-id", "Values": [snapshot_id]},
                {"Name": "status", "Values": list(LIVE_VOLUME_STATES)},
            ],
        )
    )
    return min(volumes, key=lambda v: v["VolumeId"]) if volumes else None


def snapshot_size_gib(ec2: EC2Client, snapshot_id: str) -> int:
    with aws.aws_errors("DescribeSnapshots"):
        snapshots = ec2.describe_snapshots(SnapshotIds=[snapshot_id], OwnerIds=["self"])["Snapshots"]
    return int(snapshots[0]["VolumeSize"])


def create_volume(ec2: EC2Client, restore_id: str, request: dict[str, Any]) -> str:
    """Create the restored volume (or find the one created before) and return its id."""
    snapshot_id = request["snapshot_id"]
    existing = find_restored_volume(ec2, restore_id, snapshot_id)
    if existing:
        return existing["VolumeId"]
    params: dict[str, Any] = {
        "SnapshotId": snapshot_id,
        "AvailabilityZone": request["availability_zone"],
        "VolumeType": request["volume_type"],
        "ClientToken": client_token(restore_id, "volume"),
        "TagSpecifications": [
            {"ResourceType": "volume", "Tags": aws.dict_to_tags(restore_tags(restore_id, snapshot_id))}
        ],
    }
    if request["volume_type"] in (*MIN_SIZE_GIB, *PROVISIONED_IOPS_TYPES):
        size, iops = volume_size_and_iops(request["volume_type"], snapshot_size_gib(ec2, snapshot_id))
        params["Size"] = size
        if iops is not None:
            params["Iops"] = iops
    # NotFound of a resource created moments before is retried (the ClientToken keeps the call idempotent).
    return aws.retry_not_found(lambda: ec2.create_volume(**params)["VolumeId"], "CreateVolume")


def tagged_instances(ec2: EC2Client, restore_id: str, states: tuple[str, ...]) -> list[dict[str, Any]]:
    """The instances tagged with this restore id that are in one of `states`."""
    return [
        instance
        for reservation in aws.paginate(
            ec2,
            "describe_instances",
            "Reservations",
            page_size=1000,
            Filters=[
                {"Name": f"tag:{RESTORE_ID_TAG}", "Values": [restore_id]},
                {"Name": "instance-state-name", "Values": list(states)},
            ],
        )
        for instance in reservation.get("Instances", [])
    ]


def find_restored_instance(
    ec2: EC2Client, restore_id: str, states: tuple[str, ...] = LIVE_INSTANCE_STATES
) -> dict[str, Any] | None:
    """The instance an earlier attempt of this restore launched, if any (the lowest id of several)."""
    instances = tagged_instances(ec2, restore_id, states)
    return min(instances, key=lambda i: i["InstanceId"]) if instances else None


def launch_instance(ec2: EC2Client, restore_id: str, request: dict[str, Any]) -> str:
    """Launch the restore's instance (or find the one launched before) and return its id."""
    existing = find_restored_instance(ec2, restore_id)
    if existing:
        return existing["InstanceId"]
    tags = aws.dict_to_tags(restore_tags(restore_id, request["snapshot_id"]))
    # Retried on InvalidAMIID.NotFound and the like right after a create (the ClientToken makes it idempotent).
    response = aws.retry_not_found(
        lambda: ec2.run_instances(
            ImageId=request["ami_id"],
            InstanceType=request["instance_type"],
            SubnetId=request["subnet_id"],
            MinCount=1,
            MaxCount=1,
            ClientToken=client_token(restore_id, "instance"),
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        ),
        "RunInstances",
    )
    return response["Instances"][0]["InstanceId"]


def describe_volume(ec2: EC2Client, volume_id: str) -> VolumeTypeDef | None:
    try:
        with aws.aws_errors("DescribeVolumes"):
            volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    except AwsError as exc:
        if exc.code == "InvalidVolume.NotFound":
            return None
        raise
    return volumes[0] if volumes else None


def attach_volume(ec2: EC2Client, volume_id: str, instance_id: str, device_name: str) -> None:
    """Attach the volume at `device_name`, unless an earlier attempt already did."""
    volume = describe_volume(ec2, volume_id) or {}
    for attachment in volume.get("Attachments", []):
        if attachment.get("InstanceId") == instance_id and attachment.get("State") in (
            "attaching",
            "attached",
        ):
            return
    # The volume and the instance were created moments before: their NotFound is retried.
    aws.retry_not_found(
        lambda: ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device_name),
        "AttachVolume",
    )
