"""Full-instance restore: one recovery point back as a whole instance, in the region the client is for.

Without an `ami_id`, a temporary AMI named `smart-vault-restore-<restore_id>` is registered from the set's
snapshots (each at its recorded device, with its recorded volume type, IOPS, throughput and
delete-on-termination), one instance is launched from it, and once the instance runs and passes its status
checks the AMI is deregistered (its snapshots are the vault's and stay). With an `ami_id`, the instance is
launched from that AMI (its own root volume) and a volume is made from every other snapshot of the set and
attached at its recorded device.

Every step is safe to run again: the AMI name is deterministic and looked up before registering, the launch
and every CreateVolume carry a ClientToken from the restore id, and resources are found again by their
`smart-vault:restore-id` tag. Everything created carries that tag, so a rollback (or a drill's teardown)
finds it even when this attempt never learnt its id. A NotFound right after a create is EC2's eventual
consistency: it is retried (`aws.retry_not_found`), never taken as "gone", for resources this attempt
created. No call goes to any other region than the client's: a DR restore works while the primary is down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from smart_vault import aws, recovery_sets
from smart_vault.errors import AwsError, Conflict, NotFound
from smart_vault.restore.recovery_points import (
    RECOVERY_POINT_NOT_FOUND,
    is_complete,
    managed_snapshots,
    set_size_of,
)
from smart_vault.restore.steps import (
    Deadline,
    client_token,
    find_restored_instance,
    find_restored_volume,
    tagged_instances,
    wait_volume_usable,
)
from smart_vault.snapshot_model import snapshot_from_api
from smart_vault.tags import (
    ARCHITECTURE_TAG,
    BACKUP_SET_TAG,
    BOOT_MODE_TAG,
    DELETE_ON_TERMINATION_TAG,
    DEVICE_TAG,
    ENA_TAG,
    IOPS_TAG,
    KEY_NAME_TAG,
    LIVE_INSTANCE_STATES,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RESTORE_ID_TAG,
    ROOT_DEVICE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_REGION_TAG,
    SOURCE_SNAPSHOT_TAG,
    SOURCE_VOLUME_TAG,
    THROUGHPUT_TAG,
    VOLUME_TYPE_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import DescribeInstanceStatusResultTypeDef, ImageTypeDef

IMAGE_NAME_PREFIX = "smart-vault-restore-"
# Instance states from which an instance can still become `running`, and those it may still be torn down from.
LEFTOVER_VOLUME_STATES = ("creating", "available", "in-use", "error", "deleting")
POLL_SECONDS = {"image": 5.0, "instance": 5.0, "status": 10.0, "terminated": 5.0, "volume": 3.0}
# Only these volume types take an IOPS figure, and only gp3 a throughput figure.
IOPS_TYPES = ("io1", "io2", "gp3")
THROUGHPUT_TYPES = ("gp3",)


# ------------------------------------------------------------------------------------------ the set


@dataclass(frozen=True)
class SetVolume:
    """One snapshot of a recovery point, with what its volume needs."""

    snapshot_id: str
    device: str
    size_gib: int
    state: str
    source_volume: str
    volume_type: str | None
    iops: int | None
    throughput: int | None
    delete_on_termination: bool


@dataclass(frozen=True)
class RecoveryPoint:
    """One backup set in one region, read from its snapshots' tags: everything a rebuild needs."""

    backup_set_id: str
    region: str
    source_instance_id: str
    tags: Mapping[str, str]
    volumes: tuple[SetVolume, ...]
    complete: bool  # as recovery_points.is_complete judges the set's snapshots

    def tag(self, key: str) -> str | None:
        return self.tags.get(key) or None

    @property
    def set_size(self) -> int:
        return set_size_of(self.tags) or len(self.volumes)

    @property
    def root_device(self) -> str | None:
        return self.tag(ROOT_DEVICE_TAG)

    @property
    def root_volume(self) -> SetVolume | None:
        return next((v for v in self.volumes if v.device == self.root_device), None)

    @property
    def data_volumes(self) -> tuple[SetVolume, ...]:
        return tuple(v for v in self.volumes if v.device != self.root_device)

    @property
    def name(self) -> str | None:
        return self.tag("Name")

    @property
    def source_region(self) -> str:
        """The region the set was taken in (DR copies record it; a primary snapshot is in its own)."""
        return self.tag(SOURCE_REGION_TAG) or self.region


