"""(v3) The workload account and the vault account on moto, wired as the Terraform wires them: the fleet, the
backup function's ledger, topic and rules, the DR key (its policy grants the vault account the copy and
denies its deletion to all but the key administrators), and in the vault account its key, ledger, topic,
event bus (whose policy accepts the workload's announcements; a rule delivers them to a queue the story
drains into the vault function) and an isolated recovery network. Used by `local.ransomware`.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from smart_vault.local.deployment import DeploymentConfig, create_table_arguments, ledger_table_definition
from smart_vault.local.moto_accounts import account_client, credentials_for

WORKLOAD, VAULT = "123456789012", "210987654321"
PRIMARY, DR = "eu-west-1", "eu-central-1"
KEY_ADMIN = f"arn:aws:iam::{WORKLOAD}:role/key-admin"
VAULT_BUS = "smart-vault-vault"
VAULT_ROLE = "smart-vault-vault"  # the vault function's role (modules/vault_account: the function's name)


@dataclass
class Setup:
    backup_env: dict[str, str]
    vault_env: dict[str, str]
    vault_credentials: dict[str, str]
    dr_key_arn: str
    backup_function: str
    backup_rules: list[str]
    instances: dict[str, str]
    recovery_subnet: str
    recovery_az: str
    recovery_group: str
    queue_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return account_client(self.vault_credentials, service, DR)

    def announcements(self) -> list[dict[str, Any]]:
        """The events the vault's bus delivered since the last call."""
        return drain_queue(self.client("sqs"), self.queue_url)


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of the queue, as JSON, deleted from it (the events a rule delivered there)."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def dr_key_policy() -> str:
    """kms.tf's DR key policy with a vault account and one key administrator."""
    root, vault = f"arn:aws:iam::{WORKLOAD}:root", f"arn:aws:iam::{VAULT}:root"
    statements = [
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "VaultAccountReadsSharedCopies",
            "Effect": "Allow",
            "Principal": {"AWS": vault},
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*"],
            "Resource": "*",
        },
        {
            "Sid": "VaultAccountGrantsEbs",
            "Effect": "Allow",
            "Principal": {"AWS": vault},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Sid": "OnlyKeyAdministratorsDeleteOrRepolicy",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": [KEY_ADMIN]}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _fleet() -> dict[str, str]:
    ec2 = boto3.client("ec2", PRIMARY)
    image = ec2.register_image(
        Name="smart-vault-demo-image",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    instances = {}
    for name, devices in (("web-1", ["/dev/xvda", "/dev/sdf"]), ("db-1", ["/dev/xvda"])):
        tags: list[Any] = [{"Key": "Backup-Tier", "Value": "Gold"}, {"Key": "Name", "Value": name}]
        reply = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"VolumeSize": 8}} for d in devices],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        instances[name] = reply["Instances"][0]["InstanceId"]
    return instances


def _ledger(dynamodb: Any, name: str) -> None:
    definition = ledger_table_definition(DeploymentConfig())
    dynamodb.create_table(**create_table_arguments(definition | {"TableName": name}))


def _backup_function_and_rules() -> tuple[str, list[str]]:
    """The backup function and its rules as objects the attacker can delete (moto runs no Lambda code)."""
    iam = boto3.client("iam", PRIMARY)
    role = iam.create_role(
        RoleName="smart-vault-backup",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("placeholder.py", "handler = None\n")
    functions = boto3.client("lambda", PRIMARY)
    name = functions.create_function(
        FunctionName="smart-vault-backup",
        Runtime="python3.12",
        Role=role,
        Handler="smart_vault.backup.handler",
        Code={"ZipFile": package.getvalue()},
    )["FunctionName"]
    events = boto3.client("events", PRIMARY)
    rules = ["smart-vault-backup-schedule", "smart-vault-snapshot-completion"]
    for rule in rules:
        events.put_rule(Name=rule, ScheduleExpression="cron(0 2 * * ? *)") if rule.endswith(
            "schedule"
        ) else events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ec2"]}))
        events.put_targets(
            Rule=rule,
            Targets=[{"Id": "backup", "Arn": f"arn:aws:lambda:{PRIMARY}:{WORKLOAD}:function:{name}"}],
        )
    return name, rules


def _vault_account(creds: dict[str, str]) -> dict[str, str]:
    def client(service: str) -> Any:
        return account_client(creds, service, DR)

    key = client("kms").create_key(Description="Smart Vault vault copies")["KeyMetadata"]["Arn"]
    topic = client("sns").create_topic(Name="smart-vault-vault")["TopicArn"]
    events = client("events")
    bus = events.create_event_bus(Name=VAULT_BUS)["EventBusArn"]
    events.put_permission(
        EventBusName=VAULT_BUS, Action="events:PutEvents", Principal=WORKLOAD, StatementId="workload"
    )
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName="vault-deliveries")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="smart-vault-vault-announcements",
        EventBusName=VAULT_BUS,
        EventPattern=json.dumps({"source": ["smart-vault"]}),
    )
    events.put_targets(
        Rule="smart-vault-vault-announcements",
        EventBusName=VAULT_BUS,
        Targets=[{"Id": "vault", "Arn": queue_arn}],
    )
    _ledger(client("dynamodb"), "smart-vault-vault-ledger")
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24", AvailabilityZone=f"{DR}a")["Subnet"][
        "SubnetId"
    ]
    group = ec2.create_security_group(GroupName="smart-vault-recovery", Description="no inbound", VpcId=vpc)[
        "GroupId"
    ]
    return {"key": key, "topic": topic, "bus": bus, "queue": queue, "subnet": subnet, "group": group}


def set_up() -> Setup:
    """Both accounts (the caller holds `mock_aws`); the default credentials are the workload account's."""
    instances = _fleet()
    _ledger(boto3.client("dynamodb", PRIMARY), "smart-vault-copy-ledger")
    topic = boto3.client("sns", PRIMARY).create_topic(Name="smart-vault-notifications")["TopicArn"]
    dr_key = boto3.client("kms", DR).create_key(Policy=dr_key_policy(), Description="Smart Vault DR")[
        "KeyMetadata"
    ]["Arn"]
    function, rules = _backup_function_and_rules()
    creds = credentials_for(VAULT, DR, role_name=VAULT_ROLE)
    vault = _vault_account(creds)
    backup_env = {
        "AWS_REGION": PRIMARY,
        "SNS_TOPIC_ARN": topic,
        "DR_REGION": DR,
        "DR_KMS_KEY_ID": dr_key,
        "RETENTION_DAYS": "7",
        "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
        "LOCK_MODE": "governance",
        "VAULT_ACCOUNT_ID": VAULT,
        "VAULT_EVENT_BUS_ARN": vault["bus"],
    }
    vault_env = {
        "AWS_REGION": DR,
        "SNS_TOPIC_ARN": vault["topic"],
        "SOURCE_ACCOUNT_IDS": WORKLOAD,
        "VAULT_KMS_KEY_ID": vault["key"],
        "VAULT_LEDGER_TABLE": "smart-vault-vault-ledger",
        "RETENTION_DAYS": "35",
        "LOCK_MODE": "compliance",
        "LOCK_COOL_OFF_HOURS": "24",
    }
    return Setup(
        backup_env=backup_env,
        vault_env=vault_env,
        vault_credentials=creds,
        dr_key_arn=dr_key,
        backup_function=function,
        backup_rules=rules,
        instances=instances,
        recovery_subnet=vault["subnet"],
        recovery_az=f"{DR}a",
        recovery_group=vault["group"],
        queue_url=vault["queue"],
    )
