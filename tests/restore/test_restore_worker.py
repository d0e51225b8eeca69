"""The restore worker end to end: API request, worker invocation, resulting AWS state in both regions (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from smart_vault import aws
from smart_vault.config import RestoreWorkerSettings
from smart_vault.errors import AwsError, ValidationError
from smart_vault.restore import worker as restore_worker
from smart_vault.restore.engine import base as engine_base
from smart_vault.restore.engine import volume_form
from smart_vault.restore.jobs import RestoreJobStore
from support.restore_world import (
    DR_REGION,
    PRIMARY_REGION,
    all_volumes,
    get_restore,
    launch_body,
    live_instances,
    post_restore,
    restored_volumes,
    run_invoked_workers,
    run_worker,
    setup_world,
    sqs_notifications,
)

STEPS_VOLUME_ONLY = ["create_volume", "wait_volume_available"]
STEPS_WITH_INSTANCE = {
    "create_volume",
    "wait_volume_available",
    "launch_instance",
    "wait_instance_running",
    "attach_volume",
    "wait_volume_in_use",
}


class Crash(BaseException):
    """Stands for the Lambda process dying mid-way (timeout, out of memory): nothing in the worker catches it."""


def run_worker_after_the_lease(restore_id: str) -> dict:
    """The worker as Lambda's retry runs it, after the crashed invocation's lease (and deadline) ended."""
    later = datetime.now(UTC) + timedelta(minutes=16)
    return restore_worker.run_restore(
        restore_id,
        worker_settings(),
        store=RestoreJobStore(worker_settings().restore_jobs_table),
        seconds_left=900,
        clock=lambda: later,
    )


@pytest.fixture
def world(moto_aws, monkeypatch):
    return setup_world(monkeypatch)


def start(world, body) -> str:
    answer = post_restore(body)
    assert answer.status == 202, answer.body
    return answer.body["restore_id"]


def on_call(region: str, operation: str, action) -> None:
    """Run `action(params)` before every `operation` call of the worker's EC2 client of `region`."""

    def handler(params, **_):
        action(params)  # returning None keeps the call's parameters as they are

    aws.client("ec2", region).meta.events.register(f"provide-client-params.ec2.{operation}", handler)


def fail_with(code: str, message: str):
    def action(params):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": code, "Message": message}}, "Injected")

    return action


def worker_settings() -> RestoreWorkerSettings:
    return RestoreWorkerSettings.from_env()


def tags_of(resource: dict) -> dict[str, str]:
    return aws.tags_to_dict(resource.get("Tags"))


# ------------------------------------------------------------------------------------------- restores


def test_volume_only_restore_by_availability_zone(world):
    restore_id = start(world, {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone})
    [result] = run_invoked_workers(world.lambda_client)

    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    assert volume["AvailabilityZone"] == world.primary.zone
    assert volume["SnapshotId"] == world.snapshot_id
    assert volume["VolumeType"] == "gp3"
    assert volume["State"] == "available"
    assert live_instances(PRIMARY_REGION) == []
    job = get_restore(restore_id).body
    assert job == result
    assert job["status"] == "SUCCEEDED"
    assert job["volume_id"] == volume["VolumeId"] and job["instance_id"] is None and job["error"] is None
    assert [s["name"] for s in job["steps"]] == STEPS_VOLUME_ONLY
    assert all(s["status"] == "SUCCEEDED" and s["finished_at"] for s in job["steps"])


def test_volume_only_restore_by_subnet_uses_the_subnets_zone(world):
    restore_id = start(world, {"snapshot_id": world.snapshot_id, "subnet_id": world.primary.other_subnet_id})
    run_invoked_workers(world.lambda_client)

    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    assert volume["AvailabilityZone"] == world.primary.other_zone
    assert live_instances(PRIMARY_REGION) == []
    assert get_restore(restore_id).body["status"] == "SUCCEEDED"