def _int_tag(tags: Mapping[str, str], key: str) -> int | None:
    try:
        return int(tags[key]) if tags.get(key) else None
    except ValueError:
        return None


def recovery_point_from_snapshots(
    backup_set_id: str, region: str, snapshots: Sequence[Mapping[str, Any]]
) -> RecoveryPoint:
    """Pure: a RecoveryPoint from the DescribeSnapshots items of one set (managed ones only)."""
    volumes = []
    members = []
    set_tags: dict[str, str] = {}
    for item in snapshots:
        tags = aws.tags_to_dict(item.get("Tags"))
        if tags.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE or tags.get(BACKUP_SET_TAG) != backup_set_id:
            continue
        members.append(item)
        set_tags = set_tags or tags
        volumes.append(
            SetVolume(
                snapshot_id=item["SnapshotId"],
                device=tags.get(DEVICE_TAG, ""),
                size_gib=int(item.get("VolumeSize") or 0),
                state=item.get("State", ""),
                source_volume=tags.get(SOURCE_VOLUME_TAG, ""),
                volume_type=tags.get(VOLUME_TYPE_TAG) or None,
                iops=_int_tag(tags, IOPS_TAG),
                throughput=_int_tag(tags, THROUGHPUT_TAG),
                delete_on_termination=tags.get(DELETE_ON_TERMINATION_TAG, "true") == "true",
            )
        )
    # (v3) One volume per device: a duplicate snapshot of a device (a retried call) is left out.
    duplicates = recovery_sets.duplicate_ids(snapshot_from_api(m, region) for m in members)
    volumes = [v for v in volumes if v.snapshot_id not in duplicates]
    volumes.sort(key=lambda v: (v.device, v.snapshot_id))
    return RecoveryPoint(
        backup_set_id=backup_set_id,
        region=region,
        source_instance_id=set_tags.get(SOURCE_INSTANCE_TAG, ""),
        tags=set_tags,
        volumes=tuple(volumes),
        complete=is_complete(members),
    )


def load_recovery_point(
    ec2: EC2Client, backup_set_id: str, *, require_complete: bool = True
) -> RecoveryPoint:
    """The set's managed snapshots in the client's region. NotFound (RecoveryPointNotFound) when there are
    none; Conflict when it is not complete there (unless `require_complete` is false)."""
    region = getattr(getattr(ec2, "meta", None), "region_name", "") or "this region"
    point = recovery_point_from_snapshots(
        backup_set_id, region, managed_snapshots(ec2, backup_set_id=backup_set_id)
    )
    if not point.volumes:
        raise NotFound(
            f"recovery point {backup_set_id} was not found in {region}", error=RECOVERY_POINT_NOT_FOUND
        )
    if require_complete and not point.complete:
        done = sum(1 for v in point.volumes if v.state == "completed")
        raise Conflict(
            f"recovery point {backup_set_id} is not complete in {region}: "
            f"{done} of {point.set_size} snapshots completed"
        )
    return point


# ------------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class InstancePlan:
    """Where and how one recovery point comes back: resolved before the worker starts."""

    restore_id: str
    region: str
    backup_set_id: str
    subnet_id: str
    availability_zone: str
    security_group_ids: tuple[str, ...]
    instance_type: str
    ami_id: str | None = None
    instance_profile_arn: str | None = None
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, restore_id: str, request: Mapping[str, Any]) -> InstancePlan:
        """The plan of a job's resolved instance-form request."""
        return cls(
            restore_id=restore_id,
            region=request["region"],
            backup_set_id=request["backup_set_id"],
            subnet_id=request["subnet_id"],
            availability_zone=request["availability_zone"],
            security_group_ids=tuple(request["security_group_ids"]),
            instance_type=request["instance_type"],
            ami_id=request.get("ami_id"),
            instance_profile_arn=request.get("instance_profile_arn"),
        )

    @property
    def image_name(self) -> str:
        return IMAGE_NAME_PREFIX + self.restore_id


class Recorder(Protocol):
    """Where a restore records its steps: the worker's job log, or a drill's stage timer."""

    def step(self, name: str) -> AbstractContextManager[None]: ...

    def save(self, **fields: Any) -> None: ...


def resource_tags(plan: InstancePlan, point: RecoveryPoint) -> dict[str, str]:
    tags = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        RESTORE_ID_TAG: plan.restore_id,
        SOURCE_INSTANCE_TAG: point.source_instance_id,
        BACKUP_SET_TAG: point.backup_set_id,
    }
    if point.name:
        tags["Name"] = point.name
    return {**tags, **plan.extra_tags}


