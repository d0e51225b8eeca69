"""Backup runs under faults: EC2 throttling a 200-instance run, the DR copy limit, the concurrent snapshot
limit, a KMS key that denies the DR copy, SNS refusing the notification. Each test checks the end state:
the snapshots in both regions, the report the handler returns and the notification an SQS subscriber got."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import boto3
import pytest
from freezegun import freeze_time

from smart_vault import aws
from smart_vault.backup import entry as backup
from smart_vault.local import moto_ebs
from smart_vault.local.ebs_blocks import BlockModel, VolumeWrites
from support.backup_world import (
    DR_KEY_ARN,
    DR_REGION,
    PRIMARY_REGION,
    Inbox,
    backup_context,
    backup_env,
    make_fleet,
    scheduled_event,
)
from support.injection import RAW_AWS_TEXT, Fault, assert_readable
from support.logs import CapturedLogs

GOLD = {"Backup-Tier": "Gold"}


@pytest.fixture
def fleet(moto_aws, monkeypatch, faults, fast_pacing):
    backup_env(monkeypatch, MAX_CONCURRENT_COPIES="20")
    return make_fleet()


@pytest.fixture
def inbox(fleet):
    return Inbox()


def managed_snapshots(region: str) -> dict[str, dict[str, str]]:
    """snapshot id -> tags, of every managed snapshot in `region`, read without the fault injector."""
    snapshots = boto3.client("ec2", region).describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}]
    )["Snapshots"]
    return {
        s["SnapshotId"]: {**aws.tags_to_dict(s.get("Tags")), "_kms": s.get("KmsKeyId", "")} for s in snapshots
    }


def snapshots_per_instance(region: str = PRIMARY_REGION) -> Counter:
    return Counter(tags["smart-vault:source-instance"] for tags in managed_snapshots(region).values())


def copies_by_source() -> dict[str, str]:
    """DR copy id by the primary snapshot it copies."""
    return {tags["smart-vault:source-snapshot"]: sid for sid, tags in managed_snapshots(DR_REGION).items()}


def run(event_id: str) -> dict:
    report = backup.handler(scheduled_event(event_id), backup_context())
    json.dumps(report)  # the contract: a JSON-serialisable dict
    return report


def the_notification(inbox) -> tuple[dict, dict]:
    [envelope] = inbox.messages()
    assert envelope["Subject"].startswith("Smart Vault backup")
    assert envelope["MessageAttributes"]["event_type"]["Value"] == "backup.completed"
    return envelope, json.loads(envelope["Message"])


def launch(fleet, count: int) -> list[str]:
    return sorted(fleet.launch(f"web-{n}", {**GOLD, "Name": f"web-{n}"}) for n in range(count))


# ------------------------------------------------------------------------------------------- throttling


def test_throttling_on_30_percent_of_ec2_calls_still_backs_up_all_200_instances(
    fleet, inbox, faults, retry_clock, monkeypatch
):
    # Each first snapshot is measured with ListSnapshotBlocks: at the emulator's default (half of each volume
    # written) that is ~8,000 blocks in pages moto serializes one dict at a time, ~45 min of CPU for 200
    # instances on a loaded machine. Volumes with 1% written are measured the same way, in one page each.
    model = BlockModel()
    monkeypatch.setattr(
        model, "volume", lambda volume_id: model.volumes.setdefault(volume_id, VolumeWrites(0.01))
    )
    monkeypatch.setattr(moto_ebs, "MODEL", model)
    reply = fleet.ec2.run_instances(
        ImageId=fleet.image_id,
        MinCount=200,
        MaxCount=200,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": aws.dict_to_tags(GOLD)}],
    )
    instance_ids = sorted(i["InstanceId"] for i in reply["Instances"])
    throttle = faults.add(Fault("RequestLimitExceeded", service="ec2", status=503, probability=0.3))

    report = run("throttled-run")

    # Throttling cost retries, not instances.
    ec2_attempts = sum(1 for name in faults.history if name.startswith("ec2."))
    assert throttle.injected >= 0.25 * ec2_attempts and ec2_attempts > 600
    assert len(retry_clock.backoff_delays) >= throttle.injected
    assert report["status"] == "SUCCEEDED", report["failures"][:5]
    assert report["failures"] == []
    assert sorted(i["instance_id"] for i in report["instances"]) == instance_ids
    assert {i["status"] for i in report["instances"]} == {"ok"}
    # Exactly one snapshot set per instance in the primary region, every one in the report.
    primary = managed_snapshots(PRIMARY_REGION)
    assert snapshots_per_instance() == Counter(dict.fromkeys(instance_ids, 1))
    assert sorted(report["snapshots_created"]) == sorted(primary)
    # DR copies: started ones exist, encrypted with the DR key; the rest wait for the next run.
    copies = copies_by_source()
    assert {c["source_snapshot_id"]: c["copy_snapshot_id"] for c in report["copies_started"]} == copies
    # (moto completes copies at once, so none stays pending and MAX_CONCURRENT_COPIES never binds here.)
    assert len(copies) > 0
    assert len(copies) + report["copies_deferred"] == len(primary)
    dr_snapshots = managed_snapshots(DR_REGION)
    assert {dr_snapshots[c]["_kms"] for c in copies.values()} == {DR_KEY_ARN}
    envelope, document = the_notification(inbox)
    assert envelope["Subject"].endswith(": SUCCEEDED")
    # A 200-instance report may pass SNS's 256 KB: then the document keeps its counts and failures.
    assert document.get("truncated") is True or len(document["instances"]) == 200
    assert document["status"] == "SUCCEEDED"


# -------------------------------------------------------------------------------------- DR copy limit


@pytest.mark.parametrize("first_failing_copy", [1, 2], ids=["every-copy", "after-the-first-copy"])
def test_copy_limit_defers_copies_and_the_next_run_completes_them(fleet, inbox, faults, first_failing_copy):
    instance_ids = launch(fleet, 3)
    limit = faults.add(
        Fault(
            "ResourceLimitExceeded",
            service="ec2",
            operation="CopySnapshot",
            when=lambda call: call.number >= first_failing_copy,
        )
    )

    first = run("copy-limit-run-1")

    assert limit.injected >= 1
    assert first["status"] == "SUCCEEDED"  # deferred copies are normal operation, not failures
    assert first["failures"] == []
    assert {i["status"] for i in first["instances"]} == {"ok"}
    first_snapshots = set(first["snapshots_created"])
    assert len(first_snapshots) == 3 == len(managed_snapshots(PRIMARY_REGION))
    assert len(first["copies_started"]) == first_failing_copy - 1 == len(managed_snapshots(DR_REGION))
    assert len(first["copies_started"]) + first["copies_deferred"] == 3

    faults.clear()  # the copies in flight have finished: the limit is free again
    second = run("copy-limit-run-2")

    assert second["status"] == "SUCCEEDED"
    assert second["failures"] == []
    copies = copies_by_source()
    assert first_snapshots <= set(copies)  # every deferred copy was completed by the next run
    dr_snapshots = managed_snapshots(DR_REGION)
    assert {dr_snapshots[copies[s]]["_kms"] for s in first_snapshots} == {DR_KEY_ARN}
    assert snapshots_per_instance() == Counter(dict.fromkeys(instance_ids, 2))
    subjects = [m["Subject"] for m in inbox.messages()]
    assert len(subjects) == 2 and all(s.endswith(": SUCCEEDED") for s in subjects)


# ---------------------------------------------------------------------------- concurrent snapshot limit


def test_concurrent_snapshot_limit_on_one_instance_fails_it_alone(fleet, inbox, faults):
    instance_ids = launch(fleet, 4)
    victim = instance_ids[1]
    limit = faults.add(
        Fault(
            "ConcurrentSnapshotLimitExceeded",
            service="ec2",
            operation="CreateSnapshots",
            message="Too many snapshots are in progress for this volume",
            when=lambda call: victim in call,
        )
    )

    report = run("concurrent-limit-run")

    assert limit.injected >= 1
    assert report["status"] == "PARTIAL"
    results = {i["instance_id"]: i for i in report["instances"]}
    assert results[victim]["status"] == "failed"
    assert results[victim]["snapshot_ids"] == []
    assert_readable(results[victim]["error"])
    assert "ConcurrentSnapshotLimitExceeded" in results[victim]["error"]
    assert {results[i]["status"] for i in instance_ids if i != victim} == {"ok"}
    assert [f["resource"] for f in report["failures"]] == [victim]
    # The others are backed up (and copied); the victim has no snapshot anywhere.
    assert snapshots_per_instance() == Counter({i: 1 for i in instance_ids if i != victim})
    assert victim not in snapshots_per_instance(DR_REGION)
    envelope, document = the_notification(inbox)
    assert envelope["Subject"].endswith(": PARTIAL")
    assert document["failures"] == report["failures"]


# ------------------------------------------------------------------------------ KMS denies the DR copy


@pytest.mark.parametrize("code", ["AccessDenied", "KMSKeyNotAccessibleFault"])
def test_kms_denying_the_dr_copy_is_partial_and_keeps_the_primary_snapshot(
    fleet, inbox, faults, monkeypatch, code
):
    monkeypatch.setenv("RETENTION_DAYS", "1")
    monkeypatch.setenv("MIN_SNAPSHOTS_KEPT", "1")
    launch(fleet, 2)
    denied = faults.add(
        Fault(
            code,
            service="ec2",
            operation="CopySnapshot",
            region=DR_REGION,
            message=f"The KMS key {DR_KEY_ARN} is not accessible",
        )
    )

    with freeze_time("2026-11-01 03:00:00") as clock:
        first = run("kms-run-1")
        first_snapshots = set(first["snapshots_created"])

        assert denied.injected >= 1
        assert first["status"] == "PARTIAL"
        assert {i["status"] for i in first["instances"]} == {"ok"}
        assert first["copies_started"] == []
        assert len(first_snapshots) == 2
        failed = {f["resource"]: f["error"] for f in first["failures"]}
        assert set(failed) <= first_snapshots and failed
        for error in failed.values():
            assert_readable(error)
            assert code in error
        assert managed_snapshots(DR_REGION) == {}

        # Three days later, past the 1-day retention, the key still denies: no primary may be pruned while
        # its DR copy is missing, even though newer snapshots exist.
        clock.tick(timedelta(days=3))
        second = run("kms-run-2")
        # Read while the clock still says so: moto's SQS drops messages older than the 4-day retention.
        subjects = [m["Subject"] for m in inbox.messages()]

    assert second["status"] == "PARTIAL"
    assert first_snapshots <= set(managed_snapshots(PRIMARY_REGION))
    assert not first_snapshots & {d["snapshot_id"] for d in second["deleted"]}
    assert snapshots_per_instance() == Counter(dict.fromkeys(snapshots_per_instance(), 2))
    assert managed_snapshots(DR_REGION) == {}
    assert len(subjects) == 2 and all(s.endswith(": PARTIAL") for s in subjects)


# -------------------------------------------------------------------------------------- SNS refuses


@pytest.mark.parametrize(("code", "status"), [("InternalError", 500)])
def test_sns_refusing_the_notification_still_completes_the_run_and_logs_it(
    fleet, inbox, faults, monkeypatch, code, status
):
    instance_ids = launch(fleet, 2)
    refused = faults.add(Fault(code, service="sns", operation="Publish", status=status))
    logs = CapturedLogs(monkeypatch)

    report = run("sns-down-run")

    assert refused.injected >= 1
    assert report["status"] == "SUCCEEDED"
    assert sorted(i["instance_id"] for i in report["instances"]) == instance_ids
    assert snapshots_per_instance() == Counter(dict.fromkeys(instance_ids, 1))
    assert len(copies_by_source()) == 2
    assert inbox.messages() == []
    errors = [r for r in logs.at("ERROR") if "notification" in r["message"]]
    assert len(errors) == 1
    assert code in json.dumps(errors[0])
    for raw in RAW_AWS_TEXT:
        assert raw not in logs.text
