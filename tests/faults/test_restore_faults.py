"""Restore under faults: DynamoDB failing in the API, the worker failing at each step, the worker killed and
invoked again, two workers on one restore at once. Each test checks the end state: EC2 in both regions, the
job record, the API's answer and the notification the SQS subscriber of the topic received."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from freezegun import freeze_time

from smart_vault import aws
from smart_vault.aws import MAX_ATTEMPTS
from smart_vault.restore.engine import base as engine_base
from smart_vault.restore.jobs import ABANDONED_AFTER, ABANDONED_ERROR
from support.injection import Fault, WorkerKilled, assert_readable, atomic_moto
from support.restore_world import (
    DR_REGION,
    IDEMPOTENCY_TABLE,
    JOBS_TABLE,
    PRIMARY_REGION,
    FakeLambdaContext,
    api_event,
    call_api,
    get_restore,
    launch_body,
    live_instances,
    post_restore,
    restored_volumes,
    run_worker,
    sqs_notifications,
)

REGIONS = (PRIMARY_REGION, DR_REGION)
ALL_ATTEMPTS = MAX_ATTEMPTS + 1  # botocore's max_attempts counts retries after the first attempt


def accepted_restore(world, body) -> str:
    answer = post_restore(body)
    assert answer.status == 202, answer.body
    [payload] = world.lambda_client.payloads()
    world.lambda_client.invocations.clear()
    return payload["restore_id"]


def table_count(table: str) -> int:
    return boto3.client("dynamodb", PRIMARY_REGION).scan(TableName=table, Select="COUNT")["Count"]


def restore_instances(region: str, restore_id: str) -> list[dict]:
    return [
        i
        for i in live_instances(region)
        if aws.tags_to_dict(i.get("Tags")).get("smart-vault:restore-id") == restore_id
    ]


def assert_nothing_restored_anywhere() -> None:
    for region in REGIONS:
        assert restored_volumes(region) == [], region
        assert live_instances(region) == [], region


def assert_snapshots_untouched(world) -> None:
    primary = boto3.client("ec2", PRIMARY_REGION).describe_snapshots(SnapshotIds=[world.snapshot_id])
    dr = boto3.client("ec2", DR_REGION).describe_snapshots(SnapshotIds=[world.dr_snapshot_id])
    assert primary["Snapshots"][0]["State"] == dr["Snapshots"][0]["State"] == "completed"


def the_notification(world) -> tuple[dict, dict]:
    """The one restore notification the topic's SQS subscriber got: (SNS envelope, JSON document)."""
    [envelope] = sqs_notifications(world.queue_url)
    assert envelope["Subject"].startswith("Smart Vault restore")
    assert envelope["MessageAttributes"]["event_type"]["Value"] == "restore.completed"
    return envelope, json.loads(envelope["Message"])


# ------------------------------------------------------------------------------- DynamoDB failing in the API


@pytest.mark.parametrize(
    ("code", "status", "idempotency_key"),
    [
        ("InternalServerError", 500, None),  # retried until the attempts run out, then fails
        ("ProvisionedThroughputExceededException", 400, "retry-safe-key-1"),  # throttled past every retry
        ("AccessDeniedException", 400, None),  # not retried at all
    ],
    ids=["server-error", "throttled-with-idempotency-key", "access-denied"],
)
def test_dynamodb_failing_in_the_api_answers_500_with_a_request_id_and_starts_nothing(
    world, faults, code, status, idempotency_key
):
    faults.add(Fault(code, service="dynamodb", status=status))
    context = FakeLambdaContext()
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    event = api_event("POST", "/restore", launch_body(world, device_name="/dev/sdg"), headers=headers)

    answer = call_api(event, context)

    assert answer.status == 500
    assert answer.headers["Content-Type"] == "application/json"
    assert set(answer.body) == {"error", "message", "request_id"}
    assert answer.body["error"] == "InternalError"
    assert answer.body["request_id"] == context.aws_request_id
    assert_readable(answer.body["message"])
    assert code not in answer.body["message"]
    assert faults.count(code) >= 1
    assert world.lambda_client.invocations == []
    assert table_count(JOBS_TABLE) == 0
    assert table_count(IDEMPOTENCY_TABLE) == 0
    assert_nothing_restored_anywhere()
    assert sqs_notifications(world.queue_url) == []


