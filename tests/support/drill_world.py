"""Shared setup for the drill tests: protected instances with complete recovery points on moto, the isolated
drill network, the results table, a topic with an SQS subscriber, and a fake validation function.

The recovery points are snapshot sets tagged exactly as the backup tags them (set tags from
`backup.metadata.instance_metadata`, per-volume tags from `volume_metadata`), one set per instance, in the
region the drill runs in. moto cannot run Lambda code, so the validation function is `FakeValidation`.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from smart_vault import aws
from smart_vault.backup.metadata import instance_metadata, volume_metadata
from smart_vault.tags import SET_SIZE_TAG
from support.contract_env import CONTRACT_ENVIRONMENT
from support.lambda_context import set_function_environment
from support.restore_world import (
    FakeLambdaContext,
    RecordedInvocations,
    route_lambda_to,
    share_botocore_session,
)

REGION = "eu-west-1"  # tests/conftest.py's AWS_REGION: the drill function drills its own region
RESULTS_TABLE = "smart-vault-drill-results"
TOPIC_NAME = "smart-vault-drills"
VALIDATION_FUNCTION = "smart-vault-drill-check"


@dataclass
class FakeValidation(RecordedInvocations):
    """The validation Lambda: answers every synchronous Invoke with `answer` (or a function error)."""

    answer: Any = field(default_factory=lambda: {"passed": True, "detail": "HTTP 200 from /health"})
    function_error: str | None = None
    invocations: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append(kwargs)
        body = self.answer(json.loads(kwargs["Payload"])) if callable(self.answer) else self.answer
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


@dataclass
class Protected:
    instance_id: str
    name: str
    backup_set_id: str
    snapshot_ids: list[str]


@dataclass
class DrillWorld:
    subnet_id: str
    security_group_id: str
    source_subnet_id: str
    topic_arn: str
    queue_url: str
    validation: FakeValidation
    protected: list[Protected]

    def ec2(self) -> Any:
        return boto3.client("ec2", REGION)


def backup_set_id() -> str:
    return f"bset-{secrets.token_hex(10)}"


def register_image(ec2: Any, name: str, root_device: str = "/dev/xvda") -> str:
    """An x86_64 image booting from `root_device`, the one volume it maps."""
    return ec2.register_image(
        Name=name,
        RootDeviceName=root_device,
        Architecture="x86_64",
        BlockDeviceMappings=[{"DeviceName": root_device, "Ebs": {}}],
    )["ImageId"]


def protect(
    ec2: Any,
    subnet_id: str,
    image_id: str,
    name: str,
    *,
    platform: str | None = None,
    started: datetime | None = None,
    complete: bool = True,
    root_device: str = "/dev/xvda",
) -> Protected:
    """A running instance (a root and a data volume) and one recovery point of it, tagged as the backup tags it."""
    instance = ec2.run_instances(
        ImageId=image_id,
        InstanceType="t3.small",
        SubnetId=subnet_id,
        MinCount=1,
        MaxCount=1,
        BlockDeviceMappings=[
            {
                "DeviceName": root_device,
                "Ebs": {"VolumeType": "gp3", "VolumeSize": 8, "DeleteOnTermination": True},
            },
            {
                "DeviceName": "/dev/sdf",
                "Ebs": {"VolumeType": "gp2", "VolumeSize": 4, "DeleteOnTermination": False},
            },
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )["Instances"][0]
    instance = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    set_tags = instance_metadata(instance)
    if platform:
        set_tags["smart-vault:platform"] = platform
    set_id = backup_set_id()
    mappings = instance.get("BlockDeviceMappings", [])
    snapshot_ids = []
    for mapping in mappings:
        volume_id = mapping["Ebs"]["VolumeId"]
        volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        tags = {
            "ManagedBy": "smart-vault",
            "Name": name,
            "smart-vault:source-instance": instance["InstanceId"],
            "smart-vault:source-volume": volume_id,
            "smart-vault:device": mapping["DeviceName"],
            "smart-vault:backup-set": set_id,
            "smart-vault:run-id": "run-1",
            "smart-vault:retention-days": "7",
            SET_SIZE_TAG: str(len(mappings) + (0 if complete else 1)),
            **set_tags,
            **volume_metadata(volume, True),
        }
        snapshot_ids.append(
            ec2.create_snapshot(
                VolumeId=volume_id,
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(tags)}],
            )["SnapshotId"]
        )
    return Protected(instance["InstanceId"], name, set_id, snapshot_ids)


SAMPLE_RECORD = {
    "drill_id": "5b0c7a4e-1f0e-4c36-9d59-0f4b7f0e2a11",
    "instance_id": "i-0123456789abcdef0",
    "name": "web-1",
    "region": REGION,
    "backup_set_id": "bset-0123456789abcdef0123",
    "recovery_point_time": "2026-12-06T02:00:04Z",
    "started_at": "2026-12-06T03:00:02Z",
    "finished_at": "2026-12-06T03:05:31Z",
    "status": "PASSED",
    "rto_seconds": 243.1,
    "stages": {
        "register_image": 11.8,
        "launch_instance": 0.4,
        "wait_instance_running": 45.2,
        "wait_status_checks": 185.7,
    },
    "validation": None,
    "error": None,
    "torn_down": True,
    "leftovers": [],
}


def create_results_table(with_sample: bool = True) -> None:
    """The drill results table (as Terraform defines it), in REGION, optionally with one drill in it."""
    from smart_vault.drill.results import DrillResultStore
    from smart_vault.local.deployment import create_table_arguments, table_definition

    dynamodb = boto3.client("dynamodb", REGION)
    dynamodb.create_table(**create_table_arguments(table_definition(RESULTS_TABLE, "expires_at", "pk", "sk")))
    if with_sample:
        DrillResultStore(RESULTS_TABLE, dynamodb).put(SAMPLE_RECORD)


def build_world(count: int = 3) -> DrillWorld:
    ec2 = boto3.client("ec2", REGION)
    create_results_table(with_sample=False)
    sns, sqs = boto3.client("sns", REGION), boto3.client("sqs", REGION)
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="drill-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    source_vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    source_subnet = ec2.create_subnet(
        VpcId=source_vpc, CidrBlock="10.30.1.0/24", AvailabilityZone=f"{REGION}a"
    )
    drill_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    drill_subnet = ec2.create_subnet(VpcId=drill_vpc, CidrBlock="10.99.1.0/24", AvailabilityZone=f"{REGION}b")
    group = ec2.create_security_group(GroupName="drill", Description="drill, no inbound", VpcId=drill_vpc)
    image_id = register_image(ec2, "base")
    source_subnet_id = source_subnet["Subnet"]["SubnetId"]
    protected = [protect(ec2, source_subnet_id, image_id, f"web-{n}") for n in range(1, count + 1)]
    return DrillWorld(
        subnet_id=drill_subnet["Subnet"]["SubnetId"],
        security_group_id=group["GroupId"],
        source_subnet_id=source_subnet_id,
        topic_arn=topic_arn,
        queue_url=queue_url,
        validation=FakeValidation(),
        protected=protected,
    )


def set_drill_env(monkeypatch: pytest.MonkeyPatch, world: DrillWorld, **overrides: str) -> None:
    values = {
        "SNS_TOPIC_ARN": world.topic_arn,
        "DRILL_RESULTS_TABLE": RESULTS_TABLE,
        "DRILL_SUBNET_ID": world.subnet_id,
        "DRILL_SECURITY_GROUP_IDS": world.security_group_id,
    }
    optional = CONTRACT_ENVIRONMENT["drill"] - values.keys()  # the drill's other variables: left unset
    set_function_environment(monkeypatch, values | overrides, optional)


def setup_world(monkeypatch: pytest.MonkeyPatch, count: int = 3) -> DrillWorld:
    share_botocore_session(monkeypatch)
    world = build_world(count)
    set_drill_env(monkeypatch, world)
    route_lambda_to(monkeypatch, world.validation)
    return world


def drill_context(remaining_ms: int = 900_000) -> FakeLambdaContext:
    return FakeLambdaContext(
        function_name="smart-vault-dr-drill",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:smart-vault-dr-drill",
        remaining_millis=remaining_ms,
    )


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime(2026, 12, 2, 3, 0, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/smart-vault-dr-drill"],
        "detail": {},
    }


# ------------------------------------------------------------------------------------------ inspection


def drill_resources(drill_id: str | None = None) -> list[str]:
    """Every live instance, volume and image the drills created (tagged smart-vault:drill-id)."""
    ec2 = boto3.client("ec2", REGION)
    key = "tag:smart-vault:drill-id" if drill_id else "tag-key"
    values = [drill_id] if drill_id else ["smart-vault:drill-id"]
    found = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[
                {"Name": key, "Values": values},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )["Reservations"]
        for i in r["Instances"]
    ]
    found += [
        v["VolumeId"]
        for v in ec2.describe_volumes(Filters=[{"Name": key, "Values": values}])["Volumes"]
        if v["State"] not in ("deleting", "deleted")
    ]
    found += [
        i["ImageId"]
        for i in ec2.describe_images(Owners=["self"], Filters=[{"Name": key, "Values": values}])["Images"]
    ]
    return found


def every_volume_and_image() -> tuple[set[str], set[str]]:
    ec2 = boto3.client("ec2", REGION)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    images = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    return volumes, images


def notifications(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def swept_drill(drill_id: str, since: str, removed: list[str], left=(), problems=()) -> dict[str, Any]:
    """One drill of a drill report's `sweep.swept`, as smart_vault.drill.sweep reports it."""
    return {
        "drill_id": drill_id,
        "since": since,
        "removed": removed,
        "left": list(left),
        "problems": list(problems),
    }
