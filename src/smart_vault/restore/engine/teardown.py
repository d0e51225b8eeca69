"""Removing a restore: a failed restore's rollback and a drill's teardown are the same removal.

Everything a restore creates carries its `smart-vault:restore-id` tag, so the removal finds it by id and by
tag, even what this attempt never learnt the id of. A NotFound of a resource this attempt created moments
ago is EC2's eventual consistency: it is retried, never taken as "gone", so a rollback skips nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.restore.engine.lookups import (
    describe_volume,
    find_image,
    find_leftovers,
    image_name,
    tagged_images,
    tagged_instances,
    tagged_volumes,
)
from smart_vault.restore.engine.polling import (
    FRESH_NOT_FOUND_SECONDS,
    POLL_SECONDS,
    Deadline,
    describe_instance,
    poll,
    state_of,
)
from smart_vault.tags import (
    DETACHING_STATES,
    GONE_VOLUME_STATES,
    INSTANCE_TERMINATED,
    LIVE_INSTANCE_STATES,
    VOLUME_AVAILABLE,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# Kept back from the removal's waits for the look for leftovers and the final writes.
TEARDOWN_SLACK_SECONDS = 5.0
# How long the leftovers are looked for again while EC2's listings catch up with the deletes.
LEFTOVERS_SETTLE_SECONDS = 30.0


def _ignore(call: Callable[[], Any], operation: str, gone: tuple[str, ...], *, fresh: bool = False) -> None:
    """Run a delete; `gone` codes mean done. For a resource created moments ago (`fresh`), a NotFound is
    EC2 not seeing it yet, so it is retried instead of taken as done."""
    try:
        if fresh:
            aws.retry_not_found(call, operation)
        else:
            with aws.aws_errors(operation):
                call()
    except AwsError as exc:
        if exc.code not in gone:
            raise


class _Removal:
    """One removal of one restore's resources: what it found, and what could not be removed."""

    def __init__(self, ec2: EC2Client, restore_id: str, deadline: Deadline, fresh_ids: frozenset[str]):
        self.ec2 = ec2
        self.restore_id = restore_id
        self.deadline = deadline
        self.fresh_ids = fresh_ids
        self.volumes: set[str] = set()
        self.problems: list[str] = []

    def budget(self) -> float:
        return max(self.deadline.remaining() - TEARDOWN_SLACK_SECONDS, 1.0)

    def listed(self, kind: str, listing: Callable[[], list[str]]) -> list[str]:
        """Ids from a listing by tag; a listing that fails is a problem, not a stop."""
        try:
            return listing()
        except AwsError as exc:
            self.problems.append(
                f"{kind} of restore {self.restore_id} could not be listed ({exc.readable()})"
            )
            return []

    def terminate(self, instance_id: str) -> None:
        """Terminate the instance and wait until it is (its volumes detach, or go with it, only then)."""
        try:
            not_found = FRESH_NOT_FOUND_SECONDS if instance_id in self.fresh_ids else 1.0
            instance = describe_instance(self.ec2, instance_id, not_found)
        except AwsError as exc:
            if exc.code != "InvalidInstanceID.NotFound":
                self.problems.append(f"instance {instance_id} could not be described ({exc.readable()})")
            return
        self.volumes.update(
            m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs")
        )
        if state_of(instance) == INSTANCE_TERMINATED:
            return
        try:
            _ignore(
                partial(self.ec2.terminate_instances, InstanceIds=[instance_id]),
                "TerminateInstances",
                ("InvalidInstanceID.NotFound",),
                fresh=instance_id in self.fresh_ids,
            )
            poll(
                partial(describe_instance, self.ec2, instance_id, 1.0),
                lambda i: state_of(i) == INSTANCE_TERMINATED,
                lambda i: None,
                budget_seconds=self.budget(),
                delay=POLL_SECONDS["terminated"],
                what=f"instance {instance_id} terminated",
            )
        except AwsError as exc:
            self.problems.append(f"instance {instance_id} was not terminated ({exc.readable()})")

    def delete_volume(self, volume_id: str) -> None:
        try:
            delete_volume(self.ec2, volume_id, self.budget(), fresh=volume_id in self.fresh_ids)
        except AwsError as exc:
            self.problems.append(f"volume {volume_id} was not deleted ({exc.readable()})")

    def deregister(self, image_id: str) -> None:
        try:
            deregister_image(self.ec2, image_id, fresh=image_id in self.fresh_ids)
        except AwsError as exc:
            self.problems.append(f"image {image_id} was not deregistered ({exc.readable()})")

    def images(self) -> list[str]:
        found = find_image(self.ec2, image_name(self.restore_id))
        return ([found["ImageId"]] if found else []) + [
            i["ImageId"] for i in tagged_images(self.ec2, self.restore_id)
        ]


@dataclass(frozen=True)
class Held:
    """What a restore is known to hold: its instance, temporary image and volumes, and which of them this
    attempt created moments ago (`fresh`: a NotFound of those is EC2 not seeing them yet)."""

    instance_id: str | None = None
    image_id: str | None = None
    volume_ids: tuple[str, ...] = ()
    fresh: frozenset[str] = frozenset()


