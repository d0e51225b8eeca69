"""(v3) Retention and copies made exact, on moto with frozen clocks: one test per rule of the contract's
"(v3) Retention and copies, made exact" (each fails on the code before it)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import boto3
import pytest
from freezegun import freeze_time
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend

from smart_vault.backup import copy_failures
from smart_vault.backup import entry as backup
from smart_vault.backup.ledger import CopyLedger, OwedCopy
from smart_vault.recovery_sets import is_complete
from smart_vault.restore.recovery_points import is_complete as restore_is_complete
from smart_vault.snapshot_model import snapshot_from_api
from support.backup_world import (
    ACCOUNT_ID,
    COPY_LEDGER_TABLE,
    DAY,
    DR_REGION,
    PRIMARY_REGION,
    T0,
    CallCounter,
    backup_context,
    backup_env,
    copy_event,
    fail_operation,
    make_fleet,
    scheduled_event,
    tags_of,
)

RECONCILE = {"reconcile_copies": True}


pytestmark = pytest.mark.backup_env(RETENTION_DAYS="7", DR_RETENTION_DAYS="7")


def run_at(when, event_id, event=None):
    with freeze_time(when):
        return backup.handler(event or scheduled_event(event_id), backup_context())


def reconcile_at(when):
    with freeze_time(when):
        return backup.handler(dict(RECONCILE), backup_context())


def snapshots_of_run(fleet, region, run_id):
    return {
        tags_of(s)["smart-vault:device"]: s
        for s in fleet.managed(region).values()
        if tags_of(s)["smart-vault:run-id"] == run_id and "smart-vault:device" in tags_of(s)
    }


def backend(region):
    return ec2_backends[ACCOUNT_ID][region]


@pytest.fixture
def slow_volumes(monkeypatch):
    """Volume ids whose new snapshots stay `pending` (a large volume: its snapshot takes hours)."""
    slow: set[str] = set()
    create = EBSBackend.create_snapshot

    def create_pending(self, volume_id, *args, **kwargs):
        snapshot = create(self, volume_id, *args, **kwargs)
        if volume_id in slow:
            snapshot.status = "pending"
        return snapshot

    monkeypatch.setattr(EBSBackend, "create_snapshot", create_pending)
    return slow


# ------------------------------------------------------------------ the newest complete recovery point


def test_the_newest_complete_recovery_point_is_kept_whole_while_newer_sets_are_pending(fleet, slow_volumes):
    """The issue's case: runs 10, 8 and 1 days ago and today; the data volume's snapshots of the last two are
    still pending. The 8-day set is the newest complete one: both its snapshots stay, in both regions."""
    instance = fleet.launch("db", {"Backup-Tier": "Gold"}, volumes=2)
    data_volume = fleet.volumes_of(instance)["/dev/sdf"]
    now = T0 + 10 * DAY
    run_at(now - 10 * DAY, "r10")
    run_at(now - 8 * DAY, "r8")
    slow_volumes.add(data_volume)
    run_at(now - 1 * DAY, "r1")

    report = run_at(now, "r0")

    assert report["failures"] == []
    for region in (PRIMARY_REGION, DR_REGION):
        r8 = snapshots_of_run(fleet, region, "r8")
        assert set(r8) == {"/dev/xvda", "/dev/sdf"}, region
    # The 10-day set is older than the newest complete one: it goes (its copies, expired, too).
    assert snapshots_of_run(fleet, PRIMARY_REGION, "r10") == {}


# ------------------------------------------------------------------ completeness by distinct device


def _duplicate_of(fleet, snapshot):
    """A second snapshot of the same device in the same set: what a retried CreateSnapshots leaves."""
    tags = list(snapshot["Tags"])
    return fleet.ec2.create_snapshot(
        VolumeId=snapshot["VolumeId"], TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
    )["SnapshotId"]


def test_a_duplicate_never_makes_a_set_complete_is_never_copied_and_is_pruned_not_its_device(
    fleet, slow_volumes
):
    instance = fleet.launch("db", {"Backup-Tier": "Gold"}, volumes=2)
    slow_volumes.add(fleet.volumes_of(instance)["/dev/sdf"])
    run_at(T0, "r0")
    r0 = snapshots_of_run(fleet, PRIMARY_REGION, "r0")
    with freeze_time(T0 + timedelta(minutes=1)):
        duplicate = _duplicate_of(fleet, r0["/dev/xvda"])
    members = [s for s in fleet.managed(PRIMARY_REGION).values() if tags_of(s)["smart-vault:run-id"] == "r0"]
    # Two completed snapshots of one device and the other device pending: not complete (restore agrees).
    assert not is_complete([snapshot_from_api(s, PRIMARY_REGION) for s in members])
    assert not restore_is_complete(members)

    reconcile_at(T0 + timedelta(minutes=30))
    copied = {tags_of(s)["smart-vault:source-snapshot"] for s in fleet.managed(DR_REGION).values()}
    assert r0["/dev/xvda"]["SnapshotId"] in copied and duplicate not in copied

    # The data snapshot completes; r8's stays pending: r0 is the newest complete recovery point. Expired, the
    # duplicate goes like any expired snapshot; the device's canonical snapshot stays with its set.
    backend(PRIMARY_REGION).snapshots[r0["/dev/sdf"]["SnapshotId"]].status = "completed"
    run_at(T0 + 8 * DAY, "r8")
    primaries = fleet.managed(PRIMARY_REGION)
    assert duplicate not in primaries
    assert {r0["/dev/xvda"]["SnapshotId"], r0["/dev/sdf"]["SnapshotId"]} <= set(primaries)


def test_a_duplicate_is_pruned_but_never_the_only_snapshot_of_its_device(fleet):
    fleet.launch("web", {"Backup-Tier": "Gold"}, volumes=1)
    run_at(T0, "r0")
    r0 = snapshots_of_run(fleet, PRIMARY_REGION, "r0")
    with freeze_time(T0 + timedelta(minutes=1)):
        duplicate = _duplicate_of(fleet, r0["/dev/xvda"])
    reconcile_at(T0 + timedelta(minutes=30))

    # The newest complete recovery point is r0 (the instance is gone from the backup: no newer set).
    fleet.ec2.delete_tags(Resources=[fleet.instances["web"]], Tags=[{"Key": "Backup-Tier"}])
    run_at(T0 + 9 * DAY, "r9")

    primaries = fleet.managed(PRIMARY_REGION)
    assert duplicate not in primaries
    assert r0["/dev/xvda"]["SnapshotId"] in primaries


# ------------------------------------------------------------------ no copy made twice


def test_a_primary_whose_copy_dr_retention_pruned_is_never_copied_again(monkeypatch, moto_aws):
    backup_env(monkeypatch, RETENTION_DAYS="14", DR_RETENTION_DAYS="3")
    fleet = make_fleet()
    fleet.launch("web", {"Backup-Tier": "Gold"})
    for day in range(6):
        run_at(T0 + day * DAY, f"r{day}")
    dr_runs = {tags_of(s)["smart-vault:run-id"] for s in fleet.managed(DR_REGION).values()}
    assert "r0" not in dr_runs and "r1" not in dr_runs  # pruned by DR retention
    # The ledger's items are lost too (TTL, a recreated table): the primaries still say they were copied.
    dynamodb = boto3.client("dynamodb", PRIMARY_REGION)
    for item in dynamodb.scan(TableName=COPY_LEDGER_TABLE)["Items"]:
        dynamodb.delete_item(TableName=COPY_LEDGER_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})

    calls = CallCounter(fleet.dr)
    reconciled = reconcile_at(T0 + 5 * DAY + timedelta(minutes=30))
    full = run_at(T0 + 5 * DAY + timedelta(hours=1), "r5b")

    assert reconciled["copies_started"] == []
    assert {c["source_snapshot_id"] for c in full["copies_started"]} <= {
        s for s, snap in fleet.managed(PRIMARY_REGION).items() if tags_of(snap)["smart-vault:run-id"] == "r5b"
    }
    assert calls.calls["CopySnapshot"] == 1  # the new set's only
    for snap in fleet.managed(PRIMARY_REGION).values():
        if tags_of(snap)["smart-vault:run-id"] != "r5b":
            assert tags_of(snap)["smart-vault:dr-copied"] == "true"


# ------------------------------------------------------------------ failing copies backed off


@pytest.fixture
def failing_copies(monkeypatch):
    """Every DR copy ends in `error` (a key the DR region cannot use)."""
    copy = EBSBackend.copy_snapshot

    def copy_in_error(self, *args, **kwargs):
        snapshot = copy(self, *args, **kwargs)
        snapshot.status = "error"
        return snapshot

    monkeypatch.setattr(EBSBackend, "copy_snapshot", copy_in_error)


def test_a_copy_that_fails_for_good_is_backed_off_counted_named_and_cleaned_up(fleet, failing_copies):
    fleet.launch("web", {"Backup-Tier": "Gold"})
    calls = CallCounter(fleet.dr)
    first = run_at(T0, "r0")
    primary = first["snapshots_created"][0]
    reports = [first]
    starts = [T0] if calls.calls["CopySnapshot"] else []
    for step in range(1, 48):  # a day of reconciliations, every 30 minutes
        before = calls.calls["CopySnapshot"]
        when = T0 + step * timedelta(minutes=30)
        reports.append(reconcile_at(when))
        if calls.calls["CopySnapshot"] > before:
            starts.append(when)

    assert len(starts) <= 6  # 3 in a row, then at most one every 6 hours (not 48)
    gaps = [b - a for a, b in itertools.pairwise(starts[2:])]
    assert all(gap >= timedelta(hours=6) for gap in gaps)
    named = [f for r in reports for f in r["failures"] if f["resource"] == primary]
    assert len(named) == len(starts)  # every failure counted once, naming the primary snapshot
    errors = [s for s in fleet.managed(DR_REGION).values() if s["State"] == "error"]
    assert len(errors) == len(starts)

    cleanup = run_at(T0 + DAY, "r1")
    assert not [
        s
        for s in fleet.managed(DR_REGION).values()
        if s["State"] == "error" and tags_of(s)["smart-vault:source-snapshot"] == primary
    ]
    assert {d["snapshot_id"] for d in cleanup["deleted"]} >= {e["SnapshotId"] for e in errors}


# ------------------------------------------------------------------ locked snapshots


def test_a_locked_snapshot_is_kept_not_failed_and_pruned_once_its_lock_expires(fleet):
    fleet.launch("web", {"Backup-Tier": "Gold"})
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")
    old = next(iter(snapshots_of_run(fleet, PRIMARY_REGION, "r0").values()))["SnapshotId"]
    with freeze_time(T0 + DAY):
        fleet.ec2.lock_snapshot(SnapshotId=old, LockMode="governance", LockDuration=10)
    calls = CallCounter(fleet.ec2, fleet.dr)

    kept = run_at(T0 + 8 * DAY, "r8")

    assert kept["status"] == "SUCCEEDED" and kept["failures"] == []
    assert old in fleet.managed(PRIMARY_REGION)
    assert calls.calls["DescribeLockedSnapshots"] == 2  # one listing per region, not one call per snapshot
    assert all(p["SnapshotId"] != old for p in calls.params.get("DeleteSnapshot", []))

    gone = run_at(T0 + 11 * DAY + timedelta(seconds=1), "r11")
    assert gone["failures"] == []
    assert old not in fleet.managed(PRIMARY_REGION)


# ------------------------------------------------------------------ a backed-off retry is claimed, once


def copy_failed_event(copy_id):
    return copy_event(copy_id, "failed", event_id=f"copy-event-{copy_id}", cause="key")


def backed_off_primary(fleet):
    """A primary whose copies failed 3 times in a row (T0, +30 min, +60 min; counted by +90 min)."""
    fleet.launch("web", {"Backup-Tier": "Gold"})
    primary = run_at(T0, "r0")["snapshots_created"][0]
    for step in (1, 2, 3):
        reconcile_at(T0 + step * timedelta(minutes=30))
    record = copy_failures.read_record(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE, primary)
    assert record is not None and record.failures == copy_failures.BACKOFF_AFTER_FAILURES
    return primary


def test_an_owed_queue_entry_older_than_the_back_off_never_starts_a_copy(fleet, failing_copies):
    """The flaky simulated week's cause: an entry queued while the primary could still be tried (a late or
    redelivered failure event of an earlier copy) was started by the next copy-completion event although the
    primary's copies had failed a third time meanwhile."""
    primary = backed_off_primary(fleet)
    ledger = CopyLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE)
    ledger.owe(
        OwedCopy(
            primary, PRIMARY_REGION, T0, {"ManagedBy": "smart-vault", "smart-vault:source-snapshot": primary}
        ),
        (T0 + timedelta(minutes=95)).timestamp(),
    )
    newest_error = max(
        (s for s in fleet.managed(DR_REGION).values() if s["State"] == "error"), key=lambda s: s["StartTime"]
    )
    calls = CallCounter(fleet.dr)

    with freeze_time(T0 + timedelta(minutes=100)):  # the failure event of the third copy, redelivered
        report = backup.handler(copy_failed_event(newest_error["SnapshotId"]), backup_context())

    assert calls.calls["CopySnapshot"] == 0 and report["copies_started"] == []
    assert list(ledger.owed()) == []  # off the queue: the reconciliation queues it when it may be tried


