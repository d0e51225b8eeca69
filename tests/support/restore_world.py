"""Shared setup for the restore tests: a moto world in both regions, API Gateway events, fake Lambda bits.

API Gateway events are built from a real REST proxy sample event (`tests/events/apigw_rest_post_restore.json`).
moto cannot run Lambda code, so the worker invocation the API makes goes to `FakeLambdaClient`, which records
it; tests then call the worker handler with the recorded payloads, as Lambda would.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

from smart_vault import aws, restore_api
from smart_vault.restore import worker as restore_worker
from support.lambda_context import FakeLambdaContext, set_function_environment

PRIMARY_REGION = "eu-west-1"  # as tests/conftest.py sets AWS_REGION
DR_REGION = "eu-central-1"
EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
JOBS_TABLE = "smart-vault-restore-jobs"
IDEMPOTENCY_TABLE = "smart-vault-idempotency"
WORKER_FUNCTION = "smart-vault-restore-worker"
TOPIC_NAME = "smart-vault-notifications"
MANAGED = {"ManagedBy": "smart-vault"}


class RecordedInvocations:
    """The `Invoke` calls a fake Lambda client was given, and their JSON payloads."""

    invocations: list[dict[str, Any]]

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(call["Payload"]) for call in self.invocations]


class FakeLambdaClient(RecordedInvocations):
    """Records `Invoke` calls of the API (moto cannot execute Lambda code)."""

    def __init__(self, fail_with: Exception | None = None):
        self.invocations: list[dict[str, Any]] = []
        self.fail_with = fail_with

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.invocations.append(kwargs)
        return {"StatusCode": 202}


@dataclass
class RegionWorld:
    region: str
    zone: str
    subnet_id: str
    other_subnet_id: str
    other_zone: str
    ami_id: str


@dataclass
class World:
    primary: RegionWorld
    dr: RegionWorld
    snapshot_id: str  # managed, completed, in the primary region
    dr_snapshot_id: str  # its DR copy
    unmanaged_snapshot_id: str
    topic_arn: str
    queue_url: str
    lambda_client: FakeLambdaClient

    def region(self, name: str) -> RegionWorld:
        return self.primary if name == self.primary.region else self.dr


def _region_world(region: str) -> RegionWorld:
    ec2 = boto3.client("ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{region}a")
    other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/24", AvailabilityZone=f"{region}b")
    ami_id = ec2.register_image(Name="restore-base", RootDeviceName="/dev/xvda", Architecture="x86_64")[
        "ImageId"
    ]
    return RegionWorld(
        region=region,
        zone=f"{region}a",
        subnet_id=subnet["Subnet"]["SubnetId"],
        other_subnet_id=other["Subnet"]["SubnetId"],
        other_zone=f"{region}b",
        ami_id=ami_id,
    )


def make_snapshot(region: str, tags: dict[str, str], size: int = 8) -> str:
    ec2 = boto3.client("ec2", region)
    volume_id = ec2.create_volume(AvailabilityZone=f"{region}a", Size=size)["VolumeId"]
    snapshot_id = ec2.create_snapshot(
        VolumeId=volume_id,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(tags)}] if tags else [],
    )["SnapshotId"]
    ec2.delete_volume(VolumeId=volume_id)  # only the snapshot matters; keeps volume counts readable
    return snapshot_id


def create_jobs_table(region: str, name: str = JOBS_TABLE) -> Any:
    """The restore jobs table as modules/table creates it (key `restore_id`); its DynamoDB client."""
    dynamodb = boto3.client("dynamodb", region)
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "restore_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "restore_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def build_world() -> World:
    """Tables, topic with an SQS subscriber, a VPC and AMI per region, a managed snapshot and its DR copy."""
    dynamodb = create_jobs_table(PRIMARY_REGION)
    dynamodb.update_time_to_live(
        TableName=JOBS_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    dynamodb.create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sns = boto3.client("sns", PRIMARY_REGION)
    sqs = boto3.client("sqs", PRIMARY_REGION)
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="restore-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    primary, dr = _region_world(PRIMARY_REGION), _region_world(DR_REGION)
    source_tags = {**MANAGED, "smart-vault:source-instance": "i-0123456789abcdef0", "Name": "web-1"}
    snapshot_id = make_snapshot(PRIMARY_REGION, source_tags)
    dr_snapshot_id = boto3.client("ec2", DR_REGION).copy_snapshot(
        SourceRegion=PRIMARY_REGION,
        SourceSnapshotId=snapshot_id,
        Encrypted=True,
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": aws.dict_to_tags(
                    {
                        **source_tags,
                        "smart-vault:source-snapshot": snapshot_id,
                        "smart-vault:source-region": PRIMARY_REGION,
                    }
                ),
            }
        ],
    )["SnapshotId"]
    unmanaged = make_snapshot(PRIMARY_REGION, {"Name": "someone-elses", "ManagedBy": "terraform"})
    return World(
        primary=primary,
        dr=dr,
        snapshot_id=snapshot_id,
        dr_snapshot_id=dr_snapshot_id,
        unmanaged_snapshot_id=unmanaged,
        topic_arn=topic_arn,
        queue_url=queue_url,
        lambda_client=FakeLambdaClient(),
    )


def set_restore_env(monkeypatch: pytest.MonkeyPatch, topic_arn: str) -> None:
    """The environment of both functions, as the Terraform sets it (AWS_REGION comes from conftest)."""
    values = {
        "DR_REGION": DR_REGION,
        "RESTORE_WORKER_FUNCTION": WORKER_FUNCTION,
        "RESTORE_JOBS_TABLE": JOBS_TABLE,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "SNS_TOPIC_ARN": topic_arn,
    }
    set_function_environment(monkeypatch, values, ("ALLOWED_SUBNET_IDS", "ALLOWED_INSTANCE_TYPES"))


def route_lambda_to(monkeypatch: pytest.MonkeyPatch, fake: Any) -> None:
    """Make `aws.client("lambda")` answer with `fake`; every other client stays moto's."""
    real_client = aws.client

    def client(service: str, region: str | None = None, config: Any = aws.CLIENT_CONFIG) -> Any:
        return fake if service == "lambda" else real_client(service, region, config)

    monkeypatch.setattr(aws, "client", client)


