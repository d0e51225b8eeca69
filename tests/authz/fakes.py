"""A Facts stand-in for request-context tests: EC2 resources and key settings given by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smart_vault.authz.facts import Ec2Resource

ACCOUNT = "123456789012"
VAULT = "210987654321"
PRIMARY, DR = "eu-west-1", "eu-central-1"
DR_KEY = f"arn:aws:kms:{DR}:{ACCOUNT}:key/dr"
MANAGED = {"ManagedBy": "smart-vault"}
VAULT_BUS = f"arn:aws:events:{DR}:{VAULT}:event-bus/smart-vault-vault"
# The backup function's variables as the Terraform sets them, with Snapshot Lock and a vault account.
BACKUP_ENV = {
    "AWS_REGION": PRIMARY,
    "DR_REGION": DR,
    "DR_KMS_KEY_ID": DR_KEY,
    "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
    "LOCK_MODE": "compliance",
    "LOCK_COOL_OFF_HOURS": "24",
    "VAULT_ACCOUNT_ID": VAULT,
    "VAULT_EVENT_BUS_ARN": VAULT_BUS,
}


def put_events_policy(bus: str, account: str, sid: str) -> dict[str, Any]:
    """A bus policy as the emulator's PutPermission leaves it: `account` may PutEvents on `bus`, no conditions."""
    return {
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "events:PutEvents",
                "Resource": bus,
            }
        ]
    }


@dataclass
class FakeFacts:
    account: str = ACCOUNT
    resources: dict[tuple[str, str], Ec2Resource] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # table name -> key ARN
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnet: str | None = "subnet-default"
    groups: tuple[str, ...] = ("sg-default",)
    profiles: dict[str, str] = field(default_factory=dict)
    documents: dict[str, dict[str, str]] = field(default_factory=dict)  # SSM document name -> its tags
    buses: dict[str, dict[str, Any]] = field(default_factory=dict)  # (v3) event bus ARN -> its policy

    def add(self, region: str, resource: Ec2Resource) -> Ec2Resource:
        self.resources[(region, resource.id)] = resource
        return resource

    def ec2(self, region: str, resource_id: str) -> Ec2Resource | None:
        return self.resources.get((region, resource_id))

    def default_network(self, region: str) -> tuple[str | None, tuple[str, ...]]:
        return self.subnet, self.groups

    def key_arn(self, region: str, key_id: str) -> str | None:
        return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{self.account}:key/{key_id}"

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        root = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{self.account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
        return self.policies.get(key_arn, {"Statement": [root]})

    def table_key(self, region: str, table: str) -> str | None:
        return self.tables.get(table)

    def topic_key(self, topic_arn: str) -> str | None:
        return None

    def queue_key(self, region: str, queue_name: str) -> str | None:
        return None

    def instance_profile_role(self, profile: str) -> str | None:
        return self.profiles.get(profile)

    def ssm_document(self, region: str, document: str) -> dict[str, str] | None:
        found = self.documents.get(document.rsplit("/", 1)[-1])
        return dict(found) if found is not None else None

    def event_bus_policy(self, bus_arn: str) -> dict[str, Any] | None:
        return self.buses.get(bus_arn)