def test_two_invocations_racing_for_a_backed_off_primary_start_one_copy(fleet, failing_copies, monkeypatch):
    """Invocation A reads the failure records when the 6-hour back-off has passed; before it claims the copy,
    invocation B starts one, and that copy's failure event (C) is handled. A must not start another."""
    primary = backed_off_primary(fleet)
    calls = CallCounter(fleet.dr)
    read = copy_failures.failure_records
    interleaved = []

    def records_then_b_and_c(*args, **kwargs):
        records = read(*args, **kwargs)
        if not interleaved:
            interleaved.append(True)
            b = backup.handler(dict(RECONCILE), backup_context())  # at the same instant as A
            assert [c["source_snapshot_id"] for c in b["copies_started"]] == [primary]
            backup.handler(copy_failed_event(b["copies_started"][0]["copy_snapshot_id"]), backup_context())
        return records

    monkeypatch.setattr(copy_failures, "failure_records", records_then_b_and_c)
    a = reconcile_at(T0 + timedelta(minutes=90) + timedelta(hours=6, minutes=30))

    assert interleaved and a["copies_started"] == []
    assert calls.calls["CopySnapshot"] == 1  # B's only


def test_a_retry_slot_is_claimed_by_one_invocation_and_freed_by_a_failure_or_a_release(moto_aws, monkeypatch):
    backup_env(monkeypatch)
    make_fleet()
    dynamodb, t = boto3.client("dynamodb", PRIMARY_REGION), T0.timestamp()
    for n in range(copy_failures.BACKOFF_AFTER_FAILURES):
        copy_failures.record_failure(dynamodb, COPY_LEDGER_TABLE, "snap-1", f"snap-copy-{n}", t)
    later = t + copy_failures.BACKOFF_SECONDS
    assert not copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-1", later - 1)  # backed off
    assert copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-1", later)
    assert not copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-1", later + 60)  # A's, not B's
    copy_failures.release_retry(dynamodb, COPY_LEDGER_TABLE, "snap-1", later)  # A's copy did not start
    assert copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-1", later + 60)
    copy_failures.record_failure(dynamodb, COPY_LEDGER_TABLE, "snap-1", "snap-copy-9", later + 120)
    assert not copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-1", later + 180)
    assert copy_failures.claim_retry(
        dynamodb, COPY_LEDGER_TABLE, "snap-1", later + 120 + copy_failures.BACKOFF_SECONDS
    )
    # Below the threshold, and without a record, nothing holds a copy back.
    copy_failures.record_failure(dynamodb, COPY_LEDGER_TABLE, "snap-2", "snap-copy-a", t)
    assert copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-2", t)
    assert copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-2", t)
    assert copy_failures.claim_retry(dynamodb, COPY_LEDGER_TABLE, "snap-3", t)


