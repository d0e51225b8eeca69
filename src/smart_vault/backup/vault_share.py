"""(v3) Hand each completed DR copy to the vault account: share it, then announce it on the vault's bus.

Sharing is `ModifySnapshotAttribute` (`createVolumePermission` add, the vault account only). The
announcement is one EventBridge event on `VAULT_EVENT_BUS_ARN` (source `smart-vault`, detail-type
`Smart Vault Snapshot Shared`, detail `{"snapshot_id", "region", "account", "tags"}`): AWS shows a shared
snapshot's tags to its owner only, so the metadata the vault copy needs (every `smart-vault:*` tag and `Name`)
travels with the announcement. Announcements are at least once: every full run announces again each shared
copy younger than 48 h, and the vault copies each snapshot once.

Which copies are shared already comes from one listing (`DescribeSnapshots` with `OwnerIds=self`,
`RestorableByUserIds=<vault>`), never one `DescribeSnapshotAttribute` per snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smart_vault import aws
from smart_vault.backup.snapshots import MANAGED_FILTER
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import COMPLETED, TAG_PREFIX

SOURCE = "smart-vault"
DETAIL_TYPE = "Smart Vault Snapshot Shared"
REANNOUNCE_WITHIN = timedelta(hours=48)
PUT_EVENTS_MAX_ENTRIES = 10  # PutEvents takes at most 10 entries a call


@dataclass
class ShareOutcome:
    shared: list[str] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def announced_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Pure: the tags an announcement carries: every `smart-vault:*` tag and `Name`."""
    return {k: v for k, v in tags.items() if k.startswith(TAG_PREFIX) or k == "Name"}


def announcement(snapshot: Snapshot, account_id: str, bus_arn: str) -> dict[str, Any]:
    """Pure: the PutEvents entry announcing one shared copy."""
    detail = {
        "snapshot_id": snapshot.snapshot_id,
        "region": snapshot.region,
        "account": account_id,
        "tags": announced_tags(snapshot.tags),
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, sort_keys=True),
        "EventBusName": bus_arn,
        "Resources": [f"arn:aws:ec2:{snapshot.region}::snapshot/{snapshot.snapshot_id}"],
    }


def completed_copies(dr_snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Pure: the managed DR copies that are completed (what the vault may copy), oldest first."""
    done = [s for s in dr_snapshots if s.managed and s.source_snapshot and s.state == COMPLETED]
    return sorted(done, key=lambda s: (s.start_time, s.snapshot_id))


def plan_sharing(
    copies: Sequence[Snapshot], shared_ids: set[str], now: datetime, reannounce: bool
) -> tuple[list[Snapshot], list[Snapshot]]:
    """Pure: (copies to share and announce, shared copies to announce again: younger than 48 h)."""
    to_share = [c for c in copies if c.snapshot_id not in shared_ids]
    again = [
        c
        for c in copies
        if reannounce and c.snapshot_id in shared_ids and now - c.start_time < REANNOUNCE_WITHIN
    ]
    return to_share, again


def shared_copy_ids(dr_ec2: Any, vault_account_id: str) -> set[str]:
    """Ids of this account's managed snapshots in the client's region the vault account may restore."""
    items = aws.own_snapshots(dr_ec2, [MANAGED_FILTER], RestorableByUserIds=[vault_account_id])
    return {item["SnapshotId"] for item in items}


def share(dr_ec2: Any, snapshot_id: str, vault_account_id: str) -> None:
    with aws.aws_errors("ModifySnapshotAttribute"):
        dr_ec2.modify_snapshot_attribute(
            SnapshotId=snapshot_id,
            Attribute="createVolumePermission",
            OperationType="add",
            UserIds=[vault_account_id],
        )


def announce(
    events: Any, entries: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[dict[str, str]]]:
    """PutEvents in batches of 10; returns (snapshot ids announced, failures)."""
    done, failures = [], []
    for batch in aws.chunks(list(entries), PUT_EVENTS_MAX_ENTRIES):
        try:
            with aws.aws_errors("PutEvents"):
                answer = events.put_events(Entries=[entry for _, entry in batch])
        except AwsError as exc:
            failures += [{"resource": sid, "error": f"announcement: {exc.readable()}"} for sid, _ in batch]
            continue
        for (sid, _), result in zip(batch, answer.get("Entries", []), strict=False):
            if result.get("ErrorCode"):
                error = f"announcement: {result['ErrorCode']}: {result.get('ErrorMessage', '')}"
                failures.append({"resource": sid, "error": error})
            else:
                done.append(sid)
    return done, failures


def share_and_announce(
    dr_ec2: Any,
    events: Any,
    settings: Any,
    dr_snapshots: Iterable[Snapshot],
    now: datetime,
    *,
    reannounce: bool,
    shared_ids: set[str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ShareOutcome:
    """Share every completed DR copy not yet shared with the vault account and announce it; with
    `reannounce` (full runs), announce again the shared copies younger than 48 h. `shared_ids`: what is
    shared already, when the caller knows (a copy-completion event: nothing), else one listing.

    When `should_stop` (the invocation's deadline) says time is short, no further copy is shared: the next full
    run or reconciliation lists what is shared (`shared_copy_ids`) and shares the rest. What was shared here is
    still announced (one PutEvents per 10): a shared copy is announced again only by full runs."""
    outcome = ShareOutcome()
    vault = settings.vault_account_id
    if not vault:
        return outcome
    copies = completed_copies(dr_snapshots)
    if not copies:
        return outcome
    try:
        shared = shared_copy_ids(dr_ec2, vault) if shared_ids is None else shared_ids
    except AwsError as exc:
        outcome.failures.append({"resource": "vault sharing", "error": exc.readable()})
        return outcome
    to_share, again = plan_sharing(copies, shared, now, reannounce)
    entries = []
    for index, copy in enumerate(to_share):
        if should_stop is not None and should_stop():
            logger.info("vault sharing stops for the deadline", extra={"left": len(to_share) - index})
            break
        try:
            share(dr_ec2, copy.snapshot_id, vault)
        except AwsError as exc:
            if exc.code != "InvalidSnapshot.NotFound":
                outcome.failures.append({"resource": copy.snapshot_id, "error": f"share: {exc.readable()}"})
            continue
        outcome.shared.append(copy.snapshot_id)
        entries.append((copy.snapshot_id, announcement(copy, copy.owner_id, settings.vault_event_bus_arn)))
    entries += [(c.snapshot_id, announcement(c, c.owner_id, settings.vault_event_bus_arn)) for c in again]
    outcome.announced, failures = announce(events, entries)
    outcome.failures += failures
    if outcome.shared or outcome.announced:
        logger.info(
            "DR copies handed to the vault account",
            extra={"shared": len(outcome.shared), "announced": len(outcome.announced), "vault": vault},
        )
    return outcome