def remove_restore(ec2: EC2Client, restore_id: str, held: Held, deadline: Deadline) -> list[str]:
    """Terminate the restore's instance, delete every volume it had or was given, deregister its temporary
    AMI. Finds them by id and by tag. Returns what could not be removed (readable), [] when all went."""
    removal = _Removal(ec2, restore_id, deadline, held.fresh)
    removal.volumes.update(held.volume_ids)
    instances = {held.instance_id} if held.instance_id else set()
    instances.update(
        removal.listed(
            "instances",
            lambda: [i["InstanceId"] for i in tagged_instances(ec2, restore_id, LIVE_INSTANCE_STATES)],
        )
    )
    for iid in sorted(instances):
        removal.terminate(iid)
    removal.volumes.update(
        removal.listed("volumes", lambda: [v["VolumeId"] for v in tagged_volumes(ec2, restore_id)])
    )
    for vid in sorted(removal.volumes):
        removal.delete_volume(vid)
    images = {held.image_id} if held.image_id else set()
    images.update(removal.listed("images", removal.images))
    for ami in sorted(images):
        removal.deregister(ami)
    return removal.problems


def delete_volume(ec2: EC2Client, volume_id: str, budget: float, *, fresh: bool) -> None:
    """Detach the volume from whatever holds it, wait until it is free, delete it; a volume gone is done."""
    volume = describe_volume(ec2, volume_id, fresh=fresh)
    if volume is None or volume.get("State") in GONE_VOLUME_STATES:
        return
    for attachment in volume.get("Attachments", []):
        if attachment.get("State") in DETACHING_STATES:
            continue
        _ignore(
            partial(
                ec2.detach_volume,
                VolumeId=volume_id,
                InstanceId=attachment["InstanceId"],
                Device=attachment["Device"],
                Force=True,
            ),
            "DetachVolume",
            ("IncorrectState", "InvalidAttachment.NotFound", "InvalidVolume.NotFound"),
        )
    if volume.get("State") != VOLUME_AVAILABLE or volume.get("Attachments"):
        volume = poll(
            partial(describe_volume, ec2, volume_id, fresh=fresh),
            lambda v: v is None or (v.get("State") in (VOLUME_AVAILABLE, "error", *GONE_VOLUME_STATES)),
            lambda v: None,
            budget_seconds=budget,
            delay=POLL_SECONDS["volume"],
            what=f"volume {volume_id} detached",
        )
        if volume is None or volume.get("State") in GONE_VOLUME_STATES:
            return
    _ignore(lambda: ec2.delete_volume(VolumeId=volume_id), "DeleteVolume", ("InvalidVolume.NotFound",))


def deregister_image(ec2: EC2Client, image_id: str, *, fresh: bool = False) -> None:
    """Deregister an AMI; its snapshots are the vault's and stay (DeleteAssociatedSnapshots is never set)."""
    _ignore(
        lambda: ec2.deregister_image(ImageId=image_id),
        "DeregisterImage",
        ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"),
        fresh=fresh,
    )


@dataclass(frozen=True)
class TeardownOutcome:
    """What a teardown left: the ids still carrying the restore's tag afterwards (`left`), and what went wrong,
    readable, with EC2's reasons (`problems`: a removal or a listing that failed)."""

    left: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def leftovers(self) -> list[str]:
        """The ids still there, then each problem about none of them (a listing that failed, say)."""
        return [*self.left, *(p for p in self.problems if not any(x in p for x in self.left))]


def tear_down_outcome(
    ec2: EC2Client,
    restore_id: str,
    instance_id: str | None,
    image_id: str | None,
    volume_ids: list[str],
    deadline: Deadline,
) -> TeardownOutcome:
    """Remove everything of a restore (a drill's teardown, or the sweep of an earlier drill's leftovers),
    then list what still carries its tag; the reasons of what went wrong are kept apart from the ids still
    there (`TeardownOutcome.leftovers` joins them: [] when nothing is left)."""
    problems = remove_restore(ec2, restore_id, Held(instance_id, image_id, tuple(volume_ids)), deadline)
    try:
        left = _settled_leftovers(ec2, restore_id, deadline)
    except AwsError as exc:
        listing = f"leftovers of restore {restore_id} could not be listed ({exc.readable()})"
        return TeardownOutcome((), (*problems, listing))
    return TeardownOutcome(tuple(sorted(set(left))), tuple(problems))


def _settled_leftovers(ec2: EC2Client, restore_id: str, deadline: Deadline) -> list[str]:
    """`find_leftovers`, asked again for up to LEFTOVERS_SETTLE_SECONDS (within the deadline) while it still
    lists something: EC2's Describe calls are eventually consistent, so a volume or image deleted a moment
    ago may still be listed. What is still listed after that is left over."""
    last: list[str] = []

    def look() -> list[str]:
        last[:] = find_leftovers(ec2, restore_id)
        return last

    try:
        poll(
            look,
            lambda left: not left,
            lambda left: None,
            budget_seconds=min(LEFTOVERS_SETTLE_SECONDS, deadline.remaining()),
            delay=POLL_SECONDS["volume"],
            what=f"leftovers of restore {restore_id} gone",
        )
    except AwsError as exc:
        if exc.code != "WaiterError":
            raise
    return list(last)