def test_instance_restore_launches_and_attaches_the_volume(world):
    restore_id = start(world, launch_body(world, instance_type="t3.small", device_name="/dev/sdg"))
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert job["status"] == "SUCCEEDED", job["error"]
    [instance] = live_instances(PRIMARY_REGION)
    assert instance["InstanceId"] == job["instance_id"]
    assert instance["InstanceType"] == "t3.small"
    assert instance["SubnetId"] == world.primary.subnet_id
    assert instance["ImageId"] == world.primary.ami_id
    assert instance["State"]["Name"] == "running"
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    assert volume["VolumeId"] == job["volume_id"]
    assert volume["State"] == "in-use"
    [attachment] = volume["Attachments"]
    assert (attachment["InstanceId"], attachment["Device"]) == (instance["InstanceId"], "/dev/sdg")
    assert {s["name"] for s in job["steps"]} == STEPS_WITH_INSTANCE
    assert [s["name"] for s in job["steps"]][-2:] == ["attach_volume", "wait_volume_in_use"]


def test_restored_volume_and_instance_carry_the_restore_tags(world):
    restore_id = start(world, launch_body(world))
    run_invoked_workers(world.lambda_client)

    expected = {
        "ManagedBy": "smart-vault",
        "smart-vault:restore-id": restore_id,
        "smart-vault:source-snapshot": world.snapshot_id,
    }
    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    [instance] = live_instances(PRIMARY_REGION)
    assert tags_of(volume) == expected
    assert tags_of(instance) == expected


def test_restore_in_the_dr_region_from_the_dr_copy(world):
    primary_volumes_before = len(all_volumes(PRIMARY_REGION))
    restore_id = start(
        world,
        {
            "snapshot_id": world.dr_snapshot_id,
            "region": DR_REGION,
            "launch_instance": True,
            "ami_id": world.dr.ami_id,
            "subnet_id": world.dr.subnet_id,
        },
    )
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert (job["status"], job["region"]) == ("SUCCEEDED", DR_REGION)
    [volume] = restored_volumes(DR_REGION, restore_id)
    assert volume["SnapshotId"] == world.dr_snapshot_id
    assert volume["AvailabilityZone"] == world.dr.zone
    assert tags_of(volume)["smart-vault:source-snapshot"] == world.dr_snapshot_id
    [instance] = live_instances(DR_REGION)
    assert instance["InstanceId"] == job["instance_id"]
    # Nothing happened in the primary region.
    assert len(all_volumes(PRIMARY_REGION)) == primary_volumes_before
    assert live_instances(PRIMARY_REGION) == []


@pytest.mark.parametrize(("volume_type", "size", "iops"), [("st1", 125, None), ("io2", 8, 400)])
def test_volume_types_with_minimums_get_a_valid_size_and_iops(world, volume_type, size, iops):
    restore_id = start(
        world,
        {
            "snapshot_id": world.snapshot_id,
            "availability_zone": world.primary.zone,
            "volume_type": volume_type,
        },
    )
    run_invoked_workers(world.lambda_client)
    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    assert (volume["VolumeType"], volume["Size"], volume.get("Iops") if iops else None) == (
        volume_type,
        size,
        iops,
    )


# ------------------------------------------------------------------------------ status and notification


def test_get_shows_every_state_of_a_restore(world):
    restore_id = start(world, launch_body(world))
    seen_while_running: list[dict] = []
    on_call(
        PRIMARY_REGION, "AttachVolume", lambda params: seen_while_running.append(get_restore(restore_id).body)
    )

    assert get_restore(restore_id).body["status"] == "PENDING"
    run_invoked_workers(world.lambda_client)

    [running] = seen_while_running
    assert running["status"] == "RUNNING"
    assert running["volume_id"] and running["instance_id"]
    assert running["steps"][-1] == {**running["steps"][-1], "name": "attach_volume", "status": "RUNNING"}
    assert running["steps"][-1]["finished_at"] is None
    assert get_restore(restore_id).body["status"] == "SUCCEEDED"

    failing_id = start(world, launch_body(world))
    on_call(PRIMARY_REGION, "AttachVolume", fail_with("IncorrectState", "injected"))
    run_invoked_workers(world.lambda_client)
    assert get_restore(failing_id).body["status"] == "FAILED"


