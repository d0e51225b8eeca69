"""What both forms of a restore share: the attempt, its recorder, its deadline, the create calls, rollback.

A restore is a plan (`VolumePlan` or `InstancePlan`) run by one attempt (`VolumeRestore` or
`InstanceRestore`, both `RestoreAttempt`s): each step is recorded through a `Recorder` (the worker's job log
or a drill's stage timer), every wait is the engine's `poll` within the attempt's `Deadline`, and a rollback
is the same removal for both forms.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.restore.engine.lookups import client_token, describe_volume, find_restored_volume
from smart_vault.restore.engine.polling import Deadline
from smart_vault.restore.engine.teardown import Held, remove_restore
from smart_vault.tags import ATTACHING_STATES

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# Every instance a restore launches requires IMDSv2.
METADATA_OPTIONS = {"HttpTokens": "required", "HttpEndpoint": "enabled"}
# RunInstances' answer when the zone has no capacity of the type now, and the waits before asking again.
NO_CAPACITY = "InsufficientInstanceCapacity"
CAPACITY_RETRY_SECONDS = (15.0, 30.0, 60.0, 60.0, 60.0)
# Kept for the launch's own call and what follows it when deciding whether a capacity retry still fits.
LAUNCH_SECONDS = 60.0


PlanT = TypeVar("PlanT")


def plan_from_request(cls: type[PlanT], restore_id: str, request: Mapping[str, Any], **given: Any) -> PlanT:
    """A plan (a dataclass) from a job's request: every field read by its name (KeyError when a required
    one is missing), except those `given` already converted."""
    values = dict(given)
    for item in dataclasses.fields(cast(Any, cls)):
        if item.name == "restore_id" or item.name in values:
            continue
        if item.name in request:
            values[item.name] = request[item.name]
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise KeyError(item.name)
    plan: PlanT = cast(Any, cls)(restore_id=restore_id, **values)
    return plan


class Recorder(Protocol):
    """Where a restore records its steps: the worker's job log, or a drill's stage timer."""

    def step(self, name: str) -> AbstractContextManager[None]: ...

    def save(self, **fields: Any) -> None: ...


class RestoreAttempt(ABC):
    """One attempt at one restore: the resources it holds so far, and how to remove them again."""

    def __init__(self, ec2: EC2Client, restore_id: str, recorder: Recorder, deadline: Deadline):
        self.ec2 = ec2
        self.restore_id = restore_id
        self.recorder = recorder
        self.deadline = deadline
        self.instance_id: str | None = None
        self.image_id: str | None = None
        self.volume_ids: list[str] = []
        self.warnings: list[str] = []
        # What this attempt created: EC2 may not show it yet, so a rollback must not take NotFound as gone.
        self.fresh: set[str] = set()
        self.temporary_image: str | None = None

    @abstractmethod
    def execute(self) -> None:
        """Run the steps, each recorded; raises the recorder's step failure on the first that fails."""

    @abstractmethod
    def result_fields(self) -> dict[str, Any]:
        """What the job records of the outcome."""

    def needs_rollback(self) -> bool:
        """Whether a failed attempt has anything to remove (the instance form always looks, by tag)."""
        return True

    def roll_back(self) -> list[str]:
        """Remove everything this restore created; what is left behind (readable), [] when clean."""
        held = Held(self.instance_id, self.temporary_image, tuple(self.volume_ids), frozenset(self.fresh))
        return remove_restore(self.ec2, self.restore_id, held, self.deadline)

    # -- the create calls, each safe to run again

    def create_volume(self, snapshot_id: str, purpose: str, params: Callable[[], dict[str, Any]]) -> str:
        """The volume of `snapshot_id` an earlier attempt created, or a new one (CreateVolume with `params()`,
        asked only then, and the ClientToken of `purpose`)."""
        found = find_restored_volume(self.ec2, self.restore_id, snapshot_id)
        if found:
            volume_id: str = found["VolumeId"]
        else:
            call: dict[str, Any] = {
                **params(),
                "SnapshotId": snapshot_id,
                "ClientToken": client_token(self.restore_id, purpose),
            }
            # NotFound of a resource created moments before is retried (the ClientToken keeps it idempotent).
            volume_id = aws.retry_not_found(
                lambda: self.ec2.create_volume(**call)["VolumeId"], "CreateVolume"
            )
            self.fresh.add(volume_id)
        if volume_id not in self.volume_ids:
            self.volume_ids.append(volume_id)
        return volume_id

    def launch(self, params: dict[str, Any]) -> str:
        """RunInstances with `params`, the restore's ClientToken and IMDSv2; retried on InvalidAMIID.NotFound
        and the like right after a create (the ClientToken makes a repeated launch return the first one's).

        InsufficientInstanceCapacity (EC2 has none of the type in that zone now: the likeliest failure in a DR
        region when a whole region fails over) is asked again after 15, 30, 60, 60 ... s while the deadline
        leaves room, as AWS advises. Each retry has a ClientToken of its own, in a fixed sequence: a token
        whose request failed may answer its failure again, and a worker that runs the attempt again finds
        the instance a retry launched under the same sequence."""
        _, sleep = aws.clock()
        for retry, delay in enumerate((*CAPACITY_RETRY_SECONDS, None)):
            purpose = "instance" if retry == 0 else f"instance-capacity-{retry}"
            call: dict[str, Any] = {
                **params,
                "MinCount": 1,
                "MaxCount": 1,
                "ClientToken": client_token(self.restore_id, purpose),
                "MetadataOptions": METADATA_OPTIONS,
            }
            try:
                instance_id: str = aws.retry_not_found(
                    lambda call=call: self.ec2.run_instances(**call)["Instances"][0]["InstanceId"],
                    "RunInstances",
                )
                break
            except AwsError as exc:
                if (
                    exc.code != NO_CAPACITY
                    or delay is None
                    or self.deadline.budget() < delay + LAUNCH_SECONDS
                ):
                    raise
                self.warnings.append(
                    f"no {params.get('InstanceType', '')} capacity at launch; asked again after {delay} s"
                )
                sleep(delay)
        self.fresh.add(instance_id)
        self.instance_id = instance_id
        return instance_id

    def attach(self, volume_id: str, device: str) -> None:
        """Attach the volume to the attempt's instance at `device`, unless an earlier attempt already did."""
        instance_id = self.instance_id or ""
        volume = describe_volume(self.ec2, volume_id, fresh=volume_id in self.fresh) or {}
        for attachment in volume.get("Attachments", []):
            if attachment.get("InstanceId") == instance_id and attachment.get("State") in ATTACHING_STATES:
                return
        # The volume and the instance were created moments before: their NotFound is retried.
        aws.retry_not_found(
            lambda: self.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device),
            "AttachVolume",
        )
