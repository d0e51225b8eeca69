"""The vault's copies: accept announced snapshots, copy each once under the vault's key, lock, and owe the rest.

Service functions; clients, settings and `now` come in. The vault's ledger is the backup function's
`CopyLedger` on `VAULT_LEDGER_TABLE`: a claim per announced (shared) snapshot, taken with a conditional write
before `CopySnapshot`, so two deliveries of one announcement, or an announcement racing the reconciliation,
never copy a snapshot twice; and the owed queue, oldest first, holding each announced snapshot with the tags
its copy gets (AWS shows the vault none of the owner's tags, so they are kept from the announcement).

An announced snapshot is accepted only when its account is in `SOURCE_ACCOUNT_IDS` and the snapshot, as the
vault sees it, is owned by that account, shared with the vault and `completed`; otherwise it is rejected
(`VaultRejected`), and nothing is copied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smart_vault import aws
from smart_vault.backup.dr_copies import COPY_LIMIT_CODES
from smart_vault.backup.ledger import CopyLedger, OwedCopy
from smart_vault.backup.snapshots import describe_managed_snapshots
from smart_vault.config import VaultSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.snapshot_locks import lock_new_copy, policy_of
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import (
    COMPLETED,
    HOLD_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RETENTION_DAYS_TAG,
    SOURCE_ACCOUNT_TAG,
    VAULT_SOURCE_TAG,
)
from smart_vault.vault.events import Announcement, VaultCopyFinished

QUEUE_READ_MARGIN = 10
MAX_TAGS = 50  # EC2's limit per resource
# How long a just-shared snapshot may take to be visible to the vault account before its announcement is
# refused (EC2 is eventually consistent; a GUESS: AWS gives no figure, seconds are usual).
SHARE_VISIBLE_SECONDS = 20.0


@dataclass(frozen=True)
class VaultClients:
    ec2: Any
    ledger: CopyLedger
    # CopySnapshot's own client, one attempt (aws.SINGLE_ATTEMPT_CONFIG): it takes no ClientToken, so a retry
    # of a call whose answer was lost (a read timeout) would make a second, compliance-locked copy.
    copy_ec2: Any = None


@dataclass
class VaultOutcome:
    accepted: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    started: list[dict[str, str]] = field(default_factory=list)
    backlog: int = 0
    locks_repaired: list[str] = field(default_factory=list)
    deleted: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    recovery_point_age: float | None = None


def vault_copy_tags(
    tags: Mapping[str, str], account: str, snapshot_id: str, settings: VaultSettings
) -> dict[str, str]:
    """Pure: the vault copy's tags: `ManagedBy`, the vault's retention and the source, then the announced ones
    in their order while EC2's 50 tags a resource allow. The vault's own tags are never the ones dropped:
    without them the copy is invisible to the vault's counting, locking and pruning."""
    own = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        RETENTION_DAYS_TAG: str(settings.retention_days),
        SOURCE_ACCOUNT_TAG: account,
        VAULT_SOURCE_TAG: snapshot_id,
    }
    announced = [(k, v) for k, v in tags.items() if k != HOLD_TAG and k not in own]
    return {**dict(announced[: MAX_TAGS - len(own)]), **own}


def rejection(request: Announcement, settings: VaultSettings) -> str | None:
    """Pure: why an announcement is refused before any AWS call, or None."""
    if request.account not in settings.source_account_ids:
        return f"account {request.account} is not in SOURCE_ACCOUNT_IDS"
    if request.region != settings.region:
        return f"the snapshot is in {request.region or 'no region'}, the vault copies in {settings.region}"
    return None


def _shared_snapshot(ec2: Any, snapshot_id: str) -> Mapping[str, Any] | None:
    """The snapshot as the vault sees it (None when it cannot: not shared with it, or gone).

    The announcement follows the share by milliseconds, and EC2 is eventually consistent: a NotFound is
    asked again for up to SHARE_VISIBLE_SECONDS (1, 2, 4, 8 s) before the announcement is refused, as a
    refusal raises the VaultRejected alarm. Longer would let forged announcements hold the function."""
    try:
        items = aws.retry_not_found(
            lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id], RestorableByUserIds=["self"]),
            "DescribeSnapshots",
            total_seconds=SHARE_VISIBLE_SECONDS,
        )["Snapshots"]
    except AwsError as exc:
        if exc.code == "InvalidSnapshot.NotFound":
            return None
        raise
    return items[0] if items else None


