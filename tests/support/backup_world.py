"""Helpers for the backup tests: settings, a fleet on moto, events, notifications, call counting."""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from smart_vault import aws
from smart_vault.config import BackupSettings
from support.lambda_context import FakeLambdaContext, set_function_environment

PRIMARY_REGION = "eu-west-1"
DR_REGION = "eu-central-1"
ACCOUNT_ID = "123456789012"
DR_KEY_ARN = f"arn:aws:kms:{DR_REGION}:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555"
TOPIC_NAME = "smart-vault-backup"
TOPIC_ARN = f"arn:aws:sns:{PRIMARY_REGION}:{ACCOUNT_ID}:{TOPIC_NAME}"
FUNCTION_ARN = f"arn:aws:lambda:{PRIMARY_REGION}:{ACCOUNT_ID}:function:smart-vault-backup"
EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
COPY_LEDGER_TABLE = "smart-vault-copy-ledger"
PRIMARY_KEY_ALIAS = "alias/smart-vault"
T0 = datetime(2026, 3, 1, 2, 0, 0, tzinfo=UTC)  # a nightly run's time, for the worlds that set the clock
DAY = timedelta(days=1)


def backup_env(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    values = {
        "SNS_TOPIC_ARN": TOPIC_ARN,
        "DR_REGION": DR_REGION,
        "DR_KMS_KEY_ID": DR_KEY_ARN,
        "RETENTION_DAYS": "7",
        "MIN_SNAPSHOTS_KEPT": "1",
        "COPY_LEDGER_TABLE": COPY_LEDGER_TABLE,
    }
    optional = ("BACKUP_TAG_KEY", "BACKUP_TAG_VALUE", "DR_RETENTION_DAYS", "MAX_CONCURRENT_COPIES", "DRY_RUN")
    set_function_environment(monkeypatch, values | overrides, optional)


def backup_settings(**overrides: str) -> BackupSettings:
    """A backup function's settings for a test that builds no AWS world: eu-west-1 with its DR region."""
    values = {
        "AWS_REGION": PRIMARY_REGION,
        "SNS_TOPIC_ARN": TOPIC_ARN,
        "DR_REGION": DR_REGION,
        "DR_KMS_KEY_ID": DR_KEY_ARN,
        "COPY_LEDGER_TABLE": "ledger",
    }
    return BackupSettings.from_env(values | overrides)


BACKUP_REQUEST_ID = "5e7b3a1c-0000-4000-8000-000000000001"


def backup_context(**overrides: Any) -> FakeLambdaContext:
    """The backup function's context: one fixed request id, so that a retried invocation is recognised."""
    values: dict[str, Any] = {
        "function_name": "smart-vault-backup",
        "aws_request_id": BACKUP_REQUEST_ID,
        "memory_limit_in_mb": 512,
        "invoked_function_arn": FUNCTION_ARN,
    }
    return FakeLambdaContext(**(values | overrides))


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def scheduled_event(event_id: str = "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa") -> dict[str, Any]:
    event = load_event("eventbridge_scheduled.json")
    event["id"] = event_id
    event["region"] = PRIMARY_REGION
    return event


def completion_event(name: str, snapshot_ids: list[str], event_id: str = "") -> dict[str, Any]:
    """A documented EBS sample with its snapshot ids replaced by `snapshot_ids` (the only adaptation)."""
    event = copy.deepcopy(load_event(name))
    if event_id:
        event["id"] = event_id
    detail = event["detail"]
    if "snapshots" in detail:
        template = detail["snapshots"][0]
        detail["snapshots"] = [
            {**template, "snapshot_id": f"arn:aws:ec2::{PRIMARY_REGION}:snapshot/{sid}"}
            for sid in snapshot_ids
        ]
    else:
        detail["snapshot_id"] = f"arn:aws:ec2::{PRIMARY_REGION}:snapshot/{snapshot_ids[0]}"
    event["resources"] = [f"arn:aws:ec2::{PRIMARY_REGION}:snapshot/{sid}" for sid in snapshot_ids]
    return event


def copy_event(
    copy_id: str,
    result: str = "succeeded",
    region: str = DR_REGION,
    source_id: str = "snap-0000000000000000",
    event_id: str = "",
    cause: str | None = None,
) -> dict[str, Any]:
    """The guide's `copySnapshot` sample: `copy_id` in `region`, a copy of `source_id` of the primary region."""
    event = load_event(f"ebs_copy_snapshot_{result}.json")
    arn = f"arn:aws:ec2::{region}:snapshot/{copy_id}"
    event["id"] = event_id or f"copy-event-{copy_id}-{result}"
    event["region"] = region
    event["resources"] = [arn]
    event["detail"].update(snapshot_id=arn, source=f"arn:aws:ec2::{PRIMARY_REGION}:snapshot/{source_id}")
    if cause is not None:
        event["detail"]["cause"] = cause
    return event


@dataclass
class Fleet:
    ec2: Any
    dr: Any
    image_id: str
    subnet_id: str = ""
    instances: dict[str, str] = field(default_factory=dict)  # label -> instance id

    def launch(self, label: str, tags: dict[str, str] | None = None, volumes: int = 1) -> str:
        devices = ["/dev/xvda"] + [f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1)]
        mappings = [{"DeviceName": d, "Ebs": {"VolumeSize": 8}} for d in devices]
        kwargs: dict[str, Any] = {}
        if tags:
            kwargs["TagSpecifications"] = [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        reply = self.ec2.run_instances(
            ImageId=self.image_id,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            BlockDeviceMappings=mappings,
            **kwargs,
        )
        instance_id = reply["Instances"][0]["InstanceId"]
        self.instances[label] = instance_id
        return instance_id

    def managed_set(self, label: str, volumes: int = 1, tags: dict[str, str] | None = None) -> list[str]:
        """The snapshot ids of a set the vault made (its tags at creation, and `tags`), of a newly launched
        Gold instance, without running the backup."""
        instance = self.launch(label, {"Backup-Tier": "Gold"}, volumes=volumes)
        values = {"ManagedBy": "smart-vault", "smart-vault:source-instance": instance, **(tags or {})}
        reply = self.ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance},
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": aws.dict_to_tags(values)}],
        )
        return [s["SnapshotId"] for s in reply["Snapshots"]]

    def volumes_of(self, instance_id: str) -> dict[str, str]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        mappings = reservations[0]["Instances"][0]["BlockDeviceMappings"]
        return {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in mappings}

    def snapshots(self, region: str = PRIMARY_REGION, **tag_filters: str) -> list[dict[str, Any]]:
        client = self.ec2 if region == PRIMARY_REGION else self.dr
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tag_filters.items()]
        kwargs = {"Filters": filters} if filters else {}
        return client.describe_snapshots(OwnerIds=["self"], **kwargs)["Snapshots"]

    def managed(self, region: str = PRIMARY_REGION) -> dict[str, dict[str, Any]]:
        return {s["SnapshotId"]: s for s in self.snapshots(region, ManagedBy="smart-vault")}


