"""DR copies: which completed primaries are owed a copy, the copies pending in the DR region, and starting
them from a client of the DR region with `SourceRegion`, encrypted with the DR key, tagged at creation, never
more than the allowed number `pending` at once, each claimed in the copy ledger first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smart_vault import aws
from smart_vault.backup import copy_failures
from smart_vault.backup.ledger import CopyLedger, OwedCopy
from smart_vault.backup.snapshots import (
    FILTER_VALUES_MAX,
    describe_managed_snapshots,
)
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.recovery_sets import duplicate_ids
from smart_vault.snapshot_locks import lock_new_copy, policy_of, retention_of
from smart_vault.snapshot_model import Snapshot, snapshot_from_api
from smart_vault.tags import (
    COMPLETED,
    DR_COPIED_TAG,
    HOLD_TAG,
    MANAGED_BY_KEY,
    PENDING,
    RETENTION_DAYS_TAG,
    RETENTION_OVERRIDE_TAG,
    SOURCE_REGION_TAG,
    SOURCE_SNAPSHOT_TAG,
    TAG_PREFIX,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


# (v3) Measures a primary before its copy starts: (snapshot id, start time, copy tags) -> copy tags.
Measure = Callable[[str, datetime, dict[str, str]], dict[str, str]]


# Set on snapshots whose retention came from the instance's Backup-Retention-Days tag: the override then
# applies to the DR copy too, instead of DR_RETENTION_DAYS.
COPY_LIMIT_CODES = frozenset({"ResourceLimitExceeded", "SnapshotCopyLimitExceeded"})


def copy_tags(primary: Snapshot, settings: BackupSettings) -> dict[str, str]:
    """The DR copy's tags: the primary's vault tags, the DR retention, and where it came from."""
    tags = {
        k: v for k, v in primary.tags.items() if k.startswith(TAG_PREFIX) or k in (MANAGED_BY_KEY, "Name")
    }
    tags.pop(HOLD_TAG, None)  # a hold is set per snapshot by a person, not inherited
    tags.pop(DR_COPIED_TAG, None)  # says something of the primary only
    if primary.tags.get(RETENTION_OVERRIDE_TAG) != "true":
        tags[RETENTION_DAYS_TAG] = str(settings.dr_retention_days)
    tags[SOURCE_SNAPSHOT_TAG] = primary.snapshot_id
    tags[SOURCE_REGION_TAG] = primary.region
    return tags


@dataclass
class CopyOutcome:
    started: list[dict[str, str]] = field(default_factory=list)
    deferred: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    # (v2) The primaries still owed a copy afterwards (not started here), oldest first: the owed queue.
    owed: list[Snapshot] = field(default_factory=list)


def snapshots_needing_copy(primaries: Iterable[Snapshot], dr_snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Completed managed primaries with no pending or completed managed copy in the DR region, oldest first.

    A copy in state `error` does not count: the primary gets a new one. (v3) A primary marked
    `smart-vault:dr-copied` is owed nothing, whatever happened to its copy since, and a duplicate (a second
    snapshot of one device in one set, `recovery_sets`) is never copied.
    """
    primaries = list(primaries)
    covered = {
        s.source_snapshot for s in dr_snapshots if s.managed and s.source_snapshot and s.state != "error"
    }
    duplicates = duplicate_ids(primaries)
    todo = [
        p
        for p in primaries
        if p.managed
        and p.state == COMPLETED
        and not p.dr_copied
        and p.snapshot_id not in covered
        and p.snapshot_id not in duplicates
    ]
    return sorted(todo, key=lambda s: (s.start_time, s.snapshot_id))


def failed_copies(dr_snapshots: Iterable[Snapshot]) -> dict[str, set[str]]:
    """Primaries whose managed DR copies all ended in `error` (none pending or completed), with those copies."""
    snaps = [s for s in dr_snapshots if s.managed and s.source_snapshot]
    alive = {s.source_snapshot for s in snaps if s.state != "error"}
    failed: dict[str, set[str]] = {}
    for snap in snaps:
        if snap.state == "error" and snap.source_snapshot not in alive:
            failed.setdefault(snap.source_snapshot, set()).add(snap.snapshot_id)
    return failed


def pending_copies(dr_snapshots: Iterable[Snapshot]) -> int:
    return sum(1 for s in dr_snapshots if s.managed and s.source_snapshot and s.state == PENDING)


def describe_pending_snapshots(dr_ec2: EC2Client, dr_region: str) -> list[Snapshot]:
    """Snapshots pending in the DR region now. Filtered on the state only: pending snapshots are few, so
    this is one short page, and the managed copies among them are told apart by their tags."""
    items = aws.own_snapshots(dr_ec2, [{"Name": "status", "Values": [PENDING]}])
    return [snapshot_from_api(item, dr_region) for item in items]


def count_pending_copies(dr_ec2: EC2Client, dr_region: str) -> int:
    """Managed copies pending in the DR region now."""
    return pending_copies(describe_pending_snapshots(dr_ec2, dr_region))