_shared_botocore_session: Any = None


def share_botocore_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let `smart_vault.aws` build its per-test sessions on one botocore session.

    Every test starts with fresh clients (conftest resets them), and a fresh boto3 session would parse the
    service models and build the client classes again: about a second per test. Sharing the botocore
    session keeps those caches; the clients themselves, and their event hooks, stay per test.
    """
    global _shared_botocore_session
    if _shared_botocore_session is None:
        _shared_botocore_session = botocore.session.get_session()
    real_session = boto3.session.Session

    def session(*args: Any, **kwargs: Any) -> boto3.session.Session:
        kwargs.setdefault("botocore_session", _shared_botocore_session)
        return real_session(*args, **kwargs)

    monkeypatch.setattr(boto3.session, "Session", session)


def setup_world(monkeypatch: pytest.MonkeyPatch) -> World:
    """Build the world (inside moto) and point both functions at it; test modules wrap this in a fixture."""
    share_botocore_session(monkeypatch)
    built = build_world()
    set_restore_env(monkeypatch, built.topic_arn)
    route_lambda_to(monkeypatch, built.lambda_client)
    return built


# ------------------------------------------------------------------------------------------- API events


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    base64_body: bytes | None = None,
) -> dict[str, Any]:
    """A REST proxy event for `method path`, from the recorded sample. Dict/list/number bodies become JSON."""
    event = copy.deepcopy(json.loads((EVENTS_DIR / "apigw_rest_post_restore.json").read_text()))
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["requestContext"]["path"] = f"/v1{path}"
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    if path.startswith("/restore/"):
        event["resource"] = event["requestContext"]["resourcePath"] = "/restore/{restore_id}"
        event["pathParameters"] = {"restore_id": path.split("/", 2)[2]}
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if base64_body is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(base64_body).decode(), True
    elif raw_body is not None:
        event["body"] = raw_body
    elif body is None:
        event["body"] = None
    else:
        event["body"] = json.dumps(body)
    return event


@dataclass
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def call_api(event: dict[str, Any], context: FakeLambdaContext | None = None) -> ApiAnswer:
    response = restore_api.handler(event, context or FakeLambdaContext())
    headers = {k: v for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, values[0])
    return ApiAnswer(response["statusCode"], headers, json.loads(response["body"]))


def volume_request(snapshot_id: str, **overrides: Any) -> dict[str, Any]:
    """The fields of the `RestoreRequest` that the volume-only body `{"snapshot_id", "availability_zone":
    "eu-west-1a"}` becomes in eu-west-1, every default applied; `overrides` replaces fields."""
    return {
        "snapshot_id": snapshot_id,
        "region": "eu-west-1",
        "launch_instance": False,
        "ami_id": None,
        "subnet_id": None,
        "instance_type": None,
        "availability_zone": "eu-west-1a",
        "device_name": "/dev/sdf",
        "volume_type": "gp3",
        "keep_on_failure": False,
        **overrides,
    }


def launch_body(world: World, **extra: Any) -> dict[str, Any]:
    """A POST /restore body that restores the world's snapshot and launches an instance from it in the primary
    region; `extra` adds or replaces fields."""
    return {
        "snapshot_id": world.snapshot_id,
        "launch_instance": True,
        "ami_id": world.primary.ami_id,
        "subnet_id": world.primary.subnet_id,
        **extra,
    }


def post_restore(body: Any, **kwargs: Any) -> ApiAnswer:
    return call_api(api_event("POST", "/restore", body, **kwargs))


def get_restore(restore_id: str) -> ApiAnswer:
    return call_api(api_event("GET", f"/restore/{restore_id}"))


def run_worker(restore_id: str, remaining_ms: int = 900_000) -> dict[str, Any] | None:
    context = FakeLambdaContext(function_name=WORKER_FUNCTION, remaining_millis=remaining_ms)
    return restore_worker.handler({"restore_id": restore_id}, context)


def run_invoked_workers(fake: FakeLambdaClient) -> list[dict[str, Any] | None]:
    """Run the worker for every invocation the API made, as Lambda's async invoke would."""
    results = [run_worker(payload["restore_id"]) for payload in fake.payloads()]
    fake.invocations.clear()
    return results


# ------------------------------------------------------------------------------------------ inspection


def restored_volumes(region: str, restore_id: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}]
    if restore_id:
        filters.append({"Name": "tag:smart-vault:restore-id", "Values": [restore_id]})
    volumes = boto3.client("ec2", region).describe_volumes(Filters=filters)["Volumes"]
    return [v for v in volumes if v["State"] not in ("deleting", "deleted")]


def live_instances(region: str) -> list[dict[str, Any]]:
    reservations = boto3.client("ec2", region).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def all_volumes(region: str) -> list[dict[str, Any]]:
    return boto3.client("ec2", region).describe_volumes()["Volumes"]


def sqs_notifications(queue_url: str) -> list[dict[str, Any]]:
    """The SNS envelopes the SQS subscriber received (Subject, Message, MessageAttributes...)."""
    sqs = boto3.client("sqs", PRIMARY_REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]