def hide_from_the_listing(ec2):
    """The run's one listing of the region's locks (by lock state) answers no lock."""
    seen = {}

    def remember(params, **_):
        seen["params"] = params

    def empty(**_):
        if "Filters" not in seen.get("params", {}):
            return None
        http = type("Http", (), {"status_code": 200, "headers": {}, "content": b""})()
        return http, {"Snapshots": [], "ResponseMetadata": {"HTTPStatusCode": 200}}

    ec2.meta.events.register("provide-client-params.ec2.DescribeLockedSnapshots", remember)
    ec2.meta.events.register("before-call.ec2.DescribeLockedSnapshots", empty)


def test_a_snapshot_locked_since_the_listing_is_kept_whatever_code_its_refusal_has(fleet):
    """EC2's code for DeleteSnapshot of a locked snapshot is undocumented (the vault's `SnapshotLocked` is a
    guess): a refusal with any other code is asked about (`DescribeLockedSnapshots` of that snapshot) and,
    locked, kept and not failed; a refusal of a snapshot that is not locked is still a failure."""
    fleet.launch("web", {"Backup-Tier": "Gold"}, volumes=2)
    run_at(T0, "r0")
    run_at(T0 + DAY, "r1")
    old = sorted(snapshots_of_run(fleet, PRIMARY_REGION, "r0").values(), key=lambda s: s["SnapshotId"])
    locked_id, refused_id = old[0]["SnapshotId"], old[-1]["SnapshotId"]
    with freeze_time(T0 + DAY):
        fleet.ec2.lock_snapshot(SnapshotId=locked_id, LockMode="governance", LockDuration=10)
    hide_from_the_listing(fleet.ec2)  # as if locked by someone after the run's lock listing
    fail_operation(
        fleet.ec2,
        "DeleteSnapshot",
        "OperationNotPermitted",  # a code the vault does not know, for both
        when=lambda params: params.get("SnapshotId") in (locked_id, refused_id),
    )
    calls = CallCounter(fleet.ec2)

    report = run_at(T0 + 8 * DAY, "r8")

    assert locked_id in fleet.managed(PRIMARY_REGION)
    assert locked_id != refused_id
    assert [f["resource"] for f in report["failures"]] == [refused_id]
    asked = [p for p in calls.params.get("DescribeLockedSnapshots", []) if "SnapshotIds" in p]
    assert {tuple(p["SnapshotIds"]) for p in asked} >= {(locked_id,)}