def make_fleet() -> Fleet:
    """Clients come from `smart_vault.aws`, so the handler under test uses the very same (hooked) clients."""
    ec2 = aws.client("ec2", PRIMARY_REGION)
    dr = aws.client("ec2", DR_REGION)
    create_ledger_table()
    image = ec2.register_image(
        Name="smart-vault-test-image",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )
    return Fleet(ec2=ec2, dr=dr, image_id=image["ImageId"])


def create_ledger_table() -> None:
    """The copy ledger as Terraform makes it (pk/sk, TTL `expires_at`), in the primary region."""
    from smart_vault.local.deployment import DeploymentConfig, create_table_arguments, ledger_table_definition

    definition = ledger_table_definition(DeploymentConfig())
    dynamodb = boto3.client("dynamodb", PRIMARY_REGION)
    if COPY_LEDGER_TABLE in dynamodb.list_tables()["TableNames"]:
        return
    # Encrypted with the primary customer managed key, as backup.tf does: every ledger read and write then
    # needs kms:Decrypt through DynamoDB (smart_vault.authz evaluates it).
    encryption = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": primary_key_arn()}
    dynamodb.create_table(**create_table_arguments(definition), SSESpecification=encryption)


def primary_key_arn() -> str:
    """The vault's primary-region key (`aws_kms_key.primary`, alias `alias/smart-vault`), created once."""
    kms = boto3.client("kms", PRIMARY_REGION)
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    if PRIMARY_KEY_ALIAS in aliases:
        return kms.describe_key(KeyId=PRIMARY_KEY_ALIAS)["KeyMetadata"]["Arn"]
    arn = kms.create_key(Description="smart-vault primary")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=PRIMARY_KEY_ALIAS, TargetKeyId=arn)
    return arn


