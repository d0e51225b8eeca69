"""Instances to protect, snapshot sets and DR copies: the calls that create backups.

One `CreateSnapshots` per instance (crash-consistent across its volumes, tagged at creation), at most one
`CreateTags` per snapshot for the two per-volume tags, and DR copies started from a client of the DR region
with `SourceRegion`, encrypted with the DR key, tagged at creation, never more than the allowed number
`pending` at once. Snapshot lists come from describe pages of 1000 shared by every instance of a run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.backup import copy_failures
from smart_vault.backup.ledger import CopyLedger, OwedCopy, owed_sort_key
from smart_vault.backup.metadata import (
    MAX_VAULT_TAGS,
    delete_on_termination,
    instance_metadata,
    volume_metadata,
)
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.recovery_sets import duplicate_ids
from smart_vault.snapshot_locks import lock_new_copy, policy_of, retention_of
from smart_vault.snapshot_model import Snapshot, snapshot_from_api
from smart_vault.tags import (
    BACKUP_SET_TAG,
    COMPLETED,
    DEVICE_TAG,
    DR_COPIED_TAG,
    HOLD_TAG,
    INSTANCE_RETENTION_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    PENDING,
    RETENTION_DAYS_TAG,
    RETENTION_OVERRIDE_TAG,
    RUN_ID_TAG,
    SCRIPTS_TAG,
    SET_SIZE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_REGION_TAG,
    SOURCE_SNAPSHOT_TAG,
    SOURCE_VOLUME_TAG,
    TAG_PREFIX,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

PAGE_SIZE = 1000
# (v3) Measures a primary before its copy starts: (snapshot id, start time, copy tags) -> copy tags.
Measure = Callable[[str, datetime, dict[str, str]], dict[str, str]]
# EC2 accepts at most 200 values in one filter.
FILTER_VALUES_MAX = 200
PROTECTED_STATES = ("running", "stopped")
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    # (device name, volume id) of every attached EBS volume, in the instance's order.
    volumes: tuple[tuple[str, str], ...]
    retention_days: int | None = None  # the instance's Backup-Retention-Days override, when valid
    # (v2) Restore metadata: the set-wide tags, and (volume id, its per-volume tags) pairs.
    metadata: tuple[tuple[str, str], ...] = ()
    volume_tags: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # (v3) The SSM document of its pre- and post-scripts (its Backup-Scripts tag); empty: a plain instance.
    scripts_document: str = ""


def retention_override(tags: dict[str, str], instance_id: str) -> int | None:
    """The instance's `Backup-Retention-Days` tag as days; a bad value is logged and ignored (the default
    applies) so that a typo never leaves an instance unprotected."""
    raw = tags.get(INSTANCE_RETENTION_TAG)
    if raw is None:
        return None
    try:
        days = int(raw.strip())
    except ValueError:
        days = 0
    if 1 <= days <= MAX_RETENTION_DAYS:
        return days
    logger.warning(
        "ignoring invalid retention override",
        extra={"instance_id": instance_id, "tag": INSTANCE_RETENTION_TAG, "value": raw},
    )
    return None


def instance_from_api(item: dict[str, Any]) -> Instance:
    tags = aws.tags_to_dict(item.get("Tags"))
    volumes = tuple(
        (m["DeviceName"], m["Ebs"]["VolumeId"])
        for m in item.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("VolumeId")
    )
    return Instance(
        instance_id=item["InstanceId"],
        name=tags.get("Name", ""),
        volumes=volumes,
        retention_days=retention_override(tags, item["InstanceId"]),
        metadata=tuple(instance_metadata(item).items()),
        volume_tags=_volume_tags(item, {}),
        scripts_document=tags.get(SCRIPTS_TAG, "").strip(),
    )


def _volume_tags(
    item: dict[str, Any], volumes: dict[str, dict[str, Any]]
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    on_termination = delete_on_termination(item)
    return tuple(
        (vid, tuple(volume_metadata(volumes.get(vid), on_termination.get(vid)).items()))
        for vid in on_termination
    )


def with_volume_details(instances: list[Instance], items: dict[str, dict[str, Any]], ec2: EC2Client) -> None:
    """Fill in the per-volume metadata from DescribeVolumes pages shared by all `instances` (batches of
    200 instance ids, pages of 1000 volumes): a handful of calls per run, none per instance."""
    volumes: dict[str, dict[str, Any]] = {}
    for batch in aws.chunks([i.instance_id for i in instances], FILTER_VALUES_MAX):
        for volume in aws.paginate(
            ec2,
            "describe_volumes",
            "Volumes",
            page_size=PAGE_SIZE,
            Filters=[{"Name": "attachment.instance-id", "Values": batch}],
        ):
            volumes[volume["VolumeId"]] = volume
    for index, instance in enumerate(instances):
        instances[index] = replace(instance, volume_tags=_volume_tags(items[instance.instance_id], volumes))


def _describe(ec2: EC2Client, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for reservation in aws.paginate(
        ec2, "describe_instances", "Reservations", page_size=PAGE_SIZE, Filters=filters
    ):
        yield from reservation.get("Instances", [])


def select_instances(
    ec2: EC2Client, settings: BackupSettings, instance_ids: Sequence[str] | None = None
) -> list[Instance]:
    """Instances to protect, sorted by id (the continuation cursor relies on that order).

    Without `instance_ids`: every running or stopped instance whose backup tag has an accepted value. With
    them: exactly those instances (no tag needed), when running or stopped. Instance ids go in a filter, not
    `InstanceIds`, so that the call can still ask for pages of 1000 and an unknown id is no error.
    """
    state_filter = {"Name": "instance-state-name", "Values": list(PROTECTED_STATES)}
    found: dict[str, dict[str, Any]] = {}
    if instance_ids is None:
        filters = [state_filter, {"Name": f"tag:{settings.tag_key}", "Values": list(settings.tag_values)}]
        found = {i["InstanceId"]: i for i in _describe(ec2, filters)}
    else:
        for batch in aws.chunks(sorted(set(instance_ids)), FILTER_VALUES_MAX):
            filters = [state_filter, {"Name": "instance-id", "Values": batch}]
            found.update((i["InstanceId"], i) for i in _describe(ec2, filters))
    instances = [instance_from_api(found[k]) for k in sorted(found)]
    if instances:
        with_volume_details(instances, found, ec2)
    return instances


# Set on snapshots whose retention came from the instance's Backup-Retention-Days tag: the override then
# applies to the DR copy too, instead of DR_RETENTION_DAYS.
COPY_LIMIT_CODES = frozenset({"ResourceLimitExceeded", "SnapshotCopyLimitExceeded"})
MANAGED_FILTER = {"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]}


def backup_set_id(run_id: str, instance_id: str) -> str:
    """The same run and instance always give the same set id (a redelivered event finds its own set)."""
    digest = hashlib.sha256(f"{run_id}/{instance_id}".encode()).hexdigest()[:20]
    return f"bset-{digest}"


def describe_managed_snapshots(
    ec2: EC2Client, region: str, extra_filters: Sequence[dict[str, Any]] = ()
) -> list[Snapshot]:
    """Every snapshot of this account in `region` tagged `ManagedBy=smart-vault` (and `extra_filters`)."""
    items = aws.paginate(
        ec2,
        "describe_snapshots",
        "Snapshots",
        page_size=PAGE_SIZE,
        OwnerIds=["self"],
        Filters=[MANAGED_FILTER, *extra_filters],
    )
    return [snapshot_from_api(item, region) for item in items]


def describe_snapshots_by_id(ec2: EC2Client, region: str, snapshot_ids: Iterable[str]) -> list[Snapshot]:
    """The managed snapshots among `snapshot_ids` (a filter, so that page sizes still apply)."""
    found: list[Snapshot] = []
    for batch in aws.chunks(sorted(set(snapshot_ids)), FILTER_VALUES_MAX):
        found += describe_managed_snapshots(ec2, region, [{"Name": "snapshot-id", "Values": batch}])
    return found


def run_snapshots(ec2: EC2Client, region: str, run_id: str) -> list[Snapshot]:
    """Snapshots an earlier delivery of the same run already created."""
    return describe_managed_snapshots(ec2, region, [{"Name": f"tag:{RUN_ID_TAG}", "Values": [run_id]}])


@dataclass
class SetResult:
    instance_id: str
    backup_set_id: str
    snapshots: list[Snapshot] = field(default_factory=list)
    error: str | None = None

    @property
    def snapshot_ids(self) -> list[str]:
        return [s.snapshot_id for s in self.snapshots]


@dataclass(frozen=True)
class InitiatedSet:
    """What CreateSnapshots answered (its snapshot items) and the tags the whole set got at creation."""

    snapshots: tuple[Mapping[str, Any], ...]
    common_tags: dict[str, str]


def set_tags(instance: Instance, run_id: str, set_id: str, settings: BackupSettings) -> dict[str, str]:
    """The tags every snapshot of one instance's set shares (set at creation)."""
    tags = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        SOURCE_INSTANCE_TAG: instance.instance_id,
        BACKUP_SET_TAG: set_id,
        RUN_ID_TAG: run_id,
        RETENTION_DAYS_TAG: str(instance.retention_days or settings.retention_days),
    }
    if instance.retention_days:
        tags[RETENTION_OVERRIDE_TAG] = "true"
    if instance.name:
        tags["Name"] = instance.name
    tags[SET_SIZE_TAG] = str(len(instance.volumes))
    tags.update(instance.metadata)
    return tags


