"""The simulation's request path goes through the authorization layer (smart_vault.sim.authz)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from smart_vault.authz import callers
from smart_vault.authz.enforce import Call, Enforcer
from smart_vault.sim.authz import SimFacts, authorized, operation_name
from smart_vault.sim.dynamodb import SimDynamoDB
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.world import ACCOUNT, SimParams, SimWorld

PRIMARY, DR = "eu-west-1", "eu-central-1"
ENV = {
    "AWS_REGION": PRIMARY,
    "DR_REGION": DR,
    "DR_KMS_KEY_ID": f"arn:aws:kms:{DR}:{ACCOUNT}:key/dr",
    "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
}
LEDGER_KEY = f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/primary"


@pytest.fixture
def world():
    return SimWorld(SimParams(seed=3), datetime(2026, 1, 1, tzinfo=UTC), PRIMARY, DR)


@pytest.fixture
def as_backup(monkeypatch):
    """Calls made from this test count as the backup function's (the stack walk would find its modules)."""
    monkeypatch.setattr(callers, "calling_function", lambda frame: ("backup", "smart_vault.backup.run"))


def test_operation_names_follow_boto3():
    assert operation_name("copy_snapshot") == "CopySnapshot"
    assert operation_name("describe_snapshots") == "DescribeSnapshots"


def test_a_copy_of_an_untagged_snapshot_is_refused_in_the_simulation(world, as_backup):
    instance = world.add_instance(1)
    ec2 = authorized(SimEC2(world, PRIMARY), "ec2", PRIMARY, Enforcer(SimFacts(world, ACCOUNT, {})), ENV)
    ec2.create_snapshots(
        InstanceSpecification={"InstanceId": instance},
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]}
        ],
    )
    with pytest.raises(ClientError) as raised:
        ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})  # no ManagedBy tag
    assert raised.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_the_ledger_table_key_is_evaluated_through_dynamodb(world, as_backup):
    facts = SimFacts(world, ACCOUNT, {"smart-vault-copy-ledger": LEDGER_KEY})
    enforcer = Enforcer(facts)
    outcomes, _, _ = enforcer.decide(
        Call("backup", "dynamodb", "PutItem", {"TableName": "smart-vault-copy-ledger"}, PRIMARY, ENV)
    )
    assert [(o.request.action, o.allowed) for o in outcomes] == [
        ("dynamodb:PutItem", True),
        ("kms:Decrypt", True),
    ]
    other = authorized(
        SimDynamoDB(world),
        "dynamodb",
        PRIMARY,
        Enforcer(SimFacts(world, ACCOUNT, {"other": LEDGER_KEY})),
        ENV,
    )
    with pytest.raises(ClientError) as raised:
        other.put_item(TableName="other", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