def vault_copies_of(ec2: Any, region: str, snapshot_id: str) -> list[Snapshot]:
    """The vault's own copies of one shared snapshot (by `smart-vault:vault-source-snapshot`)."""
    return describe_managed_snapshots(
        ec2, region, [{"Name": f"tag:{VAULT_SOURCE_TAG}", "Values": [snapshot_id]}]
    )


def live_vault_copies(ec2: Any, region: str, snapshot_id: str) -> list[Snapshot]:
    """`vault_copies_of` but those in `error`: the copies that stand (pending or completed)."""
    return [c for c in vault_copies_of(ec2, region, snapshot_id) if c.state != "error"]


def snapshot_refusal(item: Mapping[str, Any] | None, account: str) -> str | None:
    """Pure: why the vault refuses the announced snapshot as it sees it (None: it is acceptable)."""
    if item is None:
        return "the snapshot is not shared with the vault account (or no longer exists)"
    if item.get("OwnerId") != account:
        return f"the snapshot is owned by {item.get('OwnerId')}, not by {account}"
    if item.get("State") != COMPLETED:
        return f"the snapshot is {item.get('State')}, not completed"
    return None


def accept(
    request: Announcement,
    settings: VaultSettings,
    clients: VaultClients,
    now: datetime,
    outcome: VaultOutcome,
) -> None:
    """Validate one announcement and owe its copy (unless the vault holds one already)."""
    item = None
    reason = rejection(request, settings)
    if reason is None:
        item = _shared_snapshot(clients.ec2, request.snapshot_id)
        reason = snapshot_refusal(item, request.account)
    if reason is not None or item is None:
        logger.warning("announcement rejected", extra={"snapshot_id": request.snapshot_id, "reason": reason})
        outcome.rejected.append({"snapshot_id": request.snapshot_id, "reason": reason or "not acceptable"})
        return
    if live_vault_copies(clients.ec2, settings.region, request.snapshot_id):
        logger.info("announced snapshot already copied", extra={"snapshot_id": request.snapshot_id})
        return
    tags = vault_copy_tags(request.tags, request.account, request.snapshot_id, settings)
    clients.ledger.owe(
        OwedCopy(request.snapshot_id, settings.region, item["StartTime"], tags), now.timestamp()
    )
    outcome.accepted.append(request.snapshot_id)


def count_pending(ec2: Any, region: str) -> int:
    items = aws.own_snapshots(ec2, [{"Name": "status", "Values": ["pending"]}])
    return sum(1 for i in items if aws.tags_to_dict(i.get("Tags")).get(VAULT_SOURCE_TAG))


def copy_once(ec2: Any, owed: OwedCopy, settings: VaultSettings, now: datetime, copy_ec2: Any = None) -> str:
    """One CopySnapshot of a shared snapshot into the vault (through `copy_ec2`, one attempt, when given),
    under the vault's key, tagged at creation, and locked at once (a refused lock is repaired by the
    reconciliation)."""
    with aws.aws_errors("CopySnapshot"):
        answer = (copy_ec2 or ec2).copy_snapshot(
            SourceRegion=owed.source_region,
            SourceSnapshotId=owed.snapshot_id,
            Description=f"smart-vault vault copy of {owed.snapshot_id}",
            Encrypted=True,
            KmsKeyId=settings.vault_kms_key_id,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(owed.tags)}],
        )
    copy_id = answer["SnapshotId"]
    lock_new_copy(ec2, copy_id, now, settings.retention_days, policy_of(settings))
    return copy_id


