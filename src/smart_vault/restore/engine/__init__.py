"""The one restore engine: both forms of a restore are plans run by one kind of attempt.

- `VolumePlan` / `VolumeRestore` (volume_form): a snapshot back as a volume, optionally attached to a new
  instance; `InstancePlan` / `InstanceRestore` (instance_form): a recovery point back as a whole instance.
  Both are `RestoreAttempt`s (base): steps recorded through a `Recorder`, the same create calls, the same
  rollback (teardown).
- One poller and one deadline (polling): every wait is `poll` within a `Deadline`, on `aws.clock()`.
- One vocabulary of states (`smart_vault.tags`), one way to find what a restore created (lookups), and the
  recovery point a restore rebuilds (point).

The worker (`restore.worker`) and the drill (`drill.one`) use this package only through the names below.
"""

from smart_vault.restore.engine.base import Recorder, RestoreAttempt
from smart_vault.restore.engine.instance_form import InstancePlan, InstanceRestore, register_image_params
from smart_vault.restore.engine.lookups import client_token, find_image, find_leftovers, restore_tags
from smart_vault.restore.engine.point import (
    RecoveryPoint,
    SetVolume,
    load_recovery_point,
    recovery_point_from_snapshots,
)
from smart_vault.restore.engine.polling import Deadline, poll
from smart_vault.restore.engine.teardown import TeardownOutcome, remove_restore, tear_down_outcome
from smart_vault.restore.engine.volume_form import VolumePlan, VolumeRestore, volume_size_and_iops

__all__ = [
    "Deadline",
    "InstancePlan",
    "InstanceRestore",
    "Recorder",
    "RecoveryPoint",
    "RestoreAttempt",
    "SetVolume",
    "TeardownOutcome",
    "VolumePlan",
    "VolumeRestore",
    "client_token",
    "find_image",
    "find_leftovers",
    "load_recovery_point",
    "poll",
    "recovery_point_from_snapshots",
    "register_image_params",
    "remove_restore",
    "restore_tags",
    "tear_down_outcome",
    "volume_size_and_iops",
]
