"""(v2) A copy in the DR region finished (its EventBridge event): a completed copy marks its primary copied
once and goes to the vault account; a failed one is counted (`copy_failures`) and its primary owed again;
either way the slot it held is free, so owed copies start (`owed_copies`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from smart_vault.backup import copy_failures
from smart_vault.backup.copied_once import mark_copied
from smart_vault.backup.dr_copies import owed_copy
from smart_vault.backup.events import CopyCompleted
from smart_vault.backup.invocation import Clients, RunResult
from smart_vault.backup.owed_copies import reconcile_owed_copies, start_queued_copies
from smart_vault.backup.protection import share_finished_copy
from smart_vault.backup.report import build_report
from smart_vault.backup.snapshots import describe_snapshots_by_id
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import trace
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import COMPLETED, PENDING


@trace
def copy_finished(
    event: CopyCompleted, settings: BackupSettings, clients: Clients, now: datetime
) -> RunResult | None:
    """(v2) A copy in the DR region finished. None when the snapshot is not a managed copy (ignored).

    A failed copy is owed again (its claim is marked failed, it goes back in the owed queue) and reported;
    either way the slot it held is free, so owed copies start. With a ledger they come from its owed queue
    (`start_queued_copies`: one Query and one short describe, whatever the fleet); without one, from
    describing both regions (`reconcile_owed_copies`).
    """
    try:
        found = describe_snapshots_by_id(clients.dr_ec2, settings.dr_region, [event.copy_snapshot_id])
    except AwsError as exc:
        failure = {"resource": event.copy_snapshot_id, "error": exc.readable()}
        return RunResult(report=build_report(event.run_id, settings.dry_run, failures=[failure]))
    copy = next((s for s in found if s.managed and s.source_snapshot), None)
    if copy is None:
        return None
    if event.succeeded and copy.state == PENDING:
        # EBS sends `copySnapshot` when the copy action completes, with result `succeeded` or `failed` (EBS
        # User Guide, "Amazon EventBridge for Amazon EBS"), and DescribeSnapshots is eventually consistent
        # (EC2 API Reference, "Eventual consistency"): a `pending` read right after the event is stale. The event
        # is trusted, so the primary is marked copied and the copy handed to the vault now. Only `pending` is
        # read past: a copy that describes as `error` is not taken for completed on the event's word.
        copy = replace(copy, state=COMPLETED)
    try:
        failures = _copy_outcome(copy, event.succeeded, event.cause, settings, clients, now)
    except AwsError as exc:
        failures = [{"resource": "copy ledger", "error": exc.readable()}]
    if event.succeeded:  # (v3) the completed copy goes to the vault account at once
        failures += share_finished_copy(clients, settings, copy, now)
    if clients.ledger is None or settings.dry_run:
        return reconcile_owed_copies(event.run_id, settings, clients, now, failures)
    return start_queued_copies(event.run_id, settings, clients, now, failures)


def _copy_outcome(
    copy: Snapshot, succeeded: bool, cause: str, settings: BackupSettings, clients: Clients, now: datetime
) -> list[dict[str, str]]:
    """(v3) Record what a copy-completion event says: a completed copy marks its primary copied once
    (`copied_once`); a failure is counted once (`copy_failures`: the reconciliation may have counted it
    already) and named in the report, and the primary is owed again unless its copies are backed off."""
    if succeeded:
        if copy.state == COMPLETED and not settings.dry_run:
            mark_copied(clients.ec2, [copy.source_snapshot])
        return []
    failure = {
        "resource": copy.source_snapshot,
        "error": f"DR copy {copy.snapshot_id} failed: {cause or 'no cause given'}",
    }
    if clients.ledger is None:
        return [failure]
    ledger = clients.ledger
    record = copy_failures.record_failure(
        ledger.dynamodb, ledger.table, copy.source_snapshot, copy.snapshot_id, now.timestamp()
    )
    # Queued again only by the sight that counted the failure: a late or duplicate event of an older copy
    # (its failure counted already) must not queue the primary while a newer copy runs, or the queue would
    # start another try as soon as that one fails, past the back-off (found by the seeded simulation).
    _owe_again(
        copy, settings, clients, now, record is not None and copy_failures.may_retry(record, now.timestamp())
    )
    return [failure] if record is not None else []


def _owe_again(
    copy: Snapshot, settings: BackupSettings, clients: Clients, now: datetime, retry: bool
) -> None:
    """A copy failed: reopen its claim (only if it is still that copy's), and queue the primary again when
    the DR region shows the copy in `error` and its copies are not backed off. When it does not (yet), the
    queue is left alone: a copy event never starts a second copy on the event's word only; the
    reconciliation re-derives it from EC2."""
    if clients.ledger is None:
        return
    clients.ledger.failed(copy.source_snapshot, [copy.snapshot_id])
    if copy.state != "error" or not retry:
        return
    for primary in describe_snapshots_by_id(clients.ec2, settings.region, [copy.source_snapshot]):
        if primary.managed and primary.state == COMPLETED and not primary.dr_copied:
            clients.ledger.owe(owed_copy(primary, settings), now.timestamp())
