"""The backup function against moto: resulting state in both regions, for every rule of the contract."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from freezegun import freeze_time

from smart_vault.backup import entry as backup
from smart_vault.errors import ConfigError
from support.backup_world import (
    DR_KEY_ARN,
    DR_REGION,
    PRIMARY_REGION,
    T0,
    CallCounter,
    backup_context,
    fail_operation,
    scheduled_event,
    tags_of,
)

# Tests that freeze time use no topic (the publish fails and is logged): moto's SNS signing state created
# under a frozen clock breaks later deliveries.


RESTORE_METADATA_KEYS = {
    "smart-vault:" + k
    for k in (
        "set-size instance-type architecture platform root-device ena image-id availability-zone subnet-id "
        "security-groups boot-mode key-name instance-profile volume-type delete-on-termination iops throughput"
    ).split()
}


def run(event, context=None):
    return backup.handler(event, context or backup_context())


def test_scheduled_run_snapshots_tagged_instances_and_copies_them_encrypted_to_dr(fleet, inbox):
    gold = fleet.launch("gold", {"Backup-Tier": "Gold", "Name": "web-1"}, volumes=3)
    stopped = fleet.launch("stopped", {"Backup-Tier": "Gold"})
    fleet.ec2.stop_instances(InstanceIds=[stopped])
    untagged = fleet.launch("untagged", {"Name": "scratch"})
    silver = fleet.launch("silver", {"Backup-Tier": "Silver"})
    gone = fleet.launch("terminated", {"Backup-Tier": "Gold"})
    fleet.ec2.terminate_instances(InstanceIds=[gone])

    report = run(scheduled_event("run-1"))

    assert report["status"] == "SUCCEEDED"
    assert report["run_id"] == "run-1"
    by_instance = {i["instance_id"]: i for i in report["instances"]}
    assert set(by_instance) == {gold, stopped}
    assert all(i["status"] == "ok" and i["error"] is None for i in by_instance.values())
    primaries = fleet.managed(PRIMARY_REGION)
    assert sorted(report["snapshots_created"]) == sorted(primaries)
    assert len(primaries) == 4
    assert not {untagged, silver, gone} & {
        tags_of(s)["smart-vault:source-instance"] for s in primaries.values()
    }

    volumes = {v: d for d, v in fleet.volumes_of(gold).items()}
    gold_set = by_instance[gold]["backup_set_id"]
    described = fleet.ec2.describe_instances(InstanceIds=[gold])["Reservations"][0]["Instances"][0]
    kinds = {v["VolumeId"]: v for v in fleet.ec2.describe_volumes(VolumeIds=list(volumes))["Volumes"]}
    for snapshot_id in by_instance[gold]["snapshot_ids"]:
        snap = primaries[snapshot_id]
        tags = tags_of(snap)
        metadata = {k: tags.pop(k) for k in list(tags) if k in RESTORE_METADATA_KEYS}
        assert metadata["smart-vault:set-size"] == "3"
        assert metadata["smart-vault:instance-type"] == described["InstanceType"]
        assert metadata.get("smart-vault:architecture") == described.get("Architecture")
        assert metadata["smart-vault:platform"] == "Linux/UNIX"
        assert metadata["smart-vault:root-device"] == described["RootDeviceName"]
        assert metadata["smart-vault:image-id"] == described["ImageId"]
        assert metadata["smart-vault:subnet-id"] == described["SubnetId"]
        groups = " ".join(g["GroupId"] for g in described["SecurityGroups"])
        assert metadata.get("smart-vault:security-groups") == (groups or None)
        assert metadata["smart-vault:availability-zone"] == described["Placement"]["AvailabilityZone"]
        assert metadata["smart-vault:volume-type"] == kinds[snap["VolumeId"]]["VolumeType"]
        assert metadata["smart-vault:delete-on-termination"] in ("true", "false")
        assert len(tags) + len(metadata) <= 28
        assert tags == {
            "ManagedBy": "smart-vault",
            "Name": "web-1",
            "smart-vault:source-instance": gold,
            "smart-vault:source-volume": snap["VolumeId"],
            "smart-vault:device": volumes[snap["VolumeId"]],
            "smart-vault:backup-set": gold_set,
            "smart-vault:run-id": "run-1",
            "smart-vault:retention-days": "7",
        }
    assert by_instance[stopped]["backup_set_id"] != gold_set

    # moto completes snapshots at once, so the run's own reconciliation already copies them to DR.
    copies = fleet.managed(DR_REGION)
    assert len(copies) == 4 and len(report["copies_started"]) == 4
    assert report["copies_deferred"] == 0
    for started in report["copies_started"]:
        assert started["region"] == DR_REGION
        copy = copies[started["copy_snapshot_id"]]
        source = primaries[started["source_snapshot_id"]]
        assert copy["Encrypted"] is True
        assert copy["KmsKeyId"] == DR_KEY_ARN
        copy_tags = tags_of(copy)
        assert copy_tags["smart-vault:source-snapshot"] == source["SnapshotId"]
        assert copy_tags["smart-vault:source-region"] == PRIMARY_REGION
        expected = {k: v for k, v in tags_of(source).items()}
        expected.update(
            {"smart-vault:source-snapshot": source["SnapshotId"], "smart-vault:source-region": PRIMARY_REGION}
        )
        # (v3) The copy carries the primary's measured change from its creation (a first snapshot: written).
        assert int(copy_tags.pop("smart-vault:changed-bytes")) > 0
        assert copy_tags == expected
    assert report["deleted"] == []


def test_three_volume_instance_costs_one_create_snapshots_three_tags_and_three_copies(fleet, inbox):
    fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=3)
    counter = CallCounter(fleet.ec2, fleet.dr)

    run(scheduled_event("run-calls"))

    assert counter.calls["CreateSnapshots"] == 1
    assert counter.calls["CreateTags"] <= 3
    assert counter.calls["CopySnapshot"] == 3
    assert counter.calls["CreateSnapshot"] == 0
    for params in counter.params["DescribeSnapshots"]:
        assert params["OwnerIds"] == ["self"]
        assert params["MaxResults"] == 1000
        assert "SnapshotIds" not in params
    for params in counter.params["DescribeInstances"]:
        assert params["MaxResults"] == 1000
    for params in counter.params["CopySnapshot"]:
        assert params["SourceRegion"] == PRIMARY_REGION
        assert params["Encrypted"] is True
        assert params["KmsKeyId"] == DR_KEY_ARN
        assert params["TagSpecifications"][0]["ResourceType"] == "snapshot"
    # The copies are started from a DR-region client.
    assert fleet.dr.meta.region_name == DR_REGION


def test_the_same_scheduled_event_twice_creates_one_set_per_instance(fleet, inbox):
    first_instance = fleet.launch("a", {"Backup-Tier": "Gold"}, volumes=2)
    fleet.launch("b", {"Backup-Tier": "Gold"})
    counter = CallCounter(fleet.ec2, fleet.dr)

    first = run(scheduled_event("redelivered"))
    counter.reset()
    second = run(scheduled_event("redelivered"))

    assert counter.calls["CreateSnapshots"] == 0
    assert len(fleet.managed(PRIMARY_REGION)) == 3
    assert len(fleet.managed(DR_REGION)) == 3
    assert [i["status"] for i in second["instances"]] == ["skipped", "skipped"]
    assert second["snapshots_created"] == []
    assert second["copies_started"] == []
    before = {i["instance_id"]: (i["backup_set_id"], sorted(i["snapshot_ids"])) for i in first["instances"]}
    after = {i["instance_id"]: (i["backup_set_id"], sorted(i["snapshot_ids"])) for i in second["instances"]}
    assert before == after and first_instance in after
    assert second["status"] == "SUCCEEDED"


def test_a_new_event_id_is_a_new_run(fleet, inbox):
    fleet.launch("a", {"Backup-Tier": "Gold"})
    run(scheduled_event("day-1"))
    report = run(scheduled_event("day-2"))
    assert [i["status"] for i in report["instances"]] == ["ok"]
    assert len(fleet.managed(PRIMARY_REGION)) == 2


def test_accepted_tag_values_and_key_come_from_the_settings(fleet, inbox, env):
    env.setenv("BACKUP_TAG_KEY", "backup")
    env.setenv("BACKUP_TAG_VALUE", "daily, weekly")
    daily = fleet.launch("daily", {"backup": "daily"})
    weekly = fleet.launch("weekly", {"backup": "weekly"})
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    report = run(scheduled_event("custom-tag"))
    assert {i["instance_id"] for i in report["instances"]} == {daily, weekly}


def test_one_instance_failing_does_not_stop_the_others(fleet, inbox):
    broken = fleet.launch("broken", {"Backup-Tier": "Gold"})
    healthy = fleet.launch("healthy", {"Backup-Tier": "Gold"})
    fail_operation(
        fleet.ec2,
        "CreateSnapshots",
        "UnauthorizedOperation",
        "not allowed",
        when=lambda params: params["InstanceSpecification"]["InstanceId"] == broken,
    )

    report = run(scheduled_event("isolation"))

    by_instance = {i["instance_id"]: i for i in report["instances"]}
    assert by_instance[broken]["status"] == "failed"
    assert "UnauthorizedOperation" in by_instance[broken]["error"]
    assert by_instance[healthy]["status"] == "ok"
    assert report["status"] == "PARTIAL"
    assert report["failures"] == [{"resource": broken, "error": "UnauthorizedOperation: not allowed"}]
    sources = {tags_of(s)["smart-vault:source-instance"] for s in fleet.managed().values()}
    assert sources == {healthy}
    messages = inbox.messages()
    assert len(messages) == 1
    assert messages[0]["Subject"].endswith(": PARTIAL")


def test_every_instance_failing_is_a_failed_run(fleet, inbox):
    fleet.launch("broken", {"Backup-Tier": "Gold"})
    fail_operation(fleet.ec2, "CreateSnapshots", "UnauthorizedOperation", "no")
    report = run(scheduled_event("all-failed"))
    assert report["status"] == "FAILED"
    assert fleet.managed() == {}


def test_manual_run_backs_up_exactly_the_instances_named(fleet, inbox):
    untagged = fleet.launch("untagged")
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    unknown = "i-0123456789abcdef0"

    report = run({"instance_ids": [untagged, unknown]}, backup_context(aws_request_id="req-1"))

    assert report["run_id"] == "manual-req-1"
    by_instance = {i["instance_id"]: i for i in report["instances"]}
    assert by_instance[untagged]["status"] == "ok"
    assert by_instance[unknown]["status"] == "failed"
    assert "not found" in by_instance[unknown]["error"]
    assert report["status"] == "PARTIAL"
    sources = {tags_of(s)["smart-vault:source-instance"] for s in fleet.managed().values()}
    assert sources == {untagged}


def test_manual_run_retried_by_lambda_with_the_same_request_id_is_one_run(fleet, inbox):
    instance = fleet.launch("untagged")
    run({"instance_ids": [instance]}, backup_context(aws_request_id="req-2"))
    again = run({"instance_ids": [instance]}, backup_context(aws_request_id="req-2"))
    assert [i["status"] for i in again["instances"]] == ["skipped"]
    assert len(fleet.managed()) == 1


def test_dry_run_plans_and_reports_but_changes_nothing(fleet):
    instance = fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=2)
    with freeze_time(T0):
        run(scheduled_event("old-run"))
    with freeze_time(T0 + timedelta(days=1)):
        run(scheduled_event("newer-run"))
    # A copy gone before any run recorded it on its primary (v3: a recorded one is never made again).
    newer = [
        s
        for s, snap in fleet.managed(DR_REGION).items()
        if tags_of(snap)["smart-vault:run-id"] == "newer-run"
    ]
    fleet.dr.delete_snapshot(SnapshotId=newer[0])
    primaries_before, copies_before = fleet.managed(PRIMARY_REGION), fleet.managed(DR_REGION)

    with freeze_time(T0 + timedelta(days=30)):
        report = run({"dry_run": True})

    assert report["dry_run"] is True
    assert report["instances"][0]["instance_id"] == instance
    assert report["instances"][0]["status"] == "planned"
    assert report["snapshots_created"] == [] and report["copies_started"] == []
    assert report["copies_deferred"] == 1  # the copy that would start again
    # The old primaries (whose copies are complete) would go; nothing did. In DR the old set stays: with one
    # copy of the newer set gone, it is the instance's newest complete recovery point there (v3).
    assert report["deleted"]
    assert {d["region"] for d in report["deleted"]} == {PRIMARY_REGION}
    assert fleet.managed(PRIMARY_REGION).keys() == primaries_before.keys()
    assert fleet.managed(DR_REGION).keys() == copies_before.keys()


def test_dry_run_setting_forces_dry_runs(fleet, inbox, env):
    env.setenv("DRY_RUN", "true")
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    report = run(scheduled_event("dry-env"))
    assert report["dry_run"] is True and report["instances"][0]["status"] == "planned"
    assert fleet.managed() == {}
    messages = inbox.messages()
    assert len(messages) == 1 and json.loads(messages[0]["Message"])["dry_run"] is True


def test_notification_is_one_json_message_with_subject_and_event_type(fleet, inbox):
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    report = run(scheduled_event("notify-run"))
    messages = inbox.messages()
    assert len(messages) == 1
    message = messages[0]
    assert message["Subject"] == "Smart Vault backup notify-run: SUCCEEDED"
    assert message["MessageAttributes"]["event_type"]["Value"] == "backup.completed"
    assert json.loads(message["Message"]) == report


def test_a_failed_publish_is_logged_and_the_report_still_returned(fleet, env):
    # No topic exists: SNS answers NotFound.
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    report = run(scheduled_event("no-topic"))
    assert report["status"] == "SUCCEEDED"
    assert len(fleet.managed()) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DR_KMS_KEY_ID", None),
        ("DR_REGION", PRIMARY_REGION),
        ("RETENTION_DAYS", "0"),
        ("MAX_CONCURRENT_COPIES", "21"),
    ],
)
def test_invalid_settings_fail_before_any_work(fleet, env, variable, value):
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    if value is None:
        env.delenv(variable)
    else:
        env.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        run(scheduled_event("bad-config"))
    assert raised.value.variable == variable
    assert variable in str(raised.value)
    assert fleet.managed() == {}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"instance_ids": "i-0123456789abcdef0"}, "instance_ids"),
        ({"instance_ids": ["vol-0123456789abcdef0"]}, "instance_ids"),
        ({"dry_run": "true"}, "dry_run"),
        ({"dryrun": True}, "dryrun"),
        ({"source": "aws.s3", "detail-type": "Object Created"}, "source"),
    ],
)
def test_bad_manual_input_gets_a_clear_error_and_changes_nothing(fleet, event, field):
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    answer = run(event)
    assert answer["error"] == "ValidationError"
    assert answer["field"] == field
    assert fleet.managed() == {}


def test_metrics_are_emitted_in_embedded_metric_format(fleet, capsys):
    fleet.launch("gold", {"Backup-Tier": "Gold"}, volumes=2)
    with freeze_time(T0):
        run(scheduled_event("metrics-1"))
    capsys.readouterr()
    with freeze_time(T0 + timedelta(hours=6)):
        run(scheduled_event("metrics-2"))
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {}
    dimensions = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "SmartVault"
            for metric in directive["Metrics"]:
                dims = {d: doc[d] for names in directive["Dimensions"] for d in names}
                if dims.get("Region", PRIMARY_REGION) != PRIMARY_REGION:
                    continue  # the DR region's recovery point age (its own test)
                values[metric["Name"]] = doc[metric["Name"]][0]
                dimensions[metric["Name"]] = dims
    assert values["InstancesProtected"] == 1
    assert values["SnapshotsCreated"] == 2
    assert values["CopiesStarted"] == 2
    assert values["CopiesDeferred"] == 0
    assert values["SnapshotsDeleted"] == 0
    assert values["BackupFailures"] == 0
    # The newest completed snapshot is the one this run just took (moto completes it at once).
    assert values["RecoveryPointAgeSeconds"] == 0
    assert dimensions["RecoveryPointAgeSeconds"]["Region"] == PRIMARY_REGION


def test_recovery_point_age_reports_the_worst_protected_instance(fleet, capsys):
    fleet.launch("gold", {"Backup-Tier": "Gold"})
    with freeze_time(T0):
        run(scheduled_event("rpo-1"))
    fail_operation(fleet.ec2, "CreateSnapshots", "IncorrectState", "boom")
    capsys.readouterr()
    with freeze_time(T0 + timedelta(hours=30)):
        run(scheduled_event("rpo-2"))
    out = capsys.readouterr().out
    ages = {
        json.loads(line)["Region"]: json.loads(line)["RecoveryPointAgeSeconds"][0]
        for line in out.splitlines()
        if "RecoveryPointAgeSeconds" in line
    }
    # The DR copy of the first set is as old as it (moto completes copies at once).
    assert ages == {PRIMARY_REGION: 30 * 3600, DR_REGION: 30 * 3600}