def ledger_claims() -> dict[str, dict[str, Any]]:
    """Every claim of the ledger, by primary snapshot id."""
    dynamodb = boto3.client("dynamodb", PRIMARY_REGION)
    items = dynamodb.scan(TableName=COPY_LEDGER_TABLE)["Items"]
    return {
        i["pk"]["S"].removeprefix("copy#"): {k: next(iter(v.values())) for k, v in i.items()} for i in items
    }


def tags_of(snapshot: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}


class Inbox:
    """An SQS queue subscribed to the topic: what JSON (sqs) subscribers receive."""

    def __init__(self) -> None:
        sns = boto3.client("sns", PRIMARY_REGION)
        self.sqs = boto3.client("sqs", PRIMARY_REGION)
        topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName="backup-inbox")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def messages(self) -> list[dict[str, Any]]:
        """Each SNS envelope (Subject, MessageAttributes, Message = the JSON document)."""
        found = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return found
            for item in batch:
                found.append(json.loads(item["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=item["ReceiptHandle"])


class CallCounter:
    """Counts the EC2 operations (and keeps their parameters) made through the hooked clients."""

    def __init__(self, *clients: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.params: dict[str, list[dict[str, Any]]] = {}
        for client in clients:
            client.meta.events.register("provide-client-params.ec2", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        self.params.setdefault(model.name, []).append(copy.deepcopy(params))

    def reset(self) -> None:
        self.calls.clear()
        self.params.clear()


def fail_operation(client: Any, operation: str, code: str, message: str = "", when: Any = None) -> None:
    """Make `client` answer `operation` with an AWS error (for the calls `when(params)` selects)."""
    # Per thread: the backup calls from a pool of threads, and one call's parameters must not answer another's.
    pending = threading.local()

    def remember(params: dict[str, Any], **_: Any) -> None:
        pending.params = params

    def answer(**_: Any) -> Any:
        if when is not None and not when(getattr(pending, "params", {})):
            return None
        http = type("Http", (), {"status_code": 400, "headers": {}, "content": b""})()
        return http, {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    client.meta.events.register(f"provide-client-params.ec2.{operation}", remember)
    client.meta.events.register(f"before-call.ec2.{operation}", answer)


# ---------------------------------------------------------------------------------------- the world's fixtures
# Registered for every test by tests/conftest.py (`pytest_plugins`). A module sets the backup function's
# variables with `pytestmark = pytest.mark.backup_env(NAME="value", ...)` (over `backup_env`'s defaults); a
# module that needs more of its fleet (instances launched) overrides `fleet` and asks for this one by name.


@pytest.fixture
def env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The backup function's environment variables, set; the monkeypatch, for a test to change one more."""
    marker = request.node.get_closest_marker("backup_env")
    backup_env(monkeypatch, **(marker.kwargs if marker else {}))
    return monkeypatch


@pytest.fixture
def fleet(env: pytest.MonkeyPatch, moto_aws: None) -> Fleet:
    """An empty fleet in moto (both regions, the DR key, the topic, the copy ledger), the environment set."""
    return make_fleet()


@pytest.fixture
def inbox(fleet: Fleet) -> Inbox:
    """The notifications the topic receives from now on."""
    return Inbox()