def _ebs_of(volume: SetVolume) -> dict[str, Any]:
    ebs: dict[str, Any] = {
        "SnapshotId": volume.snapshot_id,
        "DeleteOnTermination": volume.delete_on_termination,
    }
    ebs.update(_volume_shape(volume))
    return ebs


def _volume_shape(volume: SetVolume) -> dict[str, Any]:
    """VolumeType / Iops / Throughput as recorded, only where the type takes them."""
    shape: dict[str, Any] = {}
    if volume.volume_type:
        shape["VolumeType"] = volume.volume_type
        if volume.iops and volume.volume_type in IOPS_TYPES:
            shape["Iops"] = volume.iops
        if volume.throughput and volume.volume_type in THROUGHPUT_TYPES:
            shape["Throughput"] = volume.throughput
    return shape


def register_image_params(plan: InstancePlan, point: RecoveryPoint) -> dict[str, Any]:
    """Pure: the RegisterImage call for the temporary AMI of this restore."""
    root = point.root_volume
    if root is None:
        raise Conflict(
            f"recovery point {point.backup_set_id} has no snapshot of its root device "
            f"{point.root_device or '(not recorded)'}; restore it with ami_id"
        )
    params: dict[str, Any] = {
        "Name": plan.image_name,
        "Description": f"Smart Vault restore {plan.restore_id} of {point.source_instance_id} "
        f"({point.backup_set_id}); temporary",
        "Architecture": point.tag(ARCHITECTURE_TAG) or "x86_64",
        "RootDeviceName": root.device,
        "VirtualizationType": "hvm",
        "EnaSupport": point.tag(ENA_TAG) == "true",
        "BlockDeviceMappings": [{"DeviceName": v.device, "Ebs": _ebs_of(v)} for v in point.volumes],
        "TagSpecifications": [
            {"ResourceType": "image", "Tags": aws.dict_to_tags(resource_tags(plan, point))}
        ],
    }
    if point.tag(BOOT_MODE_TAG):
        params["BootMode"] = point.tag(BOOT_MODE_TAG)
    return params


# ------------------------------------------------------------------------------------------ polling


def poll(
    describe: Callable[[], Any],
    done: Callable[[Any], bool],
    failed: Callable[[Any], str | None],
    *,
    budget_seconds: float,
    delay: float,
    what: str,
) -> Any:
    """Call `describe` until `done` (returns its answer) or `failed` gives a reason (AwsError at once), or the
    budget runs out (AwsError WaiterError). Uses the waits' clock, so a simulation runs it in virtual time."""
    monotonic, sleep = aws.clock()
    end = monotonic() + budget_seconds
    while True:
        answer = describe()
        if done(answer):
            return answer
        reason = failed(answer)
        if reason:
            raise AwsError("ResourceFailed", reason, f"wait {what}")
        if monotonic() + delay > end:
            raise AwsError("WaiterError", f"{what}: not done when the time ran out", f"wait {what}")
        sleep(delay)


def _describe_instance(ec2: EC2Client, instance_id: str, budget: float) -> dict[str, Any]:
    reservations = aws.retry_not_found(
        lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"],
        "DescribeInstances",
        total_seconds=max(min(aws.NOT_FOUND_RETRY_SECONDS, budget), 1.0),
    )
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            return instance
    raise AwsError("InvalidInstanceID.NotFound", f"instance {instance_id} not found", "DescribeInstances")


def _instance_failure(instance: Mapping[str, Any]) -> str | None:
    state = (instance.get("State") or {}).get("Name")
    if state in ("shutting-down", "terminated", "stopping", "stopped"):
        reason = (instance.get("StateReason") or {}).get("Message") or "no reason given"
        return f"instance {instance['InstanceId']} is {state} instead of running: {reason}"
    return None


def _status_failure(answer: Mapping[str, Any]) -> str | None:
    for status in answer.get("InstanceStatuses", []):
        state = (status.get("InstanceState") or {}).get("Name")
        if state and state not in ("pending", "running"):
            return f"instance {status['InstanceId']} is {state} instead of passing its status checks"
        for kind, label in (("InstanceStatus", "instance"), ("SystemStatus", "system")):
            if (status.get(kind) or {}).get("Status") == "impaired":
                failed = [d["Name"] for d in status[kind].get("Details", []) if d.get("Status") == "failed"]
                return f"instance {status['InstanceId']} failed its {label} status check" + (
                    f" ({', '.join(failed)})" if failed else ""
                )
    return None


