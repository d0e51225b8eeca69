"""EBS Snapshot Lock, as AWS documents it, for the emulator layer (moto lacks it) and the simulation.

One `LockTable` per account and region. What it models (EC2 API Reference: LockSnapshot, UnlockSnapshot,
DescribeLockedSnapshots, LockedSnapshotsInfo; EBS User Guide: "Lock an Amazon EBS snapshot"):
- `LockSnapshot`: `LockMode` `governance` or `compliance`; exactly one of `LockDuration` (1..36500 days) and
  `ExpirationDate`; `CoolOffPeriod` (1..72 hours) with `compliance` only. A `pending` snapshot can be locked;
  a `LockDuration` then starts when the snapshot completes (`LockDurationStartTime`), so until then the lock
  has no `LockExpiresOn` and holds.
- Lock states, derived from the clock: `compliance-cooloff` (compliance, within its cooling-off period),
  `governance`, `compliance`, `expired` (its `LockExpiresOn` has passed). Every state but `expired` forbids
  `DeleteSnapshot`.
- Changing a lock: in `governance` or `compliance-cooloff` anything may change (the lock is made anew);
  in `compliance` only a longer duration or a later expiration, in the same mode; an `expired` lock is
  replaced.
- `UnlockSnapshot`: only in `governance` or `compliance-cooloff`; the snapshot is then no longer listed.
- `DescribeLockedSnapshots`: `SnapshotIds`, filter `lock-state`, `MaxResults` 5..1000 and `NextToken`.
  Expired locks stay listed (state `expired`) until unlocked or the snapshot is deleted.

GUESSES (the documentation names no error code for these): `DeleteSnapshot` of a locked snapshot answers
`SnapshotLocked`; a change a compliance lock does not allow, `UnlockSnapshot` of a compliance lock or of an
unlocked snapshot, answer `IncorrectState`; bad parameters answer `InvalidParameterValue` or
`InvalidParameterCombination` (EC2's common codes); a page token this table did not issue answers
`InvalidNextToken`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

GOVERNANCE, COMPLIANCE = "governance", "compliance"
COOLOFF, EXPIRED = "compliance-cooloff", "expired"
DELETE_REFUSED = "SnapshotLocked"  # GUESS, see the module docstring
INCORRECT_STATE = "IncorrectState"
MAX_DURATION_DAYS = 36500
MAX_COOL_OFF_HOURS = 72


class LockError(Exception):
    """An EC2 error answer: each adapter turns it into its own client error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Lock:
    snapshot_id: str
    owner_id: str
    mode: str
    created_on: datetime
    cool_off_hours: int | None = None
    duration_days: int | None = None
    expiration: datetime | None = None  # ExpirationDate, when the lock was given one
    duration_start: datetime | None = None  # when the snapshot completed (a LockDuration starts then)

    @property
    def cool_off_expires(self) -> datetime | None:
        if self.mode != COMPLIANCE or not self.cool_off_hours:
            return None
        return self.created_on + timedelta(hours=self.cool_off_hours)

    @property
    def expires_on(self) -> datetime | None:
        if self.expiration is not None:
            return self.expiration
        if self.duration_start is not None and self.duration_days is not None:
            return self.duration_start + timedelta(days=self.duration_days)
        return None  # a duration lock on a pending snapshot: it holds until the duration has run

    def state(self, now: datetime) -> str:
        expires = self.expires_on
        if expires is not None and now >= expires:
            return EXPIRED
        cool_off = self.cool_off_expires
        if cool_off is not None and now < cool_off:
            return COOLOFF
        return self.mode

    def info(self, now: datetime) -> dict[str, Any]:
        """The API's LockedSnapshotsInfo (and LockSnapshot's answer), without the fields that have no value."""
        values = {
            "OwnerId": self.owner_id,
            "SnapshotId": self.snapshot_id,
            "LockState": self.state(now),
            "LockDuration": self.duration_days,
            "CoolOffPeriod": self.cool_off_hours,
            "CoolOffPeriodExpiresOn": self.cool_off_expires,
            "LockCreatedOn": self.created_on,
            "LockDurationStartTime": self.duration_start if self.expiration is None else None,
            "LockExpiresOn": self.expires_on,
        }
        return {k: v for k, v in values.items() if v is not None}


