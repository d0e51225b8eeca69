"""The vault's reconciliation (`{"reconcile": true}`, every 30 minutes): re-owe failed copies, drop queue
entries already copied, start owed copies into free slots, repair locks, prune, and measure the RPO.

Pruning takes only the vault's own copies (managed, owned by the vault account, carrying
`smart-vault:vault-source-snapshot`) by the rules of backup step 4 (`backup.retention.plan_pruning`: retention,
holds, the newest snapshots of each volume, the newest complete recovery point, unexpired locks); a vault
copy needs no further copy, so it is judged as a DR copy whose primary is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from smart_vault.backup.prune import delete_snapshots
from smart_vault.backup.retention import RetentionPolicy, plan_pruning
from smart_vault.backup.snapshots import describe_managed_snapshots
from smart_vault.config import VaultSettings
from smart_vault.errors import AwsError
from smart_vault.recovery_sets import newest_complete_points
from smart_vault.snapshot_locks import holding_locks, list_locks, policy_of, repair_locks
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import VAULT_SOURCE_TAG
from smart_vault.vault.copies import (
    VaultClients,
    VaultOutcome,
    owed_from_failures,
    start_owed,
)


def own_copies(snapshots: Sequence[Snapshot], account_id: str | None) -> list[Snapshot]:
    """Pure: the vault's own copies among the managed snapshots of its region."""
    return [
        s
        for s in snapshots
        if s.managed
        and s.tags.get(VAULT_SOURCE_TAG)
        and (not account_id or not s.owner_id or s.owner_id == account_id)
    ]


def recovery_point_age(copies: Sequence[Snapshot], now: datetime) -> float | None:
    """Pure: the largest age, over the instances the vault holds, of their newest complete recovery point."""
    newest = newest_complete_points(copies)
    if not newest:
        return None
    return max(max((now - p.created_at).total_seconds(), 0.0) for p in newest.values())


def reconcile(
    settings: VaultSettings,
    clients: VaultClients,
    now: datetime,
    owner: str,
    account_id: str | None,
    should_stop: Callable[[], bool] | None = None,
) -> VaultOutcome:
    """Owed copies, locks and pruning of the vault's own copies. `should_stop` (the invocation's deadline)
    leaves the rest of the lock repairs and deletions to the next reconciliation, so that a long backlog of
    expired copies (or LOCK_MODE turned on over a vault full of copies) ends in a report and a recovery-point
    figure, not in a timeout."""
    outcome = VaultOutcome()
    try:
        copies = own_copies(describe_managed_snapshots(clients.ec2, settings.region), account_id)
        for owed in owed_from_failures(copies):
            outcome.failures.append({"resource": owed.snapshot_id, "error": "a vault copy ended in error"})
            clients.ledger.failed(owed.snapshot_id)
            clients.ledger.owe(owed, now.timestamp())
        copied = {c.tags[VAULT_SOURCE_TAG] for c in copies if c.state != "error"}
        for entry in list(clients.ledger.owed()):
            if entry.snapshot_id in copied:
                clients.ledger.paid(entry.sort_key)
    except AwsError as exc:
        outcome.failures.append({"resource": "vault reconciliation", "error": exc.readable()})
        return outcome
    start_owed(settings, clients, now, owner, outcome, listed=True, should_stop=should_stop)
    try:
        items = list_locks(clients.ec2)
        locked = set(holding_locks(items, now))
        done, failures = repair_locks(
            clients.ec2, copies, items, policy_of(settings), settings.retention_days, now, should_stop
        )
        locked.update(done)
        outcome.locks_repaired, outcome.failures = done, outcome.failures + failures
        policy = RetentionPolicy(
            settings.retention_days, settings.min_snapshots_kept, is_primary=False, account_id=account_id
        )
        decisions = plan_pruning(copies, policy, now, locked=locked)
        pruned = delete_snapshots({settings.region: clients.ec2}, decisions, should_stop=should_stop)
        outcome.deleted, outcome.failures = pruned.deleted, outcome.failures + pruned.failures
    except AwsError as exc:
        outcome.failures.append({"resource": "vault locks and pruning", "error": exc.readable()})
    gone = {d["snapshot_id"] for d in outcome.deleted}
    outcome.recovery_point_age = recovery_point_age([c for c in copies if c.snapshot_id not in gone], now)
    return outcome
