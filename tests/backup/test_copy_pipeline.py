"""(v2) The copy pipeline against moto: the ledger claims every copy, copy-completion events of the DR region
free slots and report failures, `{"reconcile_copies": true}` starts owed copies and does nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from smart_vault.backup import entry as backup
from smart_vault.backup.dr_copies import reconcile_copies
from smart_vault.backup.ledger import CLAIMED, FAILED, STALE_CLAIM_SECONDS, STARTED, CopyLedger
from smart_vault.config import BackupSettings
from smart_vault.snapshot_model import Snapshot
from support.backup_world import (
    COPY_LEDGER_TABLE,
    DR_REGION,
    PRIMARY_REGION,
    CallCounter,
    Inbox,
    backup_context,
    backup_env,
    backup_settings,
    copy_event,
    ledger_claims,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def ledger(fleet):
    return CopyLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE)


def managed_primary(fleet, label="gold"):
    return fleet.managed_set(label, tags={"smart-vault:run-id": "earlier-run"})[0]


def test_a_claim_is_taken_once_until_it_fails_or_is_released(ledger):
    t = NOW.timestamp()
    assert ledger.claim("snap-1", t, "run-a")
    assert not ledger.claim("snap-1", t, "run-b")  # overlapping invocation: no second copy
    ledger.release("snap-1", "run-b")  # not its claim: nothing happens
    assert not ledger.claim("snap-1", t, "run-b")
    ledger.release("snap-1", "run-a")
    assert ledger.claim("snap-1", t, "run-b")
    ledger.started("snap-1", "snap-copy")
    assert ledger_claims()["snap-1"]["state"] == STARTED
    assert not ledger.claim("snap-1", t + 60, "run-c")
    ledger.failed("snap-1")
    assert ledger_claims()["snap-1"]["state"] == FAILED
    assert ledger.claim("snap-1", t + 60, "run-c")
    assert ledger_claims()["snap-1"]["state"] == CLAIMED
    # A claim older than the stale window whose copy is not visible (dead invocation, deleted copy).
    assert ledger.claim("snap-1", t + 60 + STALE_CLAIM_SECONDS + 1, "run-d")
    assert int(ledger_claims()["snap-1"]["expires_at"]) > t


def test_a_copy_claimed_by_another_invocation_is_not_started_again(fleet, ledger):
    settings = BackupSettings.from_env()
    primary = Snapshot(
        "snap-0123456789abcdef0", PRIMARY_REGION, "completed", NOW, tags={"ManagedBy": "smart-vault"}
    )
    assert ledger.claim(primary.snapshot_id, NOW.timestamp(), "other-invocation")
    counter = CallCounter(fleet.dr)
    outcome = reconcile_copies(
        fleet.dr, [primary], [], settings, ledger=ledger, owner="me", now=NOW.timestamp()
    )
    assert outcome.started == [] and outcome.failures == []
    assert counter.calls["CopySnapshot"] == 0


def test_a_duplicated_completion_event_copies_once_and_claims_are_recorded(fleet):
    primary = managed_primary(fleet)
    event = {
        "version": "0",
        "id": "dup-1",
        "detail-type": "EBS Snapshot Notification",
        "source": "aws.ec2",
        "region": PRIMARY_REGION,
        "detail": {
            "event": "createSnapshot",
            "result": "succeeded",
            "snapshot_id": f"arn:aws:ec2::{PRIMARY_REGION}:snapshot/{primary}",
        },
    }
    first = backup.handler(event, backup_context())
    second = backup.handler(event, backup_context())
    assert [c["source_snapshot_id"] for c in first["copies_started"]] == [primary]
    assert second["copies_started"] == []
    claim = ledger_claims()[primary]
    assert claim["state"] == STARTED
    assert claim["copy_snapshot_id"] == first["copies_started"][0]["copy_snapshot_id"]


def test_reconcile_copies_starts_owed_copies_and_does_nothing_else(fleet, monkeypatch):
    backup_env(monkeypatch, MAX_CONCURRENT_COPIES="2")
    inbox = Inbox()
    primaries = [managed_primary(fleet, f"i{n}") for n in range(3)]
    counter = CallCounter(fleet.ec2, fleet.dr)
    report = backup.handler({"reconcile_copies": True}, backup_context())
    assert {c["source_snapshot_id"] for c in report["copies_started"]} <= set(primaries)
    assert len(report["copies_started"]) >= 2
    assert report["snapshots_created"] == [] and report["deleted"] == []
    assert counter.calls["CreateSnapshots"] == 0 and counter.calls["DeleteSnapshot"] == 0
    assert inbox.messages() == []  # nothing failed: no notification


def test_a_failed_dr_copy_is_reported_owed_again_and_counted(fleet, capsys):
    primary = managed_primary(fleet)
    inbox = Inbox()
    started = backup.handler({"reconcile_copies": True}, backup_context())["copies_started"]
    copy_id = started[0]["copy_snapshot_id"]
    capsys.readouterr()
    report = backup.handler(copy_event(copy_id, "failed"), backup_context())
    assert [f["resource"] for f in report["failures"]] == [primary]
    assert copy_id in report["failures"][0]["error"]
    assert ledger_claims()[primary]["state"] == FAILED
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [d["BackupFailures"] for d in documents if "BackupFailures" in d] == [[1.0]]
    assert [d["CopyBacklog"] for d in documents if "CopyBacklog" in d] == [[0.0]]
    messages = inbox.messages()
    assert len(messages) == 1 and "FAILED" in messages[0]["Subject"]


def test_copy_events_of_unmanaged_snapshots_or_other_regions_are_ignored(fleet):
    volume = fleet.dr.create_volume(AvailabilityZone=f"{DR_REGION}a", Size=1)["VolumeId"]
    foreign = fleet.dr.create_snapshot(VolumeId=volume)["SnapshotId"]
    counter = CallCounter(fleet.ec2, fleet.dr)
    for event in (copy_event(foreign, "failed"), copy_event(foreign, region="us-east-1")):
        report = backup.handler(event, backup_context())
        assert report["failures"] == [] and report["copies_started"] == []
    assert counter.calls["CopySnapshot"] == 0


def test_an_untagged_dr_copy_is_never_grouped_by_its_volume_id():
    copy = Snapshot(
        "snap-c",
        DR_REGION,
        "completed",
        NOW - timedelta(days=1),
        volume_id="vol-ffffffff",
        tags={"ManagedBy": "smart-vault", "smart-vault:source-snapshot": "snap-p"},
    )
    tagged = Snapshot(
        "snap-d",
        DR_REGION,
        "completed",
        NOW,
        volume_id="vol-ffffffff",
        tags={"ManagedBy": "smart-vault", "smart-vault:source-volume": "vol-1"},
    )
    assert copy.source_volume != tagged.source_volume
    assert copy.source_volume != "vol-ffffffff"


def test_a_snapshot_just_created_is_tagged_through_not_found(fleet, monkeypatch):
    """CreateTags right after CreateSnapshots may answer InvalidSnapshot.NotFound: retried, never untagged."""
    from smart_vault import aws
    from support.backup_world import fail_operation, scheduled_event

    clock = [0.0]
    aws.set_clock(lambda: clock[0], lambda s: clock.__setitem__(0, clock[0] + s))
    try:
        instance = fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=2)
        answers = iter([True, True, True])  # the first three CreateTags calls: not visible yet
        fail_operation(
            fleet.ec2,
            "CreateTags",
            "InvalidSnapshot.NotFound",
            "The snapshot does not exist.",
            when=lambda _params: next(answers, False),
        )
        report = backup.handler(scheduled_event("tag-retry"), backup_context())
    finally:
        aws.set_clock(None, None)
    assert report["failures"] == [] and report["instances"][0]["status"] == "ok"
    for snap in fleet.managed().values():
        tags = {t["Key"]: t["Value"] for t in snap["Tags"]}
        assert tags["smart-vault:source-volume"] == snap["VolumeId"]
        assert tags["smart-vault:source-instance"] == instance
    assert clock[0] > 0  # it waited (virtually) before trying again


def test_a_copy_whose_measurement_met_the_deadline_waits_for_the_next_run():
    """(v3) The invocation's time ran short while a primary was measured: its copy is not started without its
    figure; it and the rest are deferred (owed), and the next run measures and copies them."""
    settings = backup_settings()
    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    managed = {"ManagedBy": "smart-vault", "smart-vault:source-volume": "vol-1"}
    primaries = [
        Snapshot(f"snap-{n}", "eu-west-1", "completed", start + timedelta(minutes=n), tags=managed)
        for n in range(3)
    ]
    time_short = {"now": False}

    def measure(snapshot_id, start_time, tags):
        time_short["now"] = True  # the measurement took what was left of the invocation
        return tags

    class NoCopies:
        def copy_snapshot(self, **_):
            raise AssertionError("no copy may start once the invocation's time is short")

    outcome = reconcile_copies(
        NoCopies(), primaries, [], settings, should_stop=lambda: time_short["now"], measure=measure
    )

    assert outcome.started == []
    assert outcome.deferred == 3
    assert [p.snapshot_id for p in outcome.owed] == ["snap-0", "snap-1", "snap-2"]