def describe_copies_of(dr_ec2: EC2Client, dr_region: str, primary_ids: Iterable[str]) -> list[Snapshot]:
    """The managed DR copies of `primary_ids`, plus every snapshot pending in the DR region: what copy
    reconciliation needs for a few primaries, without listing every copy of the fleet."""
    found = {s.snapshot_id: s for s in describe_pending_snapshots(dr_ec2, dr_region)}
    for batch in aws.chunks(sorted(set(primary_ids)), FILTER_VALUES_MAX):
        tag_filter = [{"Name": f"tag:{SOURCE_SNAPSHOT_TAG}", "Values": batch}]
        found.update((s.snapshot_id, s) for s in describe_managed_snapshots(dr_ec2, dr_region, tag_filter))
    return list(found.values())


def reconcile_copies(
    dr_ec2: EC2Client,
    primaries: Iterable[Snapshot],
    dr_snapshots: Iterable[Snapshot],
    settings: BackupSettings,
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
    recount: Callable[[], int] | None = None,
    ledger: CopyLedger | None = None,
    owner: str = "",
    now: float | None = None,
    measure: Measure | None = None,
) -> CopyOutcome:
    """Start the DR copies that are missing, oldest first, within `MAX_CONCURRENT_COPIES` pending at once.

    Copies that do not fit, or that AWS refuses with `ResourceLimitExceeded` (or throttles past every retry),
    are deferred: the next run or completion event starts them. In a dry run nothing is started and
    `deferred` counts the copies that would start.

    When the slots are used up, `recount` (one describe of the pending copies) is asked once more: copies of
    small incremental snapshots often finish within seconds, and every slot they free is used at once. The
    run stops at the first recount that frees nothing, or when `should_stop` says time is short.

    With a `ledger`, each copy is claimed there (as `owner`, at `now` epoch seconds) before `CopySnapshot`:
    a copy another invocation claimed is left to it, so a snapshot is never copied twice.

    (v3) `measure` (`anomalies.ChangeMeter.measure`) measures each primary before its copy is claimed and
    returns the copy's tags with the figure: the measurement never holds a claim or a slot.
    """
    dr_snapshots = list(dr_snapshots)
    todo = snapshots_needing_copy(primaries, dr_snapshots)
    slots = max(settings.max_concurrent_copies - pending_copies(dr_snapshots), 0)
    if dry_run:
        return CopyOutcome(deferred=min(len(todo), slots))
    outcome = CopyOutcome()
    backed_off: set[str] = set()  # refused by `claim_retry`: not owed now, the reconciliation re-derives it
    now_s = time.time() if now is None else now
    todo, records = _allowed_now(todo, ledger, dr_snapshots, now_s, outcome)
    for index, primary in enumerate(todo):
        if slots <= 0 and recount is not None and not (should_stop and should_stop()):
            slots = max(settings.max_concurrent_copies - recount(), 0)
        if slots <= 0 or (should_stop is not None and should_stop()):
            outcome.deferred = len(todo) - index
            break
        retry = primary.snapshot_id in records  # (records are read only with a ledger)
        verdict = _copy_one(
            dr_ec2, primary, settings, ledger, owner, now_s, retry, measure, outcome, should_stop
        )
        if verdict == _STARTED:
            slots -= 1
        elif verdict == _BACKED_OFF:
            backed_off.add(primary.snapshot_id)
        elif verdict in (_SLOTS_FULL, _OUT_OF_TIME):
            outcome.deferred = len(todo) - index
            break
    started = {copy["source_snapshot_id"] for copy in outcome.started}
    outcome.owed = [p for p in todo if p.snapshot_id not in started | backed_off]
    return outcome


def _allowed_now(
    todo: list[Snapshot],
    ledger: CopyLedger | None,
    dr_snapshots: list[Snapshot],
    now_s: float,
    outcome: CopyOutcome,
) -> tuple[list[Snapshot], dict[str, copy_failures.FailureRecord]]:
    """The owed copies the ledger's failure records let start now, and those records (none without a
    ledger); the failures recorded are reported in `outcome`."""
    if ledger is None:
        return todo, {}
    outcome.failures, blocked, records = _record_copy_failures(ledger, dr_snapshots, now_s)
    return [p for p in todo if p.snapshot_id not in blocked], records


# What became of one primary owed a copy.
_STARTED, _CLAIMED_ELSEWHERE, _BACKED_OFF, _SLOTS_FULL, _REFUSED, _OUT_OF_TIME = (
    "started",
    "claimed elsewhere",
    "backed off",
    "slots full",
    "refused",
    "out of time",
)


