"""(v3) EBS Snapshot Lock on the simulated EC2 client: LockSnapshot, UnlockSnapshot, DescribeLockedSnapshots.

The rules are `local.snapshot_lock`'s (as AWS documents them, with its GUESSES); each call is one throttled,
retried request like any other (`SimEC2.send`). A duration lock on a pending snapshot starts when the world
completes the snapshot (`SimWorld._snapshot_done`). DeleteSnapshot's refusal is in `SimEC2._delete_snapshot`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.local.snapshot_lock import LockError, LockTable


def _lock_call(ec2: Any, action: str, call: Callable[[LockTable], Any]) -> Any:
    def run() -> Any:
        try:
            return call(ec2.world.locks[ec2.region])
        except LockError as exc:
            raise ClientError({"Error": {"Code": exc.code, "Message": exc.message}}, action) from None

    return ec2.send(action, run)


def _completed_at(ec2: Any, snapshot_id: str) -> datetime | None:
    item = ec2.world.snapshots[ec2.region].get(snapshot_id)
    if item is None or item["_visible_at"] > ec2.world.monotonic():
        message = f"The snapshot '{snapshot_id}' does not exist."
        raise ClientError({"Error": {"Code": "InvalidSnapshot.NotFound", "Message": message}}, "LockSnapshot")
    return ec2.world.now() if item["State"] == "completed" else None


class SnapshotLockCalls:
    """(v3) EBS Snapshot Lock on a simulated EC2 client (`local.snapshot_lock` holds the rules)."""

    def lock_snapshot(self: Any, SnapshotId: str, LockMode: str, **params: Any) -> dict[str, Any]:
        self._count("lock_snapshot")
        request = {"SnapshotId": SnapshotId, "LockMode": LockMode, **params}
        now = self.world.now()
        return _lock_call(
            self,
            "LockSnapshot",
            lambda t: t.lock(request, self.account, _completed_at(self, SnapshotId), now),
        )

    def unlock_snapshot(self: Any, SnapshotId: str, **_: Any) -> dict[str, Any]:
        self._count("unlock_snapshot")
        return _lock_call(self, "UnlockSnapshot", lambda t: t.unlock(SnapshotId, self.world.now()))

    def describe_locked_snapshots(
        self: Any, SnapshotIds=(), Filters=(), MaxResults=None, NextToken=None, **_: Any
    ) -> dict[str, Any]:
        self._count("describe_locked_snapshots")
        return _lock_call(
            self,
            "DescribeLockedSnapshots",
            lambda t: t.describe(self.world.now(), SnapshotIds, Filters, MaxResults, NextToken),
        )