def _status_ok(answer: Mapping[str, Any]) -> bool:
    return any(
        (s.get("InstanceStatus") or {}).get("Status") == "ok"
        and (s.get("SystemStatus") or {}).get("Status") == "ok"
        for s in answer.get("InstanceStatuses", [])
    )


# ------------------------------------------------------------------------------------------ lookups


def find_image(ec2: EC2Client, name: str) -> ImageTypeDef | None:
    """The account's image with this name, if it exists (and is not deregistered)."""
    with aws.aws_errors("DescribeImages"):
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    live = [i for i in images if i.get("State") not in ("deregistered",)]
    return live[0] if live else None


def _tagged_volumes(ec2: EC2Client, restore_id: str) -> list[dict[str, Any]]:
    return list(
        aws.paginate(
            ec2,
            "describe_volumes",
            "Volumes",
            page_size=500,
            Filters=[
                {"Name": f"tag:{RESTORE_ID_TAG}", "Values": [restore_id]},
                {"Name": "status", "Values": list(LEFTOVER_VOLUME_STATES)},
            ],
        )
    )


def _tagged_images(ec2: EC2Client, restore_id: str) -> list[ImageTypeDef]:
    with aws.aws_errors("DescribeImages"):
        images = ec2.describe_images(
            Owners=["self"], Filters=[{"Name": f"tag:{RESTORE_ID_TAG}", "Values": [restore_id]}]
        )["Images"]
    return [i for i in images if i.get("State") not in ("deregistered",)]


def find_leftovers(ec2: EC2Client, restore_id: str) -> list[str]:
    """Ids of anything still there that carries this restore's tag: live instances, volumes, images."""
    leftovers = [i["InstanceId"] for i in tagged_instances(ec2, restore_id, LIVE_INSTANCE_STATES)]
    leftovers += [v["VolumeId"] for v in _tagged_volumes(ec2, restore_id) if v.get("State") != "deleting"]
    leftovers += [i["ImageId"] for i in _tagged_images(ec2, restore_id)]
    image = find_image(ec2, IMAGE_NAME_PREFIX + restore_id)
    if image and image["ImageId"] not in leftovers:
        leftovers.append(image["ImageId"])
    return sorted(leftovers)


# ------------------------------------------------------------------------------------------ teardown


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