def _int(params: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise LockError("InvalidParameterValue", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise LockError("InvalidParameterValue", f"{name} must be between {low} and {high}")
    return value


def requested_lock(
    params: Mapping[str, Any], owner_id: str, completed_at: datetime | None, now: datetime
) -> Lock:
    """Pure: the lock a LockSnapshot request asks for (validated); `completed_at` None: snapshot pending."""
    mode = params.get("LockMode")
    if mode not in (GOVERNANCE, COMPLIANCE):
        raise LockError("InvalidParameterValue", "LockMode must be governance or compliance")
    duration = _int(params, "LockDuration", 1, MAX_DURATION_DAYS)
    cool_off = _int(params, "CoolOffPeriod", 1, MAX_COOL_OFF_HOURS)
    expiration = params.get("ExpirationDate")
    if (duration is None) == (expiration is None):
        raise LockError(
            "InvalidParameterCombination", "specify exactly one of LockDuration and ExpirationDate"
        )
    if cool_off is not None and mode != COMPLIANCE:
        raise LockError("InvalidParameterCombination", "CoolOffPeriod applies to compliance mode only")
    if expiration is not None and expiration <= now:
        raise LockError("InvalidParameterValue", "ExpirationDate must be in the future")
    return Lock(
        snapshot_id=str(params["SnapshotId"]),
        owner_id=owner_id,
        mode=mode,
        created_on=now,
        cool_off_hours=cool_off,
        duration_days=duration,
        expiration=expiration,
        duration_start=completed_at if duration is not None else None,
    )


def _extends(current: Lock, wanted: Lock) -> bool:
    """Whether `wanted` only lengthens a compliance lock past its cooling-off period."""
    if wanted.mode != COMPLIANCE:
        return False
    old, new = current.expires_on, wanted.expires_on
    if old is None or new is None:  # duration locks on a pending snapshot: compare the durations
        return (wanted.duration_days or 0) >= (current.duration_days or 0) and wanted.expiration is None
    return new >= old


@dataclass
class LockTable:
    """The locks of one account in one region."""

    locks: dict[str, Lock] = field(default_factory=dict)

    def lock(
        self, params: Mapping[str, Any], owner_id: str, completed_at: datetime | None, now: datetime
    ) -> dict:
        wanted = requested_lock(params, owner_id, completed_at, now)
        current = self.locks.get(wanted.snapshot_id)
        if current is not None and current.state(now) == COMPLIANCE:
            if not _extends(current, wanted):
                raise LockError(
                    INCORRECT_STATE,
                    f"snapshot {wanted.snapshot_id} is locked in compliance mode: its lock can only be extended",
                )
            # An extension keeps the lock's history (created, cooling-off); only its end moves.
            wanted = replace(wanted, created_on=current.created_on, cool_off_hours=current.cool_off_hours)
        self.locks[wanted.snapshot_id] = wanted
        return wanted.info(now)

    def unlock(self, snapshot_id: str, now: datetime) -> dict:
        current = self.locks.get(snapshot_id)
        if current is None:
            raise LockError(INCORRECT_STATE, f"snapshot {snapshot_id} is not locked")
        if current.state(now) == COMPLIANCE:
            raise LockError(INCORRECT_STATE, f"snapshot {snapshot_id} is locked in compliance mode")
        del self.locks[snapshot_id]
        return {"SnapshotId": snapshot_id}

    def completed(self, snapshot_id: str, at: datetime) -> None:
        """The snapshot completed: a duration lock's clock starts now."""
        current = self.locks.get(snapshot_id)
        if current is not None and current.expiration is None and current.duration_start is None:
            self.locks[snapshot_id] = replace(current, duration_start=at)

    def check_delete(self, snapshot_id: str, now: datetime) -> None:
        """Raise DeleteSnapshot's refusal when a lock that has not expired protects the snapshot."""
        current = self.locks.get(snapshot_id)
        if current is not None and current.state(now) != EXPIRED:
            raise LockError(DELETE_REFUSED, f"The snapshot {snapshot_id} is locked and cannot be deleted.")

    def deleted(self, snapshot_id: str) -> None:
        self.locks.pop(snapshot_id, None)

    def describe(
        self,
        now: datetime,
        snapshot_ids: Iterable[str] = (),
        filters: Iterable[Mapping[str, Any]] = (),
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """DescribeLockedSnapshots: the locks in snapshot-id order, a page at a time."""
        wanted = set(snapshot_ids)
        states: set[str] | None = None
        for f in filters:
            if f.get("Name") != "lock-state":
                raise LockError("InvalidParameterValue", f"The filter '{f.get('Name')}' is invalid")
            states = set(f.get("Values") or [])
        if max_results is not None and not 5 <= int(max_results) <= 1000:
            raise LockError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
        found = [
            lock.info(now)
            for sid, lock in sorted(self.locks.items())
            if (not wanted or sid in wanted) and (states is None or lock.state(now) in states)
        ]
        start = 0
        if next_token:
            if not next_token.isdigit() or int(next_token) > len(found):
                raise LockError("InvalidNextToken", "The token is not valid")
            start = int(next_token)
        size = int(max_results) if max_results else 1000
        answer: dict[str, Any] = {"Snapshots": found[start : start + size]}
        if start + size < len(found):
            answer["NextToken"] = str(start + size)
        return answer