def test_dynamodb_failing_on_get_answers_500_with_a_request_id(world, faults):
    restore_id = accepted_restore(world, launch_body(world, device_name="/dev/sdg"))
    faults.add(Fault("InternalServerError", service="dynamodb", status=500))
    context = FakeLambdaContext()

    answer = call_api(api_event("GET", f"/restore/{restore_id}"), context)

    assert answer.status == 500
    assert answer.body == {
        "error": "InternalError",
        "message": answer.body["message"],
        "request_id": context.aws_request_id,
    }
    assert_readable(answer.body["message"])
    assert faults.count("InternalServerError") == ALL_ATTEMPTS


# ------------------------------------------------------------------------- the worker failing at each step


def waiter_poll(operation: str, id_param: str, after: str | None = None):
    """Faults on the calls a waiter makes (Describe* by id), optionally only once `after` was called."""

    def matches(call) -> bool:
        return f"{id_param}.1=" in call and (after is None or f"ec2.{after}" in call.history)

    return Fault(
        "InternalError", service="ec2", operation=operation, status=500, when=matches, max_faults=ALL_ATTEMPTS
    )


STEP_FAULTS = {
    "create_volume": lambda: Fault("VolumeLimitExceeded", service="ec2", operation="CreateVolume"),
    "wait_volume_available": lambda: waiter_poll("DescribeVolumes", "VolumeId"),
    # Every attempt of both launches (the engine asks again once on no capacity: CAPACITY_RETRY_SECONDS below).
    "launch_instance": lambda: Fault(
        "InsufficientInstanceCapacity",
        service="ec2",
        operation="RunInstances",
        status=500,
        max_faults=2 * ALL_ATTEMPTS,
    ),
    "wait_instance_running": lambda: waiter_poll("DescribeInstances", "InstanceId"),
    "attach_volume": lambda: Fault("IncorrectState", service="ec2", operation="AttachVolume"),
    "wait_volume_in_use": lambda: waiter_poll("DescribeVolumes", "VolumeId", after="AttachVolume"),
}


@pytest.mark.parametrize("step", list(STEP_FAULTS))
def test_the_worker_failing_at_each_step_leaves_nothing_and_fails_the_job(world, faults, step, monkeypatch):
    monkeypatch.setattr(engine_base, "CAPACITY_RETRY_SECONDS", (0.0,))  # a launch asks again once, at once
    restore_id = accepted_restore(world, launch_body(world, device_name="/dev/sdg"))
    fault = faults.add(STEP_FAULTS[step]())

    result = run_worker(restore_id)

    assert fault.injected >= 1
    job = get_restore(restore_id).body
    assert result["status"] == job["status"] == "FAILED"
    assert_readable(job["error"])
    assert step in job["error"]
    steps = {s["name"]: s["status"] for s in job["steps"]}
    assert steps[step] == "FAILED"
    assert steps.get("rollback", "SUCCEEDED") == "SUCCEEDED"
    assert all(s["finished_at"] for s in job["steps"])
    assert_nothing_restored_anywhere()
    assert_snapshots_untouched(world)
    envelope, document = the_notification(world)
    assert envelope["Subject"].endswith(": FAILED")
    assert document["restore_id"] == restore_id
    assert document["status"] == "FAILED"
    assert_readable(document["error"])


# ------------------------------------------------------------------------ the worker killed and run again


