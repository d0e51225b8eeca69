"""(v3) A workload account and a vault account on moto (the emulator's `moto_accounts`), wired as Terraform
wires them: the DR key's policy lets the vault account copy, the vault's bus accepts the workload's
announcements (a rule delivers them to a queue the test drains into the vault function), the vault has its
own key, ledger and topic. The vault function runs with the vault account's credentials (`as_vault`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3

from smart_vault.local.deployment import DeploymentConfig, create_table_arguments, ledger_table_definition
from smart_vault.local.moto_accounts import account_client, as_account, credentials_for, function_environment
from smart_vault.local.vault_setup import drain_queue
from support.backup_world import ACCOUNT_ID, DR_REGION, backup_context

VAULT_ACCOUNT = "210987654321"
VAULT_LEDGER = "smart-vault-vault-ledger"
VAULT_BUS = "smart-vault-vault"
VAULT_FUNCTION_ARN = f"arn:aws:lambda:{DR_REGION}:{VAULT_ACCOUNT}:function:smart-vault-vault"


def dr_key_statements(account: str, vault_account: str | None) -> list[dict[str, Any]]:
    """kms.tf's DR key policy statements: `account` administers the key; the vault account may copy."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if vault_account:
        vault = {"AWS": f"arn:aws:iam::{vault_account}:root"}
        statements += [
            {
                "Sid": "VaultAccountReadsSharedCopies",
                "Effect": "Allow",
                "Principal": vault,
                "Action": [
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                ],
                "Resource": "*",
            },
            {
                "Sid": "VaultAccountGrantsEbs",
                "Effect": "Allow",
                "Principal": vault,
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
    return statements


def dr_key_policy(vault_account: str | None, account: str = ACCOUNT_ID) -> str:
    """The DR key's policy document (`dr_key_statements`), as KMS takes it."""
    return json.dumps({"Version": "2012-10-17", "Statement": dr_key_statements(account, vault_account)})


@dataclass
class VaultWorld:
    credentials: dict[str, str]
    key_arn: str
    topic_arn: str
    bus_arn: str
    queue_url: str
    dr_key_arn: str
    env: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def as_vault(self) -> Iterator[None]:
        """Run code with the vault account's credentials and the vault function's environment."""
        with as_account(self.credentials), function_environment(self.env):
            yield

    def client(self, service: str) -> Any:
        return account_client(self.credentials, service, DR_REGION)

    def announcements(self) -> list[dict[str, Any]]:
        """The events the vault's bus delivered since the last call (as EventBridge hands them to Lambda)."""
        return drain_queue(self.client("sqs"), self.queue_url)

    def invoke(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The vault function's answer to `event`, with its own Lambda context unless `context` is given."""
        from smart_vault.vault import handler

        with self.as_vault():
            return handler(
                event,
                context
                or backup_context(invoked_function_arn=VAULT_FUNCTION_ARN, function_name="smart-vault-vault"),
            )

    def deliver(self) -> list[dict[str, Any]]:
        """Hand every delivered announcement to the vault function; its reports."""
        return [self.invoke(event) for event in self.announcements()]

    def copies(self) -> dict[str, dict[str, Any]]:
        """The vault account's own snapshots, by id."""
        items = self.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
        return {s["SnapshotId"]: s for s in items}


def make_vault_world(monkeypatch: Any, **vault_env: str) -> VaultWorld:
    """Both accounts' resources; sets the workload backup function's VAULT_* and DR key variables."""
    dr_kms = boto3.client("kms", DR_REGION)
    dr_key = dr_kms.create_key(Policy=dr_key_policy(VAULT_ACCOUNT))["KeyMetadata"]["Arn"]
    credentials = credentials_for(VAULT_ACCOUNT, DR_REGION)
    world = VaultWorld(credentials, "", "", "", "", dr_key)
    key = world.client("kms").create_key(Description="vault copies")["KeyMetadata"]["Arn"]
    topic = world.client("sns").create_topic(Name="smart-vault-vault")["TopicArn"]
    events = world.client("events")
    bus = events.create_event_bus(Name=VAULT_BUS)["EventBusArn"]
    events.put_permission(
        EventBusName=VAULT_BUS, Action="events:PutEvents", Principal=ACCOUNT_ID, StatementId="workload"
    )
    sqs = world.client("sqs")
    queue = sqs.create_queue(QueueName="vault-deliveries")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="announcements", EventBusName=VAULT_BUS, EventPattern=json.dumps({"source": ["smart-vault"]})
    )
    events.put_targets(
        Rule="announcements", EventBusName=VAULT_BUS, Targets=[{"Id": "vault", "Arn": queue_arn}]
    )
    definition = ledger_table_definition(DeploymentConfig())
    world.client("dynamodb").create_table(**create_table_arguments(definition | {"TableName": VAULT_LEDGER}))
    world.key_arn, world.topic_arn, world.bus_arn, world.queue_url = key, topic, bus, queue
    world.env = {
        "AWS_REGION": DR_REGION,
        "AWS_DEFAULT_REGION": DR_REGION,
        "SNS_TOPIC_ARN": topic,
        "SOURCE_ACCOUNT_IDS": ACCOUNT_ID,
        "VAULT_KMS_KEY_ID": key,
        "VAULT_LEDGER_TABLE": VAULT_LEDGER,
        "RETENTION_DAYS": "35",
        "LOCK_MODE": "compliance",
        "LOCK_COOL_OFF_HOURS": "24",
        **vault_env,
    }
    monkeypatch.setenv("VAULT_ACCOUNT_ID", VAULT_ACCOUNT)
    monkeypatch.setenv("VAULT_EVENT_BUS_ARN", bus)
    monkeypatch.setenv("DR_KMS_KEY_ID", dr_key)
    return world