def create_snapshot_set(
    ec2: EC2Client,
    instance: Instance,
    run_id: str,
    settings: BackupSettings,
    extra_tags: dict[str, str] | None = None,
) -> SetResult:
    """One crash-consistent `CreateSnapshots` for the instance, then its per-volume tags.

    Errors are caught and recorded on the result: one instance's failure never stops the others.
    """
    result, initiated = start_snapshot_set(ec2, instance, run_id, settings, extra_tags)
    if initiated is not None:
        tag_snapshot_set(ec2, instance, result, initiated, settings)
    return result


def start_snapshot_set(
    ec2: EC2Client,
    instance: Instance,
    run_id: str,
    settings: BackupSettings,
    extra_tags: dict[str, str] | None = None,
) -> tuple[SetResult, InitiatedSet | None]:
    """The `CreateSnapshots` call alone (the set's tags at creation, with `extra_tags`): the snapshots are
    initiated when it answers. Returns the result and the answer (None, and the error on the result, when
    the call failed). An application-consistent set thaws its application right after this."""
    set_id = backup_set_id(run_id, instance.instance_id)
    result = SetResult(instance.instance_id, set_id)
    common = {**set_tags(instance, run_id, set_id, settings), **(extra_tags or {})}
    try:
        with aws.aws_errors("CreateSnapshots"):
            response = ec2.create_snapshots(
                InstanceSpecification={"InstanceId": instance.instance_id, "ExcludeBootVolume": False},
                Description=f"smart-vault {run_id} {instance.instance_id}",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(common)}],
            )
    except AwsError as exc:
        result.error = exc.readable()
        return result, None
    return result, InitiatedSet(tuple(response.get("Snapshots", [])), common)


