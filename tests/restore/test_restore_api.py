"""The restore API end to end through its Lambda handler, on API Gateway REST proxy events, against moto."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.backends import get_backend

from smart_vault import aws
from smart_vault.restore.request import MAX_BODY_BYTES
from support.restore_world import (
    DR_REGION,
    JOBS_TABLE,
    PRIMARY_REGION,
    WORKER_FUNCTION,
    FakeLambdaClient,
    FakeLambdaContext,
    all_volumes,
    api_event,
    call_api,
    get_restore,
    live_instances,
    post_restore,
    route_lambda_to,
    setup_world,
)


@pytest.fixture
def world(moto_aws, monkeypatch):
    return setup_world(monkeypatch)


def volume_only(world, **extra):
    return {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone, **extra}


def job_count() -> int:
    return boto3.client("dynamodb", PRIMARY_REGION).scan(TableName=JOBS_TABLE, Select="COUNT")["Count"]


def assert_nothing_started(world, volumes_before: int) -> None:
    assert world.lambda_client.invocations == []
    assert job_count() == 0
    assert len(all_volumes(PRIMARY_REGION)) == volumes_before
    assert live_instances(PRIMARY_REGION) == []


# ------------------------------------------------------------------------------------------------ 202


def test_post_answers_202_with_a_pending_job_and_starts_the_worker(world):
    answer = post_restore(volume_only(world))

    assert answer.status == 202
    assert answer.headers["Content-Type"] == "application/json"
    restore_id = answer.body["restore_id"]
    assert answer.body == {
        "restore_id": restore_id,
        "status": "PENDING",
        "status_url": f"/restore/{restore_id}",
    }
    assert restore_id == str(uuid.UUID(restore_id))  # lowercase canonical UUID
    assert answer.headers["Location"] == f"/v1/restore/{restore_id}"  # the stage the caller used
    [invocation] = world.lambda_client.invocations
    assert invocation["FunctionName"] == WORKER_FUNCTION
    assert invocation["InvocationType"] == "Event"
    assert json.loads(invocation["Payload"]) == {"restore_id": restore_id}
    job = get_restore(restore_id)
    assert job.status == 200
    assert job.body["status"] == "PENDING"
    assert job.body["region"] == PRIMARY_REGION
    assert job.body["request"]["availability_zone"] == world.primary.zone
    assert job.body["steps"] == [] and job.body["volume_id"] is None


def test_a_dr_region_restore_is_checked_and_recorded_in_the_dr_region(world):
    answer = post_restore(
        {"snapshot_id": world.dr_snapshot_id, "region": DR_REGION, "subnet_id": world.dr.other_subnet_id}
    )
    assert answer.status == 202
    job = get_restore(answer.body["restore_id"]).body
    assert job["region"] == DR_REGION
    assert job["request"]["availability_zone"] == world.dr.other_zone  # resolved from the subnet


def test_the_primary_snapshot_is_not_found_in_the_dr_region(world):
    answer = post_restore(
        {"snapshot_id": world.snapshot_id, "region": DR_REGION, "availability_zone": "eu-central-1a"}
    )
    assert (answer.status, answer.body["error"]) == (404, "SnapshotNotFound")


def test_a_base64_encoded_body_is_accepted(world):
    event = api_event("POST", "/restore", base64_body=json.dumps(volume_only(world)).encode())
    assert call_api(event).status == 202


# ------------------------------------------------------------------------------------------------ 400


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda w: volume_only(w, launch_instance="true"), "launch_instance"),
        (lambda w: volume_only(w, keep_on_failure="false"), "keep_on_failure"),
        (lambda w: volume_only(w, colour="blue"), "colour"),
        (lambda w: [volume_only(w)], None),
        (lambda w: 42, None),
        (lambda w: "snap-0123456789abcdef0", None),
        (lambda w: {"availability_zone": w.primary.zone}, "snapshot_id"),
        (lambda w: volume_only(w, snapshot_id="snap-NOTHEX!"), "snapshot_id"),
        (lambda w: volume_only(w, region="us-east-1"), "region"),
        (lambda w: volume_only(w, volume_type="gp9"), "volume_type"),
        (lambda w: volume_only(w, device_name="/dev/sda1"), "device_name"),
        (lambda w: {"snapshot_id": w.snapshot_id}, "availability_zone"),
        (
            lambda w: {
                "snapshot_id": w.snapshot_id,
                "launch_instance": True,
                "subnet_id": w.primary.subnet_id,
            },
            "ami_id",
        ),
        (
            lambda w: {
                "snapshot_id": w.snapshot_id,
                "launch_instance": True,
                "ami_id": w.primary.ami_id,
                "subnet_id": w.primary.subnet_id,
                "instance_type": "m7i.48xlarge",
            },
            "instance_type",
        ),
    ],
)
def test_invalid_bodies_answer_400_naming_the_field(world, make_body, field):
    volumes_before = len(all_volumes(PRIMARY_REGION))
    answer = post_restore(make_body(world))
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body["error"] == "ValidationError"
    assert answer.body["field"] == field
    assert set(answer.body) == {"error", "message", "field"}
    assert_nothing_started(world, volumes_before)


@pytest.mark.parametrize(
    "raw_body",
    [None, "", "not json at all", "{'snapshot_id': 'single quotes'}", '{"snapshot_id": NaN}', "{" * 20],
)
def test_unparsable_or_empty_bodies_answer_400(world, raw_body):
    event = api_event("POST", "/restore")
    event["body"] = raw_body
    answer = call_api(event)
    assert (answer.status, answer.body["error"], answer.body["field"]) == (400, "ValidationError", None)


def test_an_oversized_body_answers_400(world):
    body = json.dumps(volume_only(world)) + " " * MAX_BODY_BYTES
    answer = call_api(api_event("POST", "/restore", raw_body=body))
    assert (answer.status, answer.body["error"]) == (400, "ValidationError")
    assert "larger than" in answer.body["message"]


def test_invalid_base64_and_non_utf8_bodies_answer_400(world):
    event = api_event("POST", "/restore", base64_body=b"\xff\xfe\x00")
    assert call_api(event).status == 400
    event["body"] = "!!!not base64!!!"
    assert call_api(event).status == 400


def test_an_unknown_ami_answers_400(world):
    answer = post_restore(
        {
            "snapshot_id": world.snapshot_id,
            "launch_instance": True,
            "ami_id": "ami-0123456789abcdef0",
            "subnet_id": world.primary.subnet_id,
        }
    )
    assert (answer.status, answer.body["field"]) == (400, "ami_id")


def test_the_dr_regions_ami_is_unknown_in_the_primary_region(world):
    answer = post_restore(
        {
            "snapshot_id": world.snapshot_id,
            "launch_instance": True,
            "ami_id": world.dr.ami_id,
            "subnet_id": world.primary.subnet_id,
        }
    )
    assert (answer.status, answer.body["field"]) == (400, "ami_id")


def test_an_unknown_subnet_answers_400(world):
    answer = post_restore({"snapshot_id": world.snapshot_id, "subnet_id": "subnet-0123456789abcdef0"})
    assert (answer.status, answer.body["field"]) == (400, "subnet_id")


def test_a_subnet_outside_the_allowlist_answers_400(world, monkeypatch):
    monkeypatch.setenv("ALLOWED_SUBNET_IDS", world.primary.other_subnet_id)
    answer = post_restore({"snapshot_id": world.snapshot_id, "subnet_id": world.primary.subnet_id})
    assert (answer.status, answer.body["field"]) == (400, "subnet_id")
    assert (
        post_restore({"snapshot_id": world.snapshot_id, "subnet_id": world.primary.other_subnet_id}).status
        == 202
    )


def test_an_availability_zone_that_does_not_match_the_subnet_answers_400(world):
    answer = post_restore(
        {
            "snapshot_id": world.snapshot_id,
            "subnet_id": world.primary.subnet_id,
            "availability_zone": world.primary.other_zone,
        }
    )
    assert (answer.status, answer.body["field"]) == (400, "availability_zone")


def test_an_availability_zone_of_the_other_region_answers_400(world):
    answer = post_restore(volume_only(world, availability_zone="eu-central-1a"))
    assert (answer.status, answer.body["field"]) == (400, "availability_zone")


def test_a_malformed_idempotency_key_answers_400(world):
    answer = post_restore(volume_only(world), headers={"Idempotency-Key": "has spaces in it"})
    assert (answer.status, answer.body["field"]) == (400, "Idempotency-Key")


@pytest.mark.parametrize("restore_id", ["not-a-uuid", "1234", "0b6f7a4e1c2d4e5f8a9b0c1d2e3f4a5b0"])
def test_get_with_an_id_that_is_not_a_uuid_answers_400(world, restore_id):
    answer = get_restore(restore_id)
    assert (answer.status, answer.body["error"], answer.body["field"]) == (
        400,
        "ValidationError",
        "restore_id",
    )


# ------------------------------------------------------------------------------------------------ 404


def test_an_unknown_snapshot_answers_404_and_creates_nothing(world):
    volumes_before = len(all_volumes(PRIMARY_REGION))
    answer = post_restore(volume_only(world, snapshot_id="snap-0123456789abcdef0"))
    assert (answer.status, answer.body["error"]) == (404, "SnapshotNotFound")
    assert_nothing_started(world, volumes_before)


def test_an_unmanaged_snapshot_answers_404_and_creates_nothing(world):
    volumes_before = len(all_volumes(PRIMARY_REGION))
    answer = post_restore(volume_only(world, snapshot_id=world.unmanaged_snapshot_id))
    assert (answer.status, answer.body["error"]) == (404, "SnapshotNotFound")
    assert_nothing_started(world, volumes_before)


def test_another_accounts_snapshot_answers_404_and_creates_nothing(world, monkeypatch):
    # moto ignores OwnerIds; real EC2 answers an empty list for another account's (public or shared) snapshot
    # when asked with OwnerIds=['self']. Stub exactly that answer on the region's client.
    volumes_before = len(all_volumes(PRIMARY_REGION))
    ec2 = boto3.client("ec2", PRIMARY_REGION)
    stubber = Stubber(ec2)
    stubber.add_response(
        "describe_snapshots", {"Snapshots": []}, {"SnapshotIds": [world.snapshot_id], "OwnerIds": ["self"]}
    )
    real_client = aws.client
    monkeypatch.setattr(
        aws, "client", lambda service, region=None: ec2 if service == "ec2" else real_client(service, region)
    )
    with stubber:
        answer = post_restore(volume_only(world))
    stubber.assert_no_pending_responses()
    assert (answer.status, answer.body["error"]) == (404, "SnapshotNotFound")
    assert_nothing_started(world, volumes_before)


def test_get_of_an_unknown_restore_answers_404(world):
    answer = get_restore(str(uuid.uuid4()))
    assert (answer.status, answer.body["error"]) == (404, "RestoreNotFound")


def test_unknown_routes_answer_404_json(world):
    answer = call_api(api_event("DELETE", "/restore"))
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/json"


def test_an_uppercase_restore_id_finds_the_job(world):
    restore_id = post_restore(volume_only(world)).body["restore_id"]
    assert get_restore(restore_id.upper()).body["restore_id"] == restore_id


# ------------------------------------------------------------------------------------------------ 409


def test_a_snapshot_that_is_not_completed_answers_409(world):
    backend = get_backend("ec2")[aws_account()][PRIMARY_REGION]
    backend.snapshots[world.snapshot_id].status = "pending"
    answer = post_restore(volume_only(world))
    assert (answer.status, answer.body["error"]) == (409, "Conflict")
    assert "pending" in answer.body["message"]
    assert world.lambda_client.invocations == []


def aws_account() -> str:
    return boto3.client("sts", PRIMARY_REGION).get_caller_identity()["Account"]


def test_the_same_idempotency_key_and_body_answer_the_first_answer_and_start_nothing_new(world):
    headers = {"Idempotency-Key": "restore-web-1-2026-11-27"}
    first = post_restore(volume_only(world), headers=headers)
    again = post_restore(volume_only(world), headers=headers)
    assert first.status == again.status == 202
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"]
    assert len(world.lambda_client.invocations) == 1
    assert job_count() == 1
    # Another key is another restore.
    other = post_restore(volume_only(world), headers={"Idempotency-Key": "another-key"})
    assert other.body["restore_id"] != first.body["restore_id"]


def test_the_same_idempotency_key_with_another_body_answers_409(world):
    headers = {"Idempotency-Key": "e2f4c6a8-0000-4000-8000-000000000001"}
    assert post_restore(volume_only(world), headers=headers).status == 202
    answer = post_restore(volume_only(world, volume_type="io2"), headers=headers)
    assert (answer.status, answer.body["error"]) == (409, "Conflict")
    assert len(world.lambda_client.invocations) == 1


def test_requests_with_idempotency_keys_leave_the_cached_dynamodb_client_as_they_found_it(world):
    """The idempotency layer is built once per process. Powertools' DynamoDBPersistenceLayer registers a
    User-Agent handler (a new function each time) on the client it is given, and that client is cached for the
    life of the Lambda environment: one layer per request made every later call of the client run one more
    handler, without end."""

    def handlers():
        events = aws.client("dynamodb").meta.events
        return len(list(events._emitter._handlers.prefix_search("request-created.dynamodb.PutItem")))

    post_restore(volume_only(world), headers={"Idempotency-Key": "warm-up"})
    before = handlers()
    for n in range(5):
        assert post_restore(volume_only(world), headers={"Idempotency-Key": f"key-{n}"}).status == 202
    assert handlers() == before


def test_a_request_refused_with_an_idempotency_key_can_be_retried_with_it(world):
    headers = {"Idempotency-Key": "retry-after-fix"}
    backend = get_backend("ec2")[aws_account()][PRIMARY_REGION]
    backend.snapshots[world.snapshot_id].status = "pending"
    assert post_restore(volume_only(world), headers=headers).status == 409
    backend.snapshots[world.snapshot_id].status = "completed"
    assert post_restore(volume_only(world), headers=headers).status == 202


# ------------------------------------------------------------------------------------------------ 500


def test_a_worker_that_cannot_be_started_answers_500_without_internals(world, monkeypatch):
    failing = FakeLambdaClient(
        fail_with=ClientError(
            {"Error": {"Code": "ServiceException", "Message": "secret internal detail arn:aws:lambda:x"}},
            "Invoke",
        )
    )
    route_lambda_to(monkeypatch, failing)
    context = FakeLambdaContext()
    answer = call_api(api_event("POST", "/restore", volume_only(world)), context)
    assert answer.status == 500
    assert answer.headers["Content-Type"] == "application/json"
    assert set(answer.body) == {"error", "message", "request_id"}
    assert answer.body["error"] == "InternalError"
    assert answer.body["request_id"] == context.aws_request_id
    assert "secret" not in json.dumps(answer.body) and "Traceback" not in json.dumps(answer.body)
    # The job it recorded does not stay PENDING forever.
    [item] = boto3.client("dynamodb", PRIMARY_REGION).scan(TableName=JOBS_TABLE)["Items"]
    assert item["status"]["S"] == "FAILED"


def test_a_missing_table_answers_500(world, monkeypatch):
    monkeypatch.setenv("RESTORE_JOBS_TABLE", "no-such-table")
    answer = get_restore(str(uuid.uuid4()))
    assert (answer.status, answer.body["error"]) == (500, "InternalError")
    assert "no-such-table" not in answer.body["message"]


def test_a_misconfigured_function_answers_500(world, monkeypatch):
    monkeypatch.delenv("RESTORE_WORKER_FUNCTION")
    answer = post_restore(volume_only(world))
    assert (answer.status, answer.body["error"]) == (500, "InternalError")
    assert "RESTORE_WORKER_FUNCTION" not in answer.body["message"]


def test_the_same_idempotency_key_while_the_first_request_runs_answers_409(world):
    headers = {"Idempotency-Key": "in-flight-key"}
    answers_during_first = []
    real_invoke = world.lambda_client.invoke

    def invoke_and_retry_meanwhile(**kwargs):
        # The client gives up waiting and retries while the first request is still starting the worker.
        answers_during_first.append(post_restore(volume_only(world), headers=headers))
        return real_invoke(**kwargs)

    world.lambda_client.invoke = invoke_and_retry_meanwhile
    first = post_restore(volume_only(world), headers=headers)

    [during] = answers_during_first
    assert (during.status, during.body["error"]) == (409, "Conflict")
    assert "in progress" in during.body["message"]
    assert first.status == 202
    assert len(world.lambda_client.invocations) == 1
