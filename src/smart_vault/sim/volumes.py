"""The EBS volumes of the simulated EC2: one store of every volume of every region, keyed by region and volume
id, whoever made it: the fleet's instances (`SimWorld.add_instance`), RunInstances (the image's volumes, with
the instance: `compute.py`) and CreateVolume (a restore). One lifecycle and one API view for all of them, read
and changed by every call that touches a volume (`SimEC2`: CreateVolume, DescribeVolumes, DeleteVolume,
AttachVolume, DetachVolume; `Compute`: RunInstances, TerminateInstances), with the one filter engine
(`filters.py`).

The states are EC2's (`creating`, `available`, `in-use`, `error`; `deleting` is not modelled); what the
simulation guesses is marked GUESS:
- CreateVolume (idempotent by `ClientToken`, as EC2 documents): `creating` for a lognormal
  `create_median_s` (GUESS: 10 s), then `available`, or `error` for `error_rate` of them (GUESS); invisible to
  describes and deletes (`InvalidVolume.NotFound`) for a uniform 0..`invisible_max_s` s (eventual consistency);
- RunInstances: the image's volumes exist `in-use`, attached to the new instance, at once (GUESS: no
  `creating` phase, visible before the instance is); once the instance is `terminated`, a volume with
  DeleteOnTermination is gone, the others are `available` (as EC2 documents DeleteOnTermination);
- the fleet: attached `in-use` from the start; GUESS: gp3 at its baseline (3000 IOPS, 125 MiB/s), of the size
  the scenario gives (default: the reference size of the snapshot durations, 100 GiB);
- AttachVolume: only an `available` volume, in the instance's zone (EC2's `IncorrectState`, `VolumeInUse`,
  `InvalidVolume.ZoneMismatch`); GUESS: attached at once (no `attaching` phase); DetachVolume: `available`
  at once (GUESS: no `detaching` phase);
- DeleteVolume: `VolumeInUse` while attached, whoever attached it (EC2's error codes: "The specified EBS volume
  is attached to an instance"), `IncorrectState` while `creating`, gone at once from `available` or `error`.
A volume's time is the caller's virtual time (`SimWorld.monotonic`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.sim.filters import select

VOLUME_CREATE_MEDIAN_S = 10.0  # GUESS
FLEET_IOPS, FLEET_THROUGHPUT = 3000, 125  # GUESS: gp3's baseline


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class Attachment:
    instance_id: str
    device: str
    delete_on_termination: bool
    detach_at: float | None = None  # the instance's termination (then detached, or the volume gone with it)


@dataclass
class Volume:
    volume_id: str
    availability_zone: str
    size: int
    volume_type: str = "gp3"
    snapshot_id: str = ""  # the snapshot it was created from ("" when none, as EC2 answers)
    tags: list[dict[str, str]] = field(default_factory=list)
    encrypted: bool = False
    create_time: datetime | None = None
    state: str = "available"  # `creating` until `ready_at`, then `final`; `in-use` is the attachment's
    visible_at: float = float("-inf")
    ready_at: float = float("-inf")
    final: str = "available"
    iops: int | None = None
    throughput: int | None = None
    attachment: Attachment | None = None

    def view(self) -> dict[str, Any]:
        """The volume as DescribeVolumes answers it."""
        attachments = []
        if self.attachment is not None:
            a = self.attachment
            attachments.append(
                {
                    "VolumeId": self.volume_id,
                    "InstanceId": a.instance_id,
                    "Device": a.device,
                    "State": "attached",
                    "DeleteOnTermination": a.delete_on_termination,
                }
            )
        view: dict[str, Any] = {
            "VolumeId": self.volume_id,
            "SnapshotId": self.snapshot_id,
            "AvailabilityZone": self.availability_zone,
            "VolumeType": self.volume_type,
            "Size": self.size,
            "State": "in-use" if attachments else self.state,
            "CreateTime": self.create_time,
            "Attachments": attachments,
            "Tags": [dict(t) for t in self.tags],
            "Encrypted": self.encrypted,
        }
        if self.iops is not None:
            view["Iops"] = self.iops
        if self.throughput is not None:
            view["Throughput"] = self.throughput
        return view


class VolumeStore:
    """Every volume of every region of one world (see the module docstring)."""

    def __init__(self, world: Any, error_rate: float = 0.0, create_median_s: float = VOLUME_CREATE_MEDIAN_S):
        self.world = world
        self.error_rate = error_rate
        self.create_median_s = create_median_s
        self.volumes: dict[str, dict[str, Volume]] = {}  # region -> volume id -> volume
        self.by_token: dict[tuple[str, str], str] = {}
        self.not_found_answers = 0  # NotFound answers to describes and deletes by id

    def region(self, region: str) -> dict[str, Volume]:
        return self.volumes.setdefault(region, {})

    # ------------------------------------------------------------------ state from the clock
    def _settle(self, region: str, volume: Volume, now: float) -> bool:
        """Bring `volume` to `now`; False when it is gone (deleted with its terminated instance)."""
        if volume.state == "creating" and now >= volume.ready_at:
            volume.state = volume.final
        a = volume.attachment
        if a is not None and a.detach_at is not None and now >= a.detach_at:
            if a.delete_on_termination:
                del self.region(region)[volume.volume_id]
                return False
            volume.attachment = None
        return True

    def _current(self, region: str) -> Iterator[Volume]:
        now = self.world.monotonic()
        for volume in list(self.region(region).values()):
            if self._settle(region, volume, now):
                yield volume

    def _visible(self, region: str, volume_id: str, operation: str) -> Volume:
        now = self.world.monotonic()
        volume = self.region(region).get(volume_id)
        if volume is None or not self._settle(region, volume, now) or volume.visible_at > now:
            self.not_found_answers += 1
            raise _error("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.", operation)
        return volume

    def get(self, region: str, volume_id: str) -> Volume | None:
        """The volume as of now, visible or not (None: no such volume)."""
        volume = self.region(region).get(volume_id)
        if volume is None or not self._settle(region, volume, self.world.monotonic()):
            return None
        return volume

    # ------------------------------------------------------------------ volumes with an instance
    def attached(self, region: str, volume_id: str, instance_id: str, device: str, **fields: Any) -> Volume:
        """A volume that exists attached to `instance_id` (the fleet's, or launched by RunInstances)."""
        on_termination = bool(fields.pop("delete_on_termination", True))
        volume = Volume(volume_id, create_time=self.world.now(), **fields)
        volume.attachment = Attachment(instance_id, device, on_termination)
        self.region(region)[volume_id] = volume
        return volume

    def instance_terminated(self, region: str, instance_id: str, at: float) -> None:
        """The instance is `terminated` from `at`: its volumes detach then, or go with it."""
        for volume in self._current(region):
            if volume.attachment is not None and volume.attachment.instance_id == instance_id:
                volume.attachment.detach_at = at

    # ------------------------------------------------------------------ the API
    def create(self, region: str, **params: Any) -> dict[str, Any]:
        world = self.world
        token = params.get("ClientToken")
        if token and (region, token) in self.by_token:
            existing = self.get(region, self.by_token[(region, token)])
            if existing is not None:
                return existing.view()
        snapshot = world.snapshots.get(region, {}).get(params["SnapshotId"])
        if (
            snapshot is None
            or snapshot["State"] != "completed"
            or snapshot["_visible_at"] > world.monotonic()
        ):
            raise _error("InvalidSnapshot.NotFound", f"no snapshot {params['SnapshotId']}", "CreateVolume")
        volume = Volume(
            world.new_id("vol"),
            availability_zone=params["AvailabilityZone"],
            size=params.get("Size") or snapshot.get("VolumeSize", 8),
            volume_type=params.get("VolumeType", "gp3"),
            snapshot_id=params["SnapshotId"],
            tags=[dict(t) for spec in params.get("TagSpecifications", ()) for t in spec.get("Tags", [])],
            encrypted=bool(snapshot.get("Encrypted")),
            create_time=world.now(),
            state="creating",
            visible_at=world.monotonic() + world.rng.uniform(0.0, world.p.invisible_max_s),
            iops=params.get("Iops"),
        )
        self.region(region)[volume.volume_id] = volume
        if token:
            self.by_token[(region, token)] = volume.volume_id
        volume.final = "error" if world.rng.random() < self.error_rate else "available"
        volume.ready_at = world.monotonic() + world.lognormal(self.create_median_s)
        self._settle(region, volume, world.monotonic())
        return volume.view()

    def describe(
        self, region: str, volume_ids: Iterable[str] | None, filters: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        ids = list(volume_ids or ())
        if ids:
            found = [self._visible(region, v, "DescribeVolumes") for v in ids]
        else:
            now = self.world.monotonic()
            found = [v for v in self._current(region) if v.visible_at <= now]
        return select((v.view() for v in found), filters, "volume")

    def delete(self, region: str, volume_id: str) -> None:
        volume = self._visible(region, volume_id, "DeleteVolume")
        if volume.attachment is not None:
            instance = volume.attachment.instance_id
            raise _error(
                "VolumeInUse", f"Volume {volume_id} is currently attached to {instance}", "DeleteVolume"
            )
        if volume.state not in ("available", "error"):
            raise _error("IncorrectState", f"The volume '{volume_id}' is '{volume.state}'.", "DeleteVolume")
        del self.region(region)[volume_id]

    def attach(self, region: str, volume_id: str, instance_id: str, device: str, zone: str) -> dict[str, Any]:
        volume = self._visible(region, volume_id, "AttachVolume")
        if volume.attachment is not None:
            raise _error("VolumeInUse", f"vol {volume_id} is already attached to an instance", "AttachVolume")
        if volume.state != "available":
            raise _error("IncorrectState", f"vol {volume_id} is not 'available'.", "AttachVolume")
        if zone != volume.availability_zone:
            message = (
                f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'"
            )
            raise _error("InvalidVolume.ZoneMismatch", message, "AttachVolume")
        volume.attachment = Attachment(instance_id, device, delete_on_termination=False)
        return {"VolumeId": volume_id, "InstanceId": instance_id, "Device": device, "State": "attached"}

    def detach(self, region: str, volume_id: str) -> dict[str, Any]:
        volume = self._visible(region, volume_id, "DetachVolume")
        a = volume.attachment
        if a is None:
            raise _error(
                "IncorrectState", f"Volume '{volume_id}' is in the 'available' state.", "DetachVolume"
            )
        volume.attachment = None
        return {"VolumeId": volume_id, "InstanceId": a.instance_id, "Device": a.device, "State": "detached"}

    def live(self, region: str, snapshot_id: str | None = None) -> list[str]:
        """Every volume that exists, visible or not (what a leak check must count); only those created from
        `snapshot_id` when given."""
        return sorted(
            v.volume_id for v in self._current(region) if snapshot_id is None or v.snapshot_id == snapshot_id
        )