def tag_snapshot_set(
    ec2: EC2Client, instance: Instance, result: SetResult, initiated: InitiatedSet, settings: BackupSettings
) -> None:
    """The per-volume tags of the snapshots `start_snapshot_set` initiated (one CreateTags each)."""
    common = initiated.common_tags
    devices = {volume_id: device for device, volume_id in instance.volumes}
    per_volume_metadata = dict(instance.volume_tags)
    for item in initiated.snapshots:
        volume_id = item.get("VolumeId", "")
        per_volume = {SOURCE_VOLUME_TAG: volume_id, DEVICE_TAG: devices.get(volume_id, "")}
        per_volume.update(per_volume_metadata.get(volume_id, ()))
        # Within the vault's tag budget (the DR copy adds two): optional metadata goes first.
        while len(common) + len(per_volume) > MAX_VAULT_TAGS - 2 and len(per_volume) > 2:
            per_volume.popitem()
        result.snapshots.append(
            Snapshot(
                snapshot_id=item["SnapshotId"],
                region=settings.region,
                state=item.get("State", PENDING),
                start_time=item["StartTime"],
                volume_id=volume_id,
                owner_id=item.get("OwnerId", ""),
                tags={**common, **per_volume},
            )
        )
        snapshot_id = item["SnapshotId"]
        try:
            # Right after CreateSnapshots the new snapshot may answer NotFound for a while: retried.
            aws.retry_not_found(
                lambda sid=snapshot_id, tags=per_volume: ec2.create_tags(
                    Resources=[sid], Tags=aws.dict_to_tags(tags)
                ),
                "CreateTags",
            )
        except AwsError as exc:
            # The snapshot exists and is managed (retention falls back to its VolumeId); report the gap.
            result.error = f"tagging {item['SnapshotId']} failed: {exc.readable()}"


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
    items = aws.paginate(
        dr_ec2,
        "describe_snapshots",
        "Snapshots",
        page_size=PAGE_SIZE,
        OwnerIds=["self"],
        Filters=[{"Name": "status", "Values": [PENDING]}],
    )
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
    outcome = CopyOutcome()
    if dry_run:
        outcome.deferred = min(len(todo), slots)
        return outcome
    started: set[str] = set()
    backed_off: set[str] = set()  # refused by `claim_retry`: not owed now, the reconciliation re-derives it
    now_s = time.time() if now is None else now
    records: dict[str, copy_failures.FailureRecord] = {}
    if ledger is not None:
        outcome.failures, blocked, records = _record_copy_failures(ledger, dr_snapshots, now_s)
        todo = [p for p in todo if p.snapshot_id not in blocked]
    for index, primary in enumerate(todo):
        if slots <= 0 and recount is not None and not (should_stop and should_stop()):
            slots = max(settings.max_concurrent_copies - recount(), 0)
        if slots <= 0 or (should_stop is not None and should_stop()):
            outcome.deferred = len(todo) - index
            break
        tags = copy_tags(primary, settings)
        if measure is not None:
            tags = measure(primary.snapshot_id, primary.start_time, tags)
        if ledger is not None and not ledger.claim(primary.snapshot_id, now_s, owner):
            # Another invocation claimed it (or started it and the copy is not visible yet).
            continue
        retry = primary.snapshot_id in records  # (records are read only with a ledger)
        if (
            ledger is not None
            and retry
            and not copy_failures.claim_retry(ledger.dynamodb, ledger.table, primary.snapshot_id, now_s)
        ):
            # (v3) Its copies failed and are backed off since the records were read, or another invocation
            # claimed this retry: not now.
            ledger.release(primary.snapshot_id, owner)
            backed_off.add(primary.snapshot_id)
            continue
        try:
            copy_id = start_copy(
                dr_ec2,
                primary.region,
                primary.snapshot_id,
                tags,
                settings,
                datetime.fromtimestamp(now_s, UTC),
            )
        except AwsError as exc:
            if exc.code in COPY_LIMIT_CODES or exc.is_throttling:
                logger.info("copy limit reached; deferring the rest", extra={"code": exc.code})
                if ledger is not None:
                    ledger.release(primary.snapshot_id, owner)
                    if retry:
                        copy_failures.release_retry(ledger.dynamodb, ledger.table, primary.snapshot_id, now_s)
                outcome.deferred = len(todo) - index
                break
            if ledger is not None:
                ledger.failed(primary.snapshot_id)
                copy_failures.record_failure(
                    ledger.dynamodb, ledger.table, primary.snapshot_id, f"refused@{int(now_s)}", now_s
                )
            outcome.failures.append({"resource": primary.snapshot_id, "error": exc.readable()})
            continue
        slots -= 1
        started.add(primary.snapshot_id)
        if ledger is not None:
            ledger.started(primary.snapshot_id, copy_id)
            ledger.paid(owed_sort_key(primary.start_time, primary.snapshot_id))
        outcome.started.append(
            {
                "source_snapshot_id": primary.snapshot_id,
                "copy_snapshot_id": copy_id,
                "region": settings.dr_region,
            }
        )
    outcome.owed = [p for p in todo if p.snapshot_id not in started | backed_off]
    return outcome


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