def test_the_finished_job_reaches_an_sqs_subscriber_as_json(world):
    restore_id = start(world, launch_body(world))
    run_invoked_workers(world.lambda_client)

    [envelope] = sqs_notifications(world.queue_url)
    assert envelope["Subject"] == f"Smart Vault restore {restore_id}: SUCCEEDED"
    assert envelope["MessageAttributes"]["event_type"]["Value"] == "restore.completed"
    assert json.loads(envelope["Message"]) == get_restore(restore_id).body


def test_metrics_are_emitted_for_each_outcome(world, capsys):
    start(world, launch_body(world))
    run_invoked_workers(world.lambda_client)
    start(world, launch_body(world))
    on_call(PRIMARY_REGION, "AttachVolume", fail_with("IncorrectState", "injected"))
    run_invoked_workers(world.lambda_client)

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = [m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert names.count("RestoreSucceeded") == 1
    assert names.count("RestoreFailed") == 1
    assert names.count("RestoreDurationSeconds") == 2
    assert all(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SmartVault" for doc in emitted)


# ------------------------------------------------------------------------------------- idempotency


def test_a_worker_invoked_twice_in_a_row_creates_one_volume_and_one_instance(world):
    restore_id = start(world, launch_body(world))
    first = run_worker(restore_id)
    second = run_worker(restore_id)

    assert first == second
    assert first["status"] == "SUCCEEDED"
    assert len(restored_volumes(PRIMARY_REGION, restore_id)) == 1
    assert len(live_instances(PRIMARY_REGION)) == 1
    assert len(sqs_notifications(world.queue_url)) == 1  # the no-op run notifies nobody


@pytest.mark.parametrize("crash_before", ["AttachVolume", "DescribeInstances"])
def test_a_worker_retried_after_a_crash_mid_way_ends_with_one_volume_and_one_instance(world, crash_before):
    restore_id = start(world, launch_body(world))
    crashed = []

    def crash_once(params):
        if not crashed:
            crashed.append(True)
            raise Crash()

    on_call(PRIMARY_REGION, crash_before, crash_once)
    with pytest.raises(Crash):
        run_worker(restore_id)
    assert get_restore(restore_id).body["status"] == "RUNNING"

    # Lambda retries after the crashed invocation's deadline: the lease it held has ended by then.
    job = run_worker_after_the_lease(restore_id)

    assert job["status"] == "SUCCEEDED", job["error"]
    assert len(restored_volumes(PRIMARY_REGION, restore_id)) == 1
    assert len(live_instances(PRIMARY_REGION)) == 1
    statuses = [s["status"] for s in job["steps"]]
    assert "INTERRUPTED" in statuses and "RUNNING" not in statuses


def test_a_worker_failing_unexpectedly_hands_the_job_to_lambdas_retry(world):
    restore_id = start(world, launch_body(world))
    dynamodb = aws.client("dynamodb")

    def final_write_throttled(params, **_):
        # Only the final write removes the lease; it fails as if DynamoDB throttled beyond every retry.
        if " REMOVE " in params.get("UpdateExpression", ""):
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "UpdateItem",
            )

    dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", final_write_throttled)
    with pytest.raises(AwsError):
        run_worker(restore_id)
    dynamodb.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", final_write_throttled)
    assert get_restore(restore_id).body["status"] == "RUNNING"

    # Lambda's retry comes a minute or two later, well within the failed invocation's 15 minutes: it must not
    # wait for that invocation's lease, and must reuse what it created.
    retried = run_worker(restore_id)
    assert retried["status"] == "SUCCEEDED"
    assert len(restored_volumes(PRIMARY_REGION, restore_id)) == 1
    assert len(live_instances(PRIMARY_REGION)) == 1
    assert len(sqs_notifications(world.queue_url)) == 1


def test_a_crash_right_after_create_volume_is_recovered_without_a_second_volume(world):
    restore_id = start(world, {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone})
    ec2 = aws.client("ec2", PRIMARY_REGION)

    def crash_after_create(**_):
        raise Crash()

    # The volume exists, but the worker dies before it can record its id on the job.
    ec2.meta.events.register_first("after-call.ec2.CreateVolume", crash_after_create)
    with pytest.raises(Crash):
        run_worker(restore_id)
    ec2.meta.events.unregister("after-call.ec2.CreateVolume", crash_after_create)
    assert get_restore(restore_id).body["volume_id"] is None
    assert len(restored_volumes(PRIMARY_REGION, restore_id)) == 1

    job = run_worker_after_the_lease(restore_id)
    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    assert job["status"] == "SUCCEEDED" and job["volume_id"] == volume["VolumeId"]


def test_a_second_worker_while_the_first_holds_the_job_does_nothing(world):
    restore_id = start(world, launch_body(world))
    second_results = []
    on_call(
        PRIMARY_REGION,
        "AttachVolume",
        lambda params: second_results.append(run_worker(restore_id)) if not second_results else None,
    )
    first = run_worker(restore_id)

    [second] = second_results
    assert second["status"] == "RUNNING"  # it saw the job held by the first worker and left it alone
    assert first["status"] == "SUCCEEDED"
    assert len(restored_volumes(PRIMARY_REGION, restore_id)) == 1
    assert len(live_instances(PRIMARY_REGION)) == 1
    assert len(sqs_notifications(world.queue_url)) == 1


def test_every_create_call_carries_a_client_token_derived_from_the_restore_id(world):
    restore_id = start(world, launch_body(world))
    tokens = {}
    on_call(
        PRIMARY_REGION, "CreateVolume", lambda params: tokens.setdefault("volume", params.get("ClientToken"))
    )
    on_call(
        PRIMARY_REGION,
        "RunInstances",
        lambda params: tokens.setdefault("instance", params.get("ClientToken")),
    )
    run_worker(restore_id)
    from smart_vault.restore.engine import client_token

    assert tokens == {
        "volume": client_token(restore_id, "volume"),
        "instance": client_token(restore_id, "instance"),
    }


# ---------------------------------------------------------------------------------------- failures


def test_a_failure_at_attach_leaves_nothing_behind_and_a_failed_job(world):
    restore_id = start(world, launch_body(world))
    on_call(
        PRIMARY_REGION, "AttachVolume", fail_with("VolumeInUse", "vol is already attached to an instance")
    )
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert job["status"] == "FAILED"
    assert job["error"] == "attach_volume failed: VolumeInUse: vol is already attached to an instance"
    assert restored_volumes(PRIMARY_REGION, restore_id) == []
    assert live_instances(PRIMARY_REGION) == []
    assert [(s["name"], s["status"]) for s in job["steps"]][-2:] == [
        ("attach_volume", "FAILED"),
        ("rollback", "SUCCEEDED"),
    ]
    [envelope] = sqs_notifications(world.queue_url)
    assert envelope["Subject"].endswith(": FAILED")
    assert json.loads(envelope["Message"])["error"] == job["error"]


def test_a_failure_after_attach_detaches_and_removes_everything(world, monkeypatch):
    restore_id = start(world, launch_body(world))

    def in_use_never_reached(ec2, volume_id, budget_seconds):
        raise AwsError(
            "WaiterError", "Waiter VolumeInUse failed: Max attempts exceeded", "wait volume_in_use"
        )

    monkeypatch.setattr(volume_form, "wait_volume_attached", in_use_never_reached)
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert job["status"] == "FAILED"
    assert (
        job["error"]
        == "wait_volume_in_use failed: WaiterError: Waiter VolumeInUse failed: Max attempts exceeded"
    )
    assert restored_volumes(PRIMARY_REGION, restore_id) == []
    assert live_instances(PRIMARY_REGION) == []
    assert job["steps"][-1]["name"] == "rollback" and job["steps"][-1]["status"] == "SUCCEEDED"


def test_keep_on_failure_keeps_what_was_created(world):
    restore_id = start(world, launch_body(world, keep_on_failure=True))
    on_call(PRIMARY_REGION, "AttachVolume", fail_with("IncorrectState", "injected"))
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert job["status"] == "FAILED"
    assert "rollback" not in [s["name"] for s in job["steps"]]
    assert [v["VolumeId"] for v in restored_volumes(PRIMARY_REGION, restore_id)] == [job["volume_id"]]
    assert [i["InstanceId"] for i in live_instances(PRIMARY_REGION)] == [job["instance_id"]]


def test_a_failed_launch_removes_the_volume_created_beside_it(world, monkeypatch):
    monkeypatch.setattr(engine_base, "CAPACITY_RETRY_SECONDS", (0.0,))  # asked again once, at once
    restore_id = start(world, launch_body(world))
    on_call(PRIMARY_REGION, "RunInstances", fail_with("InsufficientInstanceCapacity", "no t3.micro capacity"))
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert job["status"] == "FAILED"
    assert job["error"] == "launch_instance failed: InsufficientInstanceCapacity: no t3.micro capacity"
    assert job["instance_id"] is None
    assert restored_volumes(PRIMARY_REGION, restore_id) == []


def test_waits_stop_before_the_lambdas_time_runs_out(world):
    restore_id = start(world, launch_body(world))

    def never_running(parsed, **_):
        for reservation in parsed.get("Reservations", []):
            for instance in reservation["Instances"]:
                instance["State"] = {"Code": 0, "Name": "pending"}

    aws.client("ec2", PRIMARY_REGION).meta.events.register("after-call.ec2.DescribeInstances", never_running)
    started = datetime.now(UTC)
    job = run_worker(restore_id, remaining_ms=8_000)

    assert (datetime.now(UTC) - started).total_seconds() < 8
    assert job["status"] == "FAILED"
    assert job["error"].startswith("wait_instance_running failed: WaiterError")
    assert restored_volumes(PRIMARY_REGION, restore_id) == []


def test_a_rollback_that_cannot_finish_says_what_was_left_behind(world):
    restore_id = start(world, launch_body(world))
    on_call(PRIMARY_REGION, "AttachVolume", fail_with("IncorrectState", "injected"))
    on_call(PRIMARY_REGION, "TerminateInstances", fail_with("UnauthorizedOperation", "not allowed"))
    run_invoked_workers(world.lambda_client)

    job = get_restore(restore_id).body
    assert job["status"] == "FAILED"
    assert (
        f"instance {job['instance_id']} was not terminated (UnauthorizedOperation: not allowed)"
        in job["error"]
    )
    assert job["steps"][-1] == {**job["steps"][-1], "name": "rollback", "status": "FAILED"}


def test_an_unknown_or_malformed_restore_id_creates_nothing(world):
    volumes_before = len(all_volumes(PRIMARY_REGION))
    assert run_worker("00000000-0000-4000-8000-000000000000") is None
    with pytest.raises(ValidationError):
        run_worker("../etc")
    assert len(all_volumes(PRIMARY_REGION)) == volumes_before


def test_a_notification_failure_does_not_change_the_outcome(world, monkeypatch):
    restore_id = start(world, {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone})
    boto3.client("sns", PRIMARY_REGION).delete_topic(TopicArn=world.topic_arn)
    run_invoked_workers(world.lambda_client)
    assert get_restore(restore_id).body["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("RunInstances", "InvalidAMIID.NotFound"),
        ("CreateVolume", "InvalidSnapshot.NotFound"),
        ("AttachVolume", "InvalidVolume.NotFound"),
        ("AttachVolume", "InvalidInstanceID.NotFound"),
    ],
)
def test_a_create_answering_not_found_right_after_a_create_is_retried(world, operation, code):
    """(v3) EC2 is eventually consistent: the volume form's creates retry a NotFound, then succeed."""
    left = {"calls": 2}

    def twice(params):
        left["calls"] -= 1
        if left["calls"] >= 0:
            fail_with(code, "does not exist")(params)

    restore_id = start(world, launch_body(world, instance_type="t3.small", device_name="/dev/sdg"))
    on_call(PRIMARY_REGION, operation, twice)
    now = [0.0]
    aws.set_clock(lambda: now[0], lambda s: now.__setitem__(0, now[0] + s))
    try:
        run_invoked_workers(world.lambda_client)
    finally:
        aws.set_clock(None, None)
    job = get_restore(restore_id).body
    assert job["status"] == "SUCCEEDED", job["error"]
    assert left["calls"] < 0
    assert [i["InstanceId"] for i in live_instances(PRIMARY_REGION)] == [job["instance_id"]]