def _start_one(
    owed: OwedCopy,
    settings: VaultSettings,
    clients: VaultClients,
    now: datetime,
    owner: str,
    outcome: VaultOutcome,
    listed: bool,
) -> bool | None:
    """Start one owed copy; True started, False not (skip), None: no slot left (stop). `listed`: see
    `start_owed`."""
    ledger = clients.ledger
    if not ledger.claim(owed.snapshot_id, now.timestamp(), owner, queued=not listed):
        if vault_copies_of(clients.ec2, settings.region, owed.snapshot_id):
            ledger.paid(owed.sort_key)  # copied already: the entry is a leftover of a redelivery
        return False
    # CopySnapshot takes no ClientToken: an earlier attempt whose answer was lost (a read timeout) may have
    # made the copy. It is recorded, not made twice (a compliance-locked duplicate could not be removed).
    live = live_vault_copies(clients.ec2, settings.region, owed.snapshot_id)
    if live:
        ledger.copy_started(owed.snapshot_id, owed.start_time, live[0].snapshot_id)
        return False
    try:
        copy_id = copy_once(clients.ec2, owed, settings, now, clients.copy_ec2)
    except AwsError as exc:
        if exc.code in COPY_LIMIT_CODES or exc.is_throttling:
            ledger.release(owed.snapshot_id, owner)
            return None
        if _ambiguous(exc):
            # AWS may have made the copy: the claim stays, and the reconciliation, which lists the vault's
            # copies first, takes it over once stale (an hour: the copy, if any, is visible by then).
            outcome.failures.append({"resource": owed.snapshot_id, "error": f"vault copy: {exc.readable()}"})
            return False
        if exc.code == "InvalidSnapshot.NotFound":  # unshared or deleted since it was announced
            ledger.release(owed.snapshot_id, owner)
            ledger.paid(owed.sort_key)
            outcome.rejected.append({"snapshot_id": owed.snapshot_id, "reason": "no longer shared or gone"})
            return False
        ledger.failed(owed.snapshot_id)
        outcome.failures.append({"resource": owed.snapshot_id, "error": f"vault copy: {exc.readable()}"})
        return False
    ledger.owed_copy_started(owed, copy_id, settings.region, outcome.started)
    return True


def _ambiguous(exc: AwsError) -> bool:
    """A failure after which AWS may have made the copy anyway: no answer (a timeout, a dropped connection;
    botocore's own errors carry no HTTP status) or a server error. A 4xx answer is a refusal."""
    return exc.status is None or exc.status >= 500


def start_owed(
    settings: VaultSettings,
    clients: VaultClients,
    now: datetime,
    owner: str,
    outcome: VaultOutcome,
    listed: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Fill the free slots (at most MAX_CONCURRENT_COPIES vault copies pending) from the owed queue.

    `listed`: the caller (the reconciliation) has just listed the vault's copies and paid the entries already
    copied, so a stale claim on what is still owed belongs to an invocation that died between its claim and
    its CopySnapshot (a timeout in throttled retries, say): it is taken over, as the backup's reconciliation
    does. Without it a stale claim is left alone (its copy may be live), and that copy was never made.
    `should_stop` (the invocation's deadline) leaves the rest owed for the next event or reconciliation: a
    copy start may wait up to a minute for its lock, which must not run the function into its timeout."""
    try:
        slots = max(settings.max_concurrent_copies - count_pending(clients.ec2, settings.region), 0)
        queue = list(clients.ledger.owed(limit=slots + QUEUE_READ_MARGIN)) if slots else []
        for owed in queue:
            if slots <= 0 or (should_stop is not None and should_stop()):
                break
            started = _start_one(owed, settings, clients, now, owner, outcome, listed)
            if started is None:
                break
            slots -= int(started)
        outcome.backlog = clients.ledger.owed_count()
    except AwsError as exc:
        outcome.failures.append({"resource": "vault copies", "error": exc.readable()})


def copy_finished(
    event: VaultCopyFinished,
    settings: VaultSettings,
    clients: VaultClients,
    now: datetime,
    outcome: VaultOutcome,
) -> bool:
    """A vault copy finished (False when it is not one of the vault's copies: ignored). A failed one is owed
    again, with the tags it had."""
    found = [
        s
        for s in describe_managed_snapshots(
            clients.ec2, settings.region, [{"Name": "snapshot-id", "Values": [event.copy_snapshot_id]}]
        )
    ]
    copy = next((s for s in found if s.tags.get(VAULT_SOURCE_TAG)), None)
    if copy is None:
        return False
    if not event.succeeded:
        source = copy.tags[VAULT_SOURCE_TAG]
        outcome.failures.append(
            {
                "resource": source,
                "error": f"vault copy {copy.snapshot_id} failed: {event.cause or 'no cause given'}",
            }
        )
        clients.ledger.failed(source, [copy.snapshot_id])
        clients.ledger.owe(
            OwedCopy(source, settings.region, copy.start_time, dict(copy.tags)), now.timestamp()
        )
    return True


def owed_from_failures(copies: Sequence[Snapshot]) -> list[OwedCopy]:
    """Pure: vault copies in `error` with no live copy of the same source: owed again, with their tags."""
    alive = {c.tags.get(VAULT_SOURCE_TAG) for c in copies if c.state != "error"}
    owed = {}
    for copy in copies:
        source = copy.tags.get(VAULT_SOURCE_TAG)
        if source and copy.state == "error" and source not in alive:
            owed[source] = OwedCopy(source, copy.region, copy.start_time, dict(copy.tags))
    return list(owed.values())