# ------------------------------------------------------------------ a primary gone before it is marked copied


def test_a_primary_deleted_before_it_is_marked_copied_costs_neither_the_others_marks_nor_the_run(fleet):
    fleet.launch("web", {"Backup-Tier": "Gold"})
    fleet.launch("db", {"Backup-Tier": "Gold"})
    first = run_at(T0, "r0")
    assert len(first["copies_started"]) == 2
    victim, survivor = sorted(c["source_snapshot_id"] for c in first["copies_started"])
    deleted = []

    def delete_victim_first(params, **_):
        # Another invocation (or a person) deletes one primary between the run's describe and its CreateTags.
        tagging = any(t["Key"] == "smart-vault:dr-copied" for t in params.get("Tags", []))
        if tagging and victim in params.get("Resources", []) and not deleted:
            backend(PRIMARY_REGION).delete_snapshot(victim)
            deleted.append(victim)

    fleet.ec2.meta.events.register("provide-client-params.ec2.CreateTags", delete_victim_first)
    second = run_at(T0 + DAY, "r1")

    assert deleted == [victim]
    assert second["failures"] == []  # EC2 refused the batch: the run goes on, copies and pruning included
    assert len(second["copies_started"]) == 2
    assert tags_of(fleet.managed(PRIMARY_REGION)[survivor])["smart-vault:dr-copied"] == "true"
    assert victim not in fleet.managed(PRIMARY_REGION)
