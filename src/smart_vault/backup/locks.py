"""(v3) Which snapshots an EBS Snapshot Lock protects now: never pruning candidates (kept, not failed).

One `DescribeLockedSnapshots` listing per region per run (every page, up to 1000 a page), not one call per
snapshot. The lock states that forbid deletion are `governance`, `compliance-cooloff` and `compliance`; a lock
in state `expired` (or whose `LockExpiresOn` has passed) no longer protects its snapshot, and pruning takes it
by the usual rules. A snapshot in the Recycle Bin is not listed by `DescribeSnapshots` at all: it is not the
vault's to manage.

The call supports no resource-level permissions (IAM: `ec2:DescribeLockedSnapshots` on `*`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smart_vault.snapshot_locks import LOCKING_STATES, list_locks

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def unexpired_locks(items: Iterable[Mapping[str, Any]], now: datetime) -> set[str]:
    """Pure: ids of the listed snapshots whose lock forbids deletion at `now`."""
    locked = set()
    for item in items:
        expires = item.get("LockExpiresOn")
        if item.get("LockState") in LOCKING_STATES and (expires is None or expires > now):
            locked.add(item["SnapshotId"])
    return locked


def locked_snapshot_ids(ec2: EC2Client, now: datetime) -> set[str]:
    """Ids of this account's snapshots in the client's region under a lock that has not expired."""
    return unexpired_locks(list_locks(ec2), now)
