"""EBS Snapshot Lock on moto, which lacks it: `LockSnapshot`, `UnlockSnapshot`, `DescribeLockedSnapshots`, and
`DeleteSnapshot`'s refusal of a locked snapshot, behaving as `snapshot_lock` models AWS (its docstring says
where it guesses). The locks of each account and region live beside moto's EC2 backend of that region.

moto completes a snapshot at once, so a `LockDuration` always starts at the lock. `apply()` is idempotent;
`moto_fidelity.apply()` calls it. Only the emulator uses this module: it is never packaged into the Lambda zip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smart_vault.local.snapshot_lock import LockError, LockTable

_APPLIED = "_smart_vault_snapshot_lock"


def locks_of(backend: Any) -> LockTable:
    """The lock table of one moto EC2 backend (one account, one region)."""
    table = backend.__dict__.get("_smart_vault_locks")
    if table is None:
        table = backend.__dict__["_smart_vault_locks"] = LockTable()
    return table


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def apply() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.responses import EC2Response

    if getattr(EC2Response, _APPLIED, False):
        return
    _ORIGINAL["delete_snapshot"] = EBSBackend.delete_snapshot

    # Patching moto's classes is the point here: the checker cannot follow new or replaced methods.
    EC2Response.lock_snapshot = _lock_snapshot  # type: ignore[attr-defined]
    EC2Response.unlock_snapshot = _unlock_snapshot  # type: ignore[attr-defined]
    EC2Response.describe_locked_snapshots = _describe_locked_snapshots  # type: ignore[attr-defined]
    EBSBackend.delete_snapshot = _delete_snapshot_unless_locked  # type: ignore[method-assign]
    setattr(EC2Response, _APPLIED, True)


# moto's own methods, kept when `apply` replaces them.
_ORIGINAL: dict[str, Any] = {}


def _answer(call: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError

    try:
        return ActionResult(call())
    except LockError as exc:
        raise EC2ClientError(exc.code, exc.message) from None


def _lock_snapshot(self: Any) -> Any:
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    self.ec2_backend.get_snapshot(snapshot_id)  # InvalidSnapshot.NotFound, as EC2
    params = {
        "SnapshotId": snapshot_id,
        "LockMode": self._get_param("LockMode"),
        "LockDuration": self._get_param("LockDuration"),
        "CoolOffPeriod": self._get_param("CoolOffPeriod"),
        "ExpirationDate": _timestamp(self._get_param("ExpirationDate")),
    }
    now = _now()
    owner = self.ec2_backend.account_id
    return _answer(lambda: locks_of(self.ec2_backend).lock(params, owner, now, now))


def _unlock_snapshot(self: Any) -> Any:
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    self.ec2_backend.get_snapshot(snapshot_id)
    return _answer(lambda: locks_of(self.ec2_backend).unlock(snapshot_id, _now()))


def _describe_locked_snapshots(self: Any) -> Any:
    filters = [{"Name": k, "Values": v} for k, v in self._filters_from_querystring().items()]
    return _answer(
        lambda: locks_of(self.ec2_backend).describe(
            _now(),
            self._get_param("SnapshotIds", []) or [],
            filters,
            self._get_int_param("MaxResults"),
            self._get_param("NextToken"),
        )
    )


def _delete_snapshot_unless_locked(self: Any, snapshot_id: str) -> Any:
    from moto.ec2.exceptions import EC2ClientError

    table = locks_of(self)
    if snapshot_id in self.snapshots:
        try:
            table.check_delete(snapshot_id, _now())
        except LockError as exc:
            raise EC2ClientError(exc.code, exc.message) from None
    deleted = _ORIGINAL["delete_snapshot"](self, snapshot_id)
    table.deleted(snapshot_id)
    return deleted