@pytest.mark.parametrize(
    ("operation", "after"),
    [("CreateVolume", True), ("RunInstances", True), ("AttachVolume", True)],
    ids=["after-create-volume", "after-run-instances", "after-attach"],
)
def test_a_worker_killed_mid_way_and_invoked_again_ends_with_one_volume_and_one_instance(
    world, faults, operation, after
):
    with freeze_time(datetime.now(UTC), tick=True) as clock:
        restore_id = accepted_restore(world, launch_body(world, device_name="/dev/sdg"))
        faults.interrupt("ec2", operation, after=after)

        with pytest.raises(WorkerKilled):
            run_worker(restore_id, remaining_ms=60_000)
        assert get_restore(restore_id).body["status"] == "RUNNING"
        assert sqs_notifications(world.queue_url) == []

        # Lambda retries the event once the killed invocation's time is up, so its lease has ended too.
        clock.tick(timedelta(minutes=3))
        result = run_worker(restore_id)

    job = get_restore(restore_id).body
    assert result["status"] == job["status"] == "SUCCEEDED", job
    [volume] = restored_volumes(PRIMARY_REGION, restore_id)
    [instance] = restore_instances(PRIMARY_REGION, restore_id)
    assert (job["volume_id"], job["instance_id"]) == (volume["VolumeId"], instance["InstanceId"])
    assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [
        (instance["InstanceId"], "/dev/sdg")
    ]
    assert len(live_instances(PRIMARY_REGION)) == 1
    assert restored_volumes(DR_REGION) == [] and live_instances(DR_REGION) == []
    envelope, document = the_notification(world)
    assert envelope["Subject"].endswith(": SUCCEEDED")
    assert document["volume_id"] == volume["VolumeId"]


def test_a_restore_whose_every_worker_died_is_failed_by_get_once_no_worker_can_finish_it(
    world, faults, capsys
):
    """Lambda gives up on the worker's event after its retries (into the dead-letter queue): the job would
    say RUNNING for the month it is kept. Once no attempt can still be running, GET finishes it FAILED, with
    why and with what was created; a late worker then leaves it alone."""
    with freeze_time(datetime.now(UTC), tick=True) as clock:
        restore_id = accepted_restore(world, launch_body(world, device_name="/dev/sdg"))
        faults.interrupt("ec2", "RunInstances", after=True)
        with pytest.raises(WorkerKilled):
            run_worker(restore_id, remaining_ms=60_000)
        clock.tick(ABANDONED_AFTER - timedelta(minutes=2))
        assert get_restore(restore_id).body["status"] == "RUNNING"  # an attempt may still be running

        clock.tick(timedelta(minutes=3))
        capsys.readouterr()
        job = get_restore(restore_id).body
        emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        counted = [m for m in emitted if "RestoreFailed" in m]
        assert [(m["RestoreFailed"], m["service"]) for m in counted] == [
            ([1.0], "smart-vault")
        ]  # as the worker
        assert job["status"] == "FAILED" and job["error"] == ABANDONED_ERROR
        assert job["volume_id"] and [s["status"] for s in job["steps"] if s["status"] == "RUNNING"] == []
        assert get_restore(restore_id).body == job  # finished once: a second GET changes nothing
        assert "RestoreFailed" not in capsys.readouterr().out  # and counts nothing
        assert run_worker(restore_id) == job and get_restore(restore_id).body == job


# ------------------------------------------------------------------------ two workers on one restore at once


@pytest.mark.parametrize("launch", [True, False], ids=["with-instance", "volume-only"])
def test_two_workers_running_the_same_restore_at_once_create_one_volume_and_at_most_one_instance(
    world, faults, monkeypatch, launch
):
    atomic_moto(monkeypatch)
    body = (
        launch_body(world, device_name="/dev/sdg")
        if launch
        else {"snapshot_id": world.snapshot_id, "subnet_id": world.primary.subnet_id}
    )
    restore_id = accepted_restore(world, body)
    # Both workers reach the claim together: the first two UpdateItem calls (the claims) wait for each other.
    both_ready = threading.Barrier(2, timeout=30)
    claims = itertools.count(1)

    def meet_at_claim(**_):
        if next(claims) <= 2:
            both_ready.wait()

    aws.client("dynamodb").meta.events.register("before-call.dynamodb.UpdateItem", meet_at_claim)
    results: list = [None, None]
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            results[slot] = run_worker(restore_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    job = get_restore(restore_id).body
    assert job["status"] == "SUCCEEDED", job
    assert len(restored_volumes(PRIMARY_REGION, restore_id)) == 1
    assert len(restore_instances(PRIMARY_REGION, restore_id)) == (1 if launch else 0)
    assert restored_volumes(DR_REGION) == [] and live_instances(DR_REGION) == []
    # One worker did the restore; the other found the job held and left it alone (one notification).
    assert "SUCCEEDED" in [r["status"] for r in results]
    envelope, _ = the_notification(world)
    assert envelope["Subject"].endswith(": SUCCEEDED")