def remove_restore(
    ec2: EC2Client,
    restore_id: str,
    *,
    instance_id: str | None,
    image_id: str | None,
    volume_ids: list[str],
    deadline: Deadline,
    fresh_ids: frozenset[str] = frozenset(),
) -> list[str]:
    """Terminate the restore's instance, delete every volume it had or was given, deregister its temporary
    AMI. Finds them by id and by tag. Returns what could not be removed (readable), [] when all went."""
    problems: list[str] = []
    budget = lambda: max(deadline.remaining() - 5, 1.0)  # noqa: E731
    instance_ids = {instance_id} if instance_id else set()
    volumes = set(volume_ids)
    try:
        for instance in tagged_instances(ec2, restore_id, LIVE_INSTANCE_STATES):
            instance_ids.add(instance["InstanceId"])
    except AwsError as exc:
        problems.append(f"instances of restore {restore_id} could not be listed ({exc.readable()})")
    for iid in sorted(instance_ids):
        try:
            instance = _describe_instance(ec2, iid, 64.0 if iid in fresh_ids else 1.0)
        except AwsError as exc:
            if exc.code != "InvalidInstanceID.NotFound":
                problems.append(f"instance {iid} could not be described ({exc.readable()})")
            continue
        volumes.update(m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs"))
        if (instance.get("State") or {}).get("Name") == "terminated":
            continue
        try:
            _ignore(
                partial(ec2.terminate_instances, InstanceIds=[iid]),
                "TerminateInstances",
                ("InvalidInstanceID.NotFound",),
                fresh=iid in fresh_ids,
            )
            # Its volumes detach (and those marked so are deleted) only once it is terminated.
            poll(
                partial(_describe_instance, ec2, iid, 1.0),
                lambda i: (i.get("State") or {}).get("Name") == "terminated",
                lambda i: None,
                budget_seconds=budget(),
                delay=POLL_SECONDS["terminated"],
                what=f"instance {iid} terminated",
            )
        except AwsError as exc:
            problems.append(f"instance {iid} was not terminated ({exc.readable()})")
    try:
        volumes.update(v["VolumeId"] for v in _tagged_volumes(ec2, restore_id))
    except AwsError as exc:
        problems.append(f"volumes of restore {restore_id} could not be listed ({exc.readable()})")
    for vid in sorted(volumes):
        try:
            _delete_volume(ec2, vid, budget(), fresh=vid in fresh_ids)
        except AwsError as exc:
            problems.append(f"volume {vid} was not deleted ({exc.readable()})")
    images = {image_id} if image_id else set()
    try:
        found = find_image(ec2, IMAGE_NAME_PREFIX + restore_id)
        images.update([found["ImageId"]] if found else [])
        images.update(i["ImageId"] for i in _tagged_images(ec2, restore_id))
    except AwsError as exc:
        problems.append(f"images of restore {restore_id} could not be listed ({exc.readable()})")
    for ami in sorted(images):
        try:
            deregister_image(ec2, ami, fresh=ami in fresh_ids)
        except AwsError as exc:
            problems.append(f"image {ami} was not deregistered ({exc.readable()})")
    return problems


def _delete_volume(ec2: EC2Client, volume_id: str, budget: float, *, fresh: bool) -> None:
    def describe() -> dict[str, Any] | None:
        try:
            if fresh:
                found = aws.retry_not_found(
                    lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"], "DescribeVolumes"
                )
            else:
                with aws.aws_errors("DescribeVolumes"):
                    found = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        except AwsError as exc:
            if exc.code == "InvalidVolume.NotFound":
                return None
            raise
        return found[0] if found else None

    volume = describe()
    if volume is None or volume.get("State") in ("deleting", "deleted"):
        return
    for attachment in volume.get("Attachments", []):
        if attachment.get("State") in ("detaching", "detached"):
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
    if volume.get("State") != "available" or volume.get("Attachments"):
        volume = poll(
            describe,
            lambda v: v is None or (v.get("State") in ("available", "error", "deleting", "deleted")),
            lambda v: None,
            budget_seconds=budget,
            delay=POLL_SECONDS["volume"],
            what=f"volume {volume_id} detached",
        )
        if volume is None or volume.get("State") in ("deleting", "deleted"):
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


def tear_down(
    ec2: EC2Client,
    restore_id: str,
    instance_id: str | None,
    image_id: str | None,
    volume_ids: list[str],
    deadline: Deadline,
) -> list[str]:
    """Remove everything of a restore (a drill's teardown), then list what still carries its tag: [] when
    nothing is left. What could not be removed or listed is in the answer too."""
    problems = remove_restore(
        ec2, restore_id, instance_id=instance_id, image_id=image_id, volume_ids=volume_ids, deadline=deadline
    )
    try:
        left = find_leftovers(ec2, restore_id)
    except AwsError as exc:
        return [*problems, f"leftovers of restore {restore_id} could not be listed ({exc.readable()})"]
    return sorted(set(left)) + [p for p in problems if not any(x in p for x in left)]


# ------------------------------------------------------------------------------------------ the restore


class InstanceRestore:
    """One attempt at one full-instance restore. Each step is recorded through the recorder."""

    def __init__(self, ec2: EC2Client, plan: InstancePlan, recorder: Recorder, deadline: Deadline):
        self.ec2 = ec2
        self.plan = plan
        self.recorder = recorder
        self.deadline = deadline
        self.instance_id: str | None = None
        self.image_id: str | None = plan.ami_id
        self.volume_ids: list[str] = []
        self.warnings: list[str] = []
        self._temporary_image: str | None = None
        self._fresh: set[str] = set()
        self.point: RecoveryPoint | None = None

    def _save(self) -> None:
        self.recorder.save(
            instance_id=self.instance_id, image_id=self.image_id, volume_ids=list(self.volume_ids)
        )

    def _prepare(self) -> tuple[RecoveryPoint, dict[str, Any] | None]:
        """The recovery point (checked complete again: the API's check was some time ago) and the instance
        an earlier attempt of this restore already launched, if any."""
        self.point = load_recovery_point(self.ec2, self.plan.backup_set_id)
        return self.point, self._existing_instance()

    def execute(self) -> None:
        if self.plan.ami_id is None:
            with self.recorder.step("register_image"):
                point, existing = self._prepare()
                self._register_image(point, skip=existing is not None)
            with self.recorder.step("launch_instance"):
                self._launch(point, self._temporary_image or "", existing)
            with self.recorder.step("wait_instance_running"):
                self._wait_running()
            with self.recorder.step("wait_status_checks"):
                self._wait_status_checks()
            with self.recorder.step("deregister_image"):
                if self._temporary_image:
                    deregister_image(
                        self.ec2, self._temporary_image, fresh=self._temporary_image in self._fresh
                    )
        else:
            with self.recorder.step("launch_instance"):
                point, existing = self._prepare()
                self._launch(point, self.plan.ami_id, existing)
            with self.recorder.step("create_volumes"):
                data = self._create_volumes(point)
            with self.recorder.step("wait_instance_running"):
                self._wait_running()
            with self.recorder.step("attach_volumes"):
                self._attach(data)
            with self.recorder.step("wait_status_checks"):
                self._wait_status_checks()

    def roll_back(self) -> list[str]:
        """Remove everything this restore created; what is left behind (readable), [] when clean."""
        return remove_restore(
            self.ec2,
            self.plan.restore_id,
            instance_id=self.instance_id,
            image_id=self._temporary_image,
            volume_ids=self.volume_ids,
            deadline=self.deadline,
            fresh_ids=frozenset(self._fresh),
        )

    # -- steps

    def _existing_instance(self) -> dict[str, Any] | None:
        return find_restored_instance(self.ec2, self.plan.restore_id, ("pending", "running"))

    def _register_image(self, point: RecoveryPoint, *, skip: bool) -> None:
        found = find_image(self.ec2, self.plan.image_name)
        if found:
            self._temporary_image = found["ImageId"]
        elif skip:
            return  # an earlier attempt launched the instance and already deregistered the image
        else:
            try:
                # Retried on a NotFound of a resource created moments before (eventual consistency).
                self._temporary_image = aws.retry_not_found(
                    lambda: self.ec2.register_image(**register_image_params(self.plan, point))["ImageId"],
                    "RegisterImage",
                )
                self._fresh.add(self._temporary_image)
            except AwsError as exc:
                if exc.code != "InvalidAMIName.Duplicate":
                    raise
                # Registered by an earlier attempt that EC2 does not show yet: wait until it does.
                found = poll(
                    lambda: find_image(self.ec2, self.plan.image_name),
                    lambda image: image is not None,
                    lambda image: None,
                    budget_seconds=min(aws.NOT_FOUND_RETRY_SECONDS, self.deadline.budget()),
                    delay=POLL_SECONDS["image"],
                    what=f"image {self.plan.image_name} visible",
                )
                self._temporary_image = found["ImageId"]
        self.image_id = self._temporary_image
        self._save()
        image_id = self._temporary_image
        poll(
            lambda: aws.retry_not_found(
                lambda: self.ec2.describe_images(ImageIds=[image_id])["Images"], "DescribeImages"
            ),
            lambda images: bool(images) and images[0].get("State") == "available",
            lambda images: (
                f"image {image_id} is {images[0].get('State')}: "
                f"{(images[0].get('StateReason') or {}).get('Message', 'no reason given')}"
                if images and images[0].get("State") in ("failed", "invalid", "error", "deregistered")
                else None
            ),
            budget_seconds=self.deadline.budget(),
            delay=POLL_SECONDS["image"],
            what=f"image {image_id} available",
        )

    def _key_name(self, point: RecoveryPoint) -> str | None:
        key = point.tag(KEY_NAME_TAG)
        if not key:
            return None
        try:
            with aws.aws_errors("DescribeKeyPairs"):
                self.ec2.describe_key_pairs(KeyNames=[key])
        except AwsError as exc:
            if exc.code != "InvalidKeyPair.NotFound":
                raise
            self.warnings.append(
                f"the recorded key pair {key} does not exist in {self.plan.region}; "
                "the instance was launched without a key pair"
            )
            return None
        return key

    def _launch(self, point: RecoveryPoint, image_id: str, existing: dict[str, Any] | None) -> None:
        if existing:
            self.instance_id = existing["InstanceId"]
            self._save()
            return
        tags = aws.dict_to_tags(resource_tags(self.plan, point))
        params: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": self.plan.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": self.plan.subnet_id,
            "SecurityGroupIds": list(self.plan.security_group_ids),
            "ClientToken": client_token(self.plan.restore_id, "instance"),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        key = self._key_name(point)
        if key:
            params["KeyName"] = key
        if self.plan.instance_profile_arn:
            params["IamInstanceProfile"] = {"Arn": self.plan.instance_profile_arn}
        # Right after RegisterImage the image may answer InvalidAMIID.NotFound: retried (the ClientToken
        # makes a repeated launch return the first one's instance).
        self.instance_id = aws.retry_not_found(
            lambda: self.ec2.run_instances(**params)["Instances"][0]["InstanceId"], "RunInstances"
        )
        self._fresh.add(self.instance_id)
        self._save()

    def _wait_running(self) -> None:
        instance_id = self.instance_id or ""
        fresh = 64.0 if instance_id in self._fresh else 1.0
        instance = poll(
            lambda: _describe_instance(self.ec2, instance_id, fresh),
            lambda i: (i.get("State") or {}).get("Name") == "running",
            _instance_failure,
            budget_seconds=self.deadline.budget(),
            delay=POLL_SECONDS["instance"],
            what=f"instance {instance_id} running",
        )
        launched = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs")]
        self.volume_ids = launched + [v for v in self.volume_ids if v not in launched]
        self._save()

    def _wait_status_checks(self) -> None:
        instance_id = self.instance_id or ""
        poll(
            lambda: self._instance_status(instance_id),
            _status_ok,
            _status_failure,
            budget_seconds=self.deadline.budget(),
            delay=POLL_SECONDS["status"],
            what=f"instance {instance_id} status checks ok",
        )

    def _instance_status(self, instance_id: str) -> DescribeInstanceStatusResultTypeDef:
        with aws.aws_errors("DescribeInstanceStatus"):
            return self.ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)

    def _create_volumes(self, point: RecoveryPoint) -> list[tuple[SetVolume, str]]:
        created = []
        for volume in point.data_volumes:
            created.append((volume, self._create_volume(point, volume)))
        for _, volume_id in created:
            wait_volume_usable(self.ec2, volume_id, self.deadline.budget())
        return created

    def _create_volume(self, point: RecoveryPoint, volume: SetVolume) -> str:
        found = find_restored_volume(self.ec2, self.plan.restore_id, volume.snapshot_id)
        if found:
            volume_id = found["VolumeId"]
        else:
            tags = {**resource_tags(self.plan, point), SOURCE_SNAPSHOT_TAG: volume.snapshot_id}
            volume_id = aws.retry_not_found(
                lambda: self.ec2.create_volume(
                    SnapshotId=volume.snapshot_id,
                    AvailabilityZone=self.plan.availability_zone,
                    ClientToken=client_token(self.plan.restore_id, f"volume/{volume.snapshot_id}"),
                    TagSpecifications=[{"ResourceType": "volume", "Tags": aws.dict_to_tags(tags)}],
                    **_volume_shape(volume),
                )["VolumeId"],
                "CreateVolume",
            )
            self._fresh.add(volume_id)
        if volume_id not in self.volume_ids:
            self.volume_ids.append(volume_id)
        self._save()
        return volume_id

    def _attach(self, data: list[tuple[SetVolume, str]]) -> None:
        instance_id = self.instance_id or ""
        for volume, volume_id in data:
            current = aws.retry_not_found(
                lambda volume_id=volume_id: self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"],
                "DescribeVolumes",
            )
            attachments = current[0].get("Attachments", []) if current else []
            if not any(a.get("InstanceId") == instance_id for a in attachments):
                # The volume and the instance were created moments before: NotFound is retried.
                aws.retry_not_found(
                    lambda volume_id=volume_id, device=volume.device: self.ec2.attach_volume(
                        VolumeId=volume_id, InstanceId=instance_id, Device=device
                    ),
                    "AttachVolume",
                )
        for _, volume_id in data:
            self._wait_attached(volume_id)

    def _wait_attached(self, volume_id: str) -> None:
        poll(
            lambda: self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0],
            lambda v: (
                v.get("State") == "in-use"
                and all(a.get("State") == "attached" for a in v.get("Attachments", []))
            ),
            lambda v: f"volume {volume_id} is {v.get('State')}" if v.get("State") == "error" else None,
            budget_seconds=self.deadline.budget(),
            delay=POLL_SECONDS["volume"],
            what=f"volume {volume_id} attached",
        )
