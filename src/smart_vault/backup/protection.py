"""(v3) What every full run and reconciliation does for the copies after starting owed ones: repair Snapshot
Locks (DR copies, and primaries with `LOCK_PRIMARY`) and hand completed DR copies to the vault account.

One `DescribeLockedSnapshots` listing per region serves both the repair and pruning (a snapshot under a lock
that has not expired is never a pruning candidate). A copy-completion event shares and announces its own
copy only (`share_finished_copy`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smart_vault import aws
from smart_vault.backup.vault_share import share_and_announce
from smart_vault.config import BackupSettings
from smart_vault.snapshot_locks import holding_locks, list_locks, policy_of, repair_locks
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import COMPLETED


@dataclass
class Protection:
    """Per region, the ids under a lock that forbids deletion now (for pruning), and what was done."""

    locked: dict[str, set[str]] = field(default_factory=dict)
    locks_repaired: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def lock_candidates(snapshots: Sequence[Snapshot], primaries: bool) -> list[Snapshot]:
    """Pure: the managed snapshots of one region that should carry a lock: DR copies (they carry
    `smart-vault:source-snapshot`) or, with `primaries`, the primary snapshots."""
    return [s for s in snapshots if s.managed and (not primaries) == bool(s.source_snapshot)]


def _region_locks(
    ec2: Any,
    snapshots: Sequence[Snapshot],
    settings: BackupSettings,
    now: datetime,
    outcome: Protection,
    *,
    primaries: bool,
    repair: bool,
    should_stop: Callable[[], bool] | None,
) -> None:
    """The locks of one region (the primaries' or the DR copies'), repaired where `repair` says."""
    region, default_days = (
        (settings.region, settings.retention_days)
        if primaries
        else (settings.dr_region, settings.dr_retention_days)
    )
    items = list_locks(ec2)
    locked = set(holding_locks(items, now))
    if repair:
        done, failures = repair_locks(
            ec2,
            lock_candidates(snapshots, primaries),
            items,
            policy_of(settings),
            default_days,
            now,
            should_stop,
        )
        locked.update(done)
        outcome.locks_repaired += done
        outcome.failures += failures
    outcome.locked[region] = locked


def protect_copies(
    clients: Any,
    settings: BackupSettings,
    primaries: Sequence[Snapshot],
    dr_snapshots: Sequence[Snapshot],
    now: datetime,
    *,
    dry_run: bool,
    full_run: bool,
    should_stop: Callable[[], bool] | None = None,
) -> Protection:
    """Lock listings (and repairs) of both regions, then sharing with the vault; AwsError of a listing goes
    to the caller (pruning cannot run without it). `should_stop` (the invocation's deadline) ends the repairs
    and the sharing early; the lock listings, which pruning needs, are always read."""
    outcome = Protection()
    act = not dry_run
    if not full_run and not policy_of(settings).enabled:
        # A reconciliation prunes nothing: without locking there is nothing to list or repair.
        if act and settings.vault_account_id:
            _share(clients, settings, dr_snapshots, now, outcome, reannounce=False, should_stop=should_stop)
        return outcome
    regions = [(clients.dr_ec2, dr_snapshots, False, act)]
    if full_run or settings.lock_primary:
        regions.append((clients.ec2, primaries, True, act and settings.lock_primary))
    for ec2, snapshots, are_primaries, repair in regions:
        _region_locks(
            ec2,
            snapshots,
            settings,
            now,
            outcome,
            primaries=are_primaries,
            repair=repair,
            should_stop=should_stop,
        )
    if act and settings.vault_account_id:
        _share(clients, settings, dr_snapshots, now, outcome, reannounce=full_run, should_stop=should_stop)
    return outcome


def _share(
    clients: Any,
    settings: BackupSettings,
    dr_snapshots: Sequence[Snapshot],
    now: datetime,
    outcome: Protection,
    *,
    reannounce: bool,
    should_stop: Callable[[], bool] | None,
) -> None:
    shared = share_and_announce(
        clients.dr_ec2,
        events_client(clients, settings),
        settings,
        dr_snapshots,
        now,
        reannounce=reannounce,
        should_stop=should_stop,
    )
    outcome.shared, outcome.announced = shared.shared, shared.announced
    outcome.failures += shared.failures


def events_client(clients: Any, settings: BackupSettings) -> Any:
    """The EventBridge client of the DR region (where the vault's bus is): the one in `clients` if given."""
    return getattr(clients, "events", None) or aws.client("events", settings.dr_region)


def share_finished_copy(
    clients: Any, settings: BackupSettings, copy: Snapshot, now: datetime
) -> list[dict[str, str]]:
    """A copy-completion event: share and announce that copy (when completed and a vault is configured)."""
    if not settings.vault_account_id or settings.dry_run or copy.state != COMPLETED:
        return []
    outcome = share_and_announce(
        clients.dr_ec2,
        events_client(clients, settings),
        settings,
        [copy],
        now,
        reannounce=False,
        shared_ids=set(),
    )
    return outcome.failures