def _copy_one(
    dr_ec2: EC2Client,
    primary: Snapshot,
    settings: BackupSettings,
    ledger: CopyLedger | None,
    owner: str,
    now_s: float,
    retry: bool,
    measure: Measure | None,
    outcome: CopyOutcome,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Measure, claim and start the copy of one primary; a copy started or refused is named in `outcome`.
    (v3) When the deadline came while measuring (`should_stop`), the copy is not started: it and the rest wait
    for the next run, which measures it (once: a figure recorded is read back), instead of a copy without one."""
    tags = copy_tags(primary, settings)
    if measure is not None:
        tags = measure(primary.snapshot_id, primary.start_time, tags)
        if should_stop is not None and should_stop():
            return _OUT_OF_TIME
    if ledger is not None and not ledger.claim(primary.snapshot_id, now_s, owner):
        # Another invocation claimed it (or started it and the copy is not visible yet).
        return _CLAIMED_ELSEWHERE
    if (
        ledger is not None
        and retry
        and not copy_failures.claim_retry(ledger.dynamodb, ledger.table, primary.snapshot_id, now_s)
    ):
        # (v3) Its copies failed and are backed off since the records were read, or another invocation
        # claimed this retry: not now.
        ledger.release(primary.snapshot_id, owner)
        return _BACKED_OFF
    try:
        copy_id = start_copy(
            dr_ec2, primary.region, primary.snapshot_id, tags, settings, datetime.fromtimestamp(now_s, UTC)
        )
    except AwsError as exc:
        if exc.code in COPY_LIMIT_CODES or exc.is_throttling:
            logger.info("copy limit reached; deferring the rest", extra={"code": exc.code})
            if ledger is not None:
                ledger.release(primary.snapshot_id, owner)
                if retry:
                    copy_failures.release_retry(ledger.dynamodb, ledger.table, primary.snapshot_id, now_s)
            return _SLOTS_FULL
        if ledger is not None:
            ledger.failed(primary.snapshot_id)
            copy_failures.record_failure(
                ledger.dynamodb, ledger.table, primary.snapshot_id, f"refused@{int(now_s)}", now_s
            )
        outcome.failures.append({"resource": primary.snapshot_id, "error": exc.readable()})
        return _REFUSED
    if ledger is not None:
        ledger.copy_started(primary.snapshot_id, primary.start_time, copy_id)
    outcome.started.append(
        {"source_snapshot_id": primary.snapshot_id, "copy_snapshot_id": copy_id, "region": settings.dr_region}
    )
    return _STARTED


def _record_copy_failures(
    ledger: CopyLedger, dr_snapshots: Sequence[Snapshot], now: float
) -> tuple[list[dict[str, str]], set[str], dict[str, copy_failures.FailureRecord]]:
    """(v3) Count the copies found in `error` (each once, whoever sees it first: a lost failure event is
    counted here) and reopen their claims; returns the failures counted now, for the report, the primaries
    backed off at `now` (one Query of the failure records) and the records (a copy of a primary that has one
    starts only after `claim_retry`)."""
    failures: list[dict[str, str]] = []
    for primary_id, copy_ids in failed_copies(dr_snapshots).items():
        ledger.failed(primary_id, copy_ids)
    records = copy_failures.failure_records(ledger.dynamodb, ledger.table)
    for primary_id, copy_id in copy_failures.newest_error_copies(dr_snapshots).items():
        known = records.get(primary_id)
        if known is not None and known.last_copy == copy_id:
            continue  # counted already (by its failure event, or an earlier reconciliation)
        record = copy_failures.record_failure(ledger.dynamodb, ledger.table, primary_id, copy_id, now)
        if record is None:  # another invocation counted it meanwhile
            record = copy_failures.read_record(ledger.dynamodb, ledger.table, primary_id)
        else:
            failures.append({"resource": primary_id, "error": f"DR copy {copy_id} ended in error"})
        if record is not None:
            records[primary_id] = record
    return failures, copy_failures.blocked_primaries(records, now), records


def owed_copy(primary: Snapshot, settings: BackupSettings) -> OwedCopy:
    """The owed-queue entry of `primary`: its copy's tags are computed now, as a copy started now gets them."""
    return OwedCopy(primary.snapshot_id, primary.region, primary.start_time, copy_tags(primary, settings))


def start_copy(
    dr_ec2: EC2Client,
    source_region: str,
    source_id: str,
    tags: dict[str, str],
    settings: BackupSettings,
    now: datetime | None = None,
) -> str:
    """One `CopySnapshot` from a client of the DR region; returns the copy's id (AwsError on failure).

    (v3) With `LOCK_MODE`, the copy is locked at once (`snapshot_locks.lock_new_copy`: a refusal is repaired
    by the next reconciliation, never a failure of the copy)."""
    with aws.aws_errors("CopySnapshot"):
        response = dr_ec2.copy_snapshot(
            SourceRegion=source_region,
            SourceSnapshotId=source_id,
            Description=f"smart-vault DR copy of {source_id} from {source_region}",
            Encrypted=True,
            KmsKeyId=settings.dr_kms_key_id,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(tags)}],
        )
    copy_id = response["SnapshotId"]
    retention = retention_of(tags, settings.dr_retention_days) or settings.dr_retention_days
    lock_new_copy(dr_ec2, copy_id, now or datetime.now(UTC), retention, policy_of(settings))
    return copy_id
