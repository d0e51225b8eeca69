"""What each narrowing condition of the Terraform's statements refuses: one realistic request per case that
the roles must not be able to make. The authorization layer records each refusal; the mutation check
(`make iam-mutation`, tests/iam) shows that removing the condition would let at least one of them through."""

from __future__ import annotations

import pytest
from fakes import ACCOUNT, BACKUP_ENV, DR, DR_KEY, MANAGED, PRIMARY, FakeFacts, put_events_policy

from smart_vault.authz.enforce import Call, Enforcer
from smart_vault.authz.facts import Ec2Resource

EBS_KEY = f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/ebs"
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/app"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
BACKED_UP = {"Backup-Tier": "Gold", "Backup-Scripts": "scripts-doc"}  # the Terraform's default backup tag
ENV = {
    "backup": BACKUP_ENV,
    "restore_api": {"AWS_REGION": PRIMARY, "DR_REGION": DR},
    "restore_worker": {"AWS_REGION": PRIMARY, "DR_REGION": DR, "ALLOWED_INSTANCE_PROFILE_ARNS": PROFILE},
    "drill": {"AWS_REGION": PRIMARY},
}


def tags(resource_type: str, **values: str) -> dict:
    return {"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in values.items()]}


def share(snapshot_id: str, attribute: str = "createVolumePermission", **grantees: list[str]) -> dict:
    """ModifySnapshotAttribute's parameters that add `grantees` (UserIds, GroupNames) to `attribute`."""
    return {"SnapshotId": snapshot_id, "Attribute": attribute, "OperationType": "add", **grantees}


def world() -> FakeFacts:
    facts = FakeFacts(profiles={PROFILE: APP_ROLE})
    facts.documents = {"scripts-doc": {"smart-vault:scripts": "true"}, "other-doc": {"Owner": "app-team"}}
    # (v3) The vault's bus with the policy the emulator gives it (PutPermission for the workload account, no
    # conditions): the role's own conditions decide (tests/authz/test_vault_refuse.py: Terraform's policy).
    bus = ENV["backup"]["VAULT_EVENT_BUS_ARN"]
    facts.buses[bus] = put_events_policy(bus, ACCOUNT, "workload")
    for region in (PRIMARY, DR):
        facts.add(region, Ec2Resource("snap-m", MANAGED, True, EBS_KEY, ACCOUNT))
        facts.add(region, Ec2Resource("snap-u", {}, False, None, ACCOUNT))
        facts.add(region, Ec2Resource("snap-p", MANAGED, False, None, ACCOUNT))  # of an unencrypted volume
        facts.add(region, Ec2Resource("vol-m", MANAGED, False, instance_id="i-m"))
        facts.add(region, Ec2Resource("vol-u", {}, False))
        facts.add(region, Ec2Resource("i-m", MANAGED, volume_ids=("vol-m",), metadata_http_tokens="required"))
        facts.add(region, Ec2Resource("i-u", {}, metadata_http_tokens="required"))
        facts.add(region, Ec2Resource("i-b", BACKED_UP, metadata_http_tokens="required"))
        facts.add(region, Ec2Resource("i-s", {"Backup-Tier": "Silver"}, metadata_http_tokens="required"))
        facts.add(region, Ec2Resource("ami-m", MANAGED, owner=ACCOUNT, snapshot_ids=("snap-m",)))
        facts.add(region, Ec2Resource("ami-u", {}, owner=ACCOUNT, snapshot_ids=("snap-u",)))
        facts.add(region, Ec2Resource("subnet-1"))
        facts.add(region, Ec2Resource("sg-1"))
    return facts


LAUNCH = {
    "ImageId": "ami-m",
    "SubnetId": "subnet-1",
    "SecurityGroupIds": ["sg-1"],
    "MetadataOptions": {"HttpTokens": "required"},
}
MANAGED_LAUNCH = {
    **LAUNCH,
    "TagSpecifications": [tags("instance", ManagedBy="smart-vault"), tags("volume", ManagedBy="smart-vault")],
}


def script(document: str, *instances: str) -> dict:
    return {
        "DocumentName": document,
        "InstanceIds": list(instances),
        "Parameters": {"command": ["pre-script"]},
    }


CASES = [
    # (id, function, service, operation, params, region, the action that must be refused)
    (
        # RunScriptsOnlyFromTaggedDocuments: a document without smart-vault:scripts=true (any document in
        # the account could run as root on the backed-up fleet)
        "backup-runs-an-untagged-document",
        "backup",
        "ssm",
        "SendCommand",
        script("other-doc", "i-b"),
        PRIMARY,
        "ssm:SendCommand",
    ),
    (
        # RunScriptsOnlyOnBackedUpInstances: an instance without the backup tag
        "backup-runs-scripts-on-an-instance-not-backed-up",
        "backup",
        "ssm",
        "SendCommand",
        script("scripts-doc", "i-u"),
        PRIMARY,
        "ssm:SendCommand",
    ),
    (
        "backup-runs-scripts-on-an-instance-of-another-tier",
        "backup",
        "ssm",
        "SendCommand",
        script("scripts-doc", "i-b", "i-s"),
        PRIMARY,
        "ssm:SendCommand",
    ),
    (
        "backup-untagged-snapshot-set",
        "backup",
        "ec2",
        "CreateSnapshots",
        {"InstanceSpecification": {"InstanceId": "i-m"}},
        PRIMARY,
        "ec2:CreateSnapshots",
    ),
    (
        "backup-tags-an-unmanaged-snapshot",
        "backup",
        "ec2",
        "CreateTags",
        {"Resources": ["snap-u"], "Tags": [{"Key": "smart-vault:x", "Value": "1"}]},
        PRIMARY,
        "ec2:CreateTags",
    ),
    (
        "backup-retags-ownership",
        "backup",
        "ec2",
        "CreateTags",
        {"Resources": ["snap-m"], "Tags": [{"Key": "Owner", "Value": "x"}]},
        PRIMARY,
        "ec2:CreateTags",
    ),
    (
        "backup-deletes-an-unmanaged-snapshot",
        "backup",
        "ec2",
        "DeleteSnapshot",
        {"SnapshotId": "snap-u"},
        PRIMARY,
        "ec2:DeleteSnapshot",
    ),
    ("backup-uses-the-dr-key-directly", "backup", "kms", "Decrypt", {"KeyId": DR_KEY}, DR, "kms:Decrypt"),
    (
        "backup-copies-into-the-primary-with-the-dr-key",
        "backup",
        "ec2",
        "CopySnapshot",
        {
            "SourceRegion": PRIMARY,
            "SourceSnapshotId": "snap-u",
            "Encrypted": True,
            "KmsKeyId": DR_KEY,
            "TagSpecifications": [tags("snapshot", ManagedBy="smart-vault")],
        },
        PRIMARY,
        "kms:CreateGrant",
    ),
    (
        "backup-decrypts-with-the-ledger-context-directly",
        "backup",
        "kms",
        "Decrypt",
        {
            "KeyId": f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/primary",
            "EncryptionContext": {"aws:dynamodb:tableName": "smart-vault-copy-ledger"},
        },
        PRIMARY,
        "kms:Decrypt",
    ),
    (
        "api-uses-the-stack-key-directly",
        "restore_api",
        "kms",
        "Decrypt",
        {"KeyId": EBS_KEY},
        PRIMARY,
        "kms:Decrypt",
    ),
    # (v3) Change-rate anomalies: only the vault's own snapshots are measured through the EBS direct APIs...
    (
        "backup-measures-blocks-of-an-unmanaged-snapshot",
        "backup",
        "ebs",
        "ListSnapshotBlocks",
        {"SnapshotId": "snap-u"},
        PRIMARY,
        "ebs:ListSnapshotBlocks",
    ),
    (
        "backup-measures-changes-against-an-unmanaged-snapshot",
        "backup",
        "ebs",
        "ListChangedBlocks",
        {"FirstSnapshotId": "snap-u", "SecondSnapshotId": "snap-p"},
        PRIMARY,
        "ebs:ListChangedBlocks",
    ),
    # ...and only the suspect and hold marks are put on DR copies, only on managed ones.
    (
        "backup-marks-an-unmanaged-dr-snapshot-suspect",
        "backup",
        "ec2",
        "CreateTags",
        {"Resources": ["snap-u"], "Tags": [{"Key": "smart-vault:suspect", "Value": "1"}]},
        DR,
        "ec2:CreateTags",
    ),
    (
        "backup-puts-another-tag-on-a-dr-copy",
        "backup",
        "ec2",
        "CreateTags",
        {"Resources": ["snap-m"], "Tags": [{"Key": "ManagedBy", "Value": "someone-else"}]},
        DR,
        "ec2:CreateTags",
    ),
    # (v3) Snapshot Lock of DR copies, sharing with the vault account, announcements on its bus.
    (
        "backup-locks-an-unmanaged-snapshot",
        "backup",
        "ec2",
        "LockSnapshot",
        {"SnapshotId": "snap-u", "LockMode": "governance", "LockDuration": 7},
        DR,
        "ec2:LockSnapshot",
    ),
    (
        "backup-locks-beyond-the-longest-retention",
        "backup",
        "ec2",
        "LockSnapshot",
        {"SnapshotId": "snap-m", "LockMode": "governance", "LockDuration": 3651},
        DR,
        "ec2:LockSnapshot",
    ),
    (
        "backup-locks-with-a-longer-cooling-off",
        "backup",
        "ec2",
        "LockSnapshot",
        {"SnapshotId": "snap-m", "LockMode": "compliance", "LockDuration": 7, "CoolOffPeriod": 72},
        DR,
        "ec2:LockSnapshot",
    ),
    (
        "backup-shares-an-unmanaged-snapshot",
        "backup",
        "ec2",
        "ModifySnapshotAttribute",
        share("snap-u", UserIds=["210987654321"]),
        DR,
        "ec2:ModifySnapshotAttribute",
    ),
    (
        "backup-shares-with-another-account",
        "backup",
        "ec2",
        "ModifySnapshotAttribute",
        share("snap-m", UserIds=["999999999999"]),
        DR,
        "ec2:ModifySnapshotAttribute",
    ),
    (
        "backup-makes-a-snapshot-public",
        "backup",
        "ec2",
        "ModifySnapshotAttribute",
        share("snap-m", GroupNames=["all"]),
        DR,
        "ec2:ModifySnapshotAttribute",
    ),
    (
        "backup-changes-another-attribute",
        "backup",
        "ec2",
        "ModifySnapshotAttribute",
        share("snap-m", attribute="productCodes", UserIds=["210987654321"]),
        DR,
        "ec2:ModifySnapshotAttribute",
    ),
    (
        "backup-announces-as-another-source",
        "backup",
        "events",
        "PutEvents",
        {
            "Entries": [
                {
                    "Source": "aws.ec2",
                    "DetailType": "x",
                    "Detail": "{}",
                    "EventBusName": "arn:aws:events:eu-central-1:210987654321:event-bus/smart-vault-vault",
                }
            ]
        },
        DR,
        "events:PutEvents",
    ),
    (
        "backup-announces-on-another-bus",
        "backup",
        "events",
        "PutEvents",
        {
            "Entries": [
                {"Source": "smart-vault", "DetailType": "x", "Detail": "{}", "EventBusName": "default"}
            ]
        },
        DR,
        "events:PutEvents",
    ),
]


# The instance-restore engine's refusals: the restore worker and the drill run the same engine, so each
# role must refuse every one of them (a case written for one role only would let the other drift).
ENGINE_CASES = [
    (
        "untagged-volume",
        "ec2",
        "CreateVolume",
        {"SnapshotId": "snap-m", "AvailabilityZone": "eu-west-1a"},
        PRIMARY,
        "ec2:CreateVolume",
    ),
    (
        "volume-from-an-unmanaged-snapshot",
        "ec2",
        "CreateVolume",
        {
            "SnapshotId": "snap-u",
            "AvailabilityZone": "eu-west-1a",
            "TagSpecifications": [tags("volume", ManagedBy="smart-vault")],
        },
        PRIMARY,
        "ec2:CreateVolume",
    ),
    (
        "untagged-instance",
        "ec2",
        "RunInstances",
        {**LAUNCH, "TagSpecifications": [tags("instance", Name="x")]},
        PRIMARY,
        "ec2:RunInstances",
    ),
    (
        "instance-without-imdsv2",
        "ec2",
        "RunInstances",
        {**MANAGED_LAUNCH, "MetadataOptions": {"HttpTokens": "optional"}},
        PRIMARY,
        "ec2:RunInstances",
    ),
    (
        "volume-tagged-for-someone-else",
        "ec2",
        "RunInstances",
        {
            **LAUNCH,
            "TagSpecifications": [
                tags("instance", ManagedBy="smart-vault"),
                tags("volume", ManagedBy="other"),
            ],
        },
        PRIMARY,
        "ec2:RunInstances",
    ),
    (
        "untagged-image",
        "ec2",
        "RegisterImage",
        {"Name": "x", "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-m"}}]},
        PRIMARY,
        "ec2:RegisterImage",
    ),
    (
        "image-of-an-unmanaged-snapshot",
        "ec2",
        "RegisterImage",
        {
            "Name": "x",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-u"}}],
            "TagSpecifications": [tags("image", ManagedBy="smart-vault")],
        },
        PRIMARY,
        "ec2:RegisterImage",
    ),
    (
        "deregisters-an-unmanaged-image",
        "ec2",
        "DeregisterImage",
        {"ImageId": "ami-u"},
        PRIMARY,
        "ec2:DeregisterImage",
    ),
    (
        "tags-after-creation",
        "ec2",
        "CreateTags",
        {"Resources": ["vol-m"], "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]},
        PRIMARY,
        "ec2:CreateTags",
    ),
    (
        "attaches-an-unmanaged-volume",
        "ec2",
        "AttachVolume",
        {"VolumeId": "vol-u", "InstanceId": "i-m", "Device": "/dev/sdf"},
        PRIMARY,
        "ec2:AttachVolume",
    ),
    (
        "deletes-an-unmanaged-volume",
        "ec2",
        "DeleteVolume",
        {"VolumeId": "vol-u"},
        PRIMARY,
        "ec2:DeleteVolume",
    ),
    (
        "terminates-an-unmanaged-instance",
        "ec2",
        "TerminateInstances",
        {"InstanceIds": ["i-u"]},
        PRIMARY,
        "ec2:TerminateInstances",
    ),
    ("uses-ebs-keys-directly", "kms", "Decrypt", {"KeyId": EBS_KEY}, PRIMARY, "kms:Decrypt"),
    ("grants-on-ebs-keys-directly", "kms", "CreateGrant", {"KeyId": EBS_KEY}, PRIMARY, "kms:CreateGrant"),
    (
        "passes-the-instance-role-to-lambda",
        "lambda",
        "CreateFunction",
        {"FunctionName": "f", "Role": APP_ROLE},
        PRIMARY,
        "iam:PassRole",
    ),
    (
        "detaches-an-unmanaged-volume",
        "ec2",
        "DetachVolume",
        {"VolumeId": "vol-u", "InstanceId": "i-m"},
        PRIMARY,
        "ec2:DetachVolume",
    ),
]
CASES += [
    (f"{prefix}-{name}", role, *rest)
    for role, prefix in (("restore_worker", "worker"), ("drill", "drill"))
    for name, *rest in ENGINE_CASES
]
# Only the worker creates volumes (the volume form): tagged at creation, and only as the vault's.
CASES.append(
    (
        "worker-volume-created-for-someone-else",
        "restore_worker",
        "ec2",
        "CreateVolume",
        {
            "SnapshotId": "snap-m",
            "AvailabilityZone": "eu-west-1a",
            "TagSpecifications": [tags("volume", ManagedBy="other")],
        },
        PRIMARY,
        "ec2:CreateTags",
    )
)
# Only the drill: a full-instance restore may launch from the AMI its request names (`ami_id`).
CASES.append(
    (
        "drill-launches-an-unmanaged-image",
        "drill",
        "ec2",
        "RunInstances",
        {**MANAGED_LAUNCH, "ImageId": "ami-u"},
        PRIMARY,
        "ec2:RunInstances",
    )
)


@pytest.mark.parametrize(
    ("function", "service", "operation", "params", "region", "action"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_the_role_refuses(function, service, operation, params, region, action):
    outcomes, _, _ = Enforcer(world()).decide(
        Call(function, service, operation, params, region, ENV[function])
    )
    assert action in {o.request.action for o in outcomes if not o.allowed}


def test_the_same_requests_done_right_are_allowed():
    """The refusals above are the conditions at work, not a model that refuses everything."""
    facts = world()
    managed = [
        ("restore_worker", "RunInstances", {**MANAGED_LAUNCH, "IamInstanceProfile": {"Arn": PROFILE}}),
        ("drill", "RunInstances", MANAGED_LAUNCH),
        (
            "restore_worker",
            "CreateVolume",
            {
                "SnapshotId": "snap-m",
                "AvailabilityZone": "eu-west-1a",
                "TagSpecifications": [tags("volume", ManagedBy="smart-vault")],
            },
        ),
        ("backup", "DeleteSnapshot", {"SnapshotId": "snap-m"}),
        (
            "backup",
            "LockSnapshot",
            {"SnapshotId": "snap-m", "LockMode": "compliance", "LockDuration": 7, "CoolOffPeriod": 24},
        ),
        (
            "backup",
            "ModifySnapshotAttribute",
            share("snap-m", UserIds=["210987654321"]),
        ),
        ("backup", "CreateTags", {"Resources": ["snap-m"], "Tags": [{"Key": "smart-vault:x", "Value": "1"}]}),
    ]
    managed += [("drill", "DeleteVolume", {"VolumeId": "vol-m"})]  # a drill volume left after termination
    for function, operation, params in managed:
        region = DR if operation in ("LockSnapshot", "ModifySnapshotAttribute") else PRIMARY
        outcomes, _, _ = Enforcer(facts).decide(
            Call(function, "ec2", operation, params, region, ENV[function])
        )
        assert [o.request.resource for o in outcomes if not o.allowed] == [], (function, operation)
    # (v3) The backup measures its own snapshots and marks its own DR copies.
    for service, operation, params, region in (
        ("ebs", "ListSnapshotBlocks", {"SnapshotId": "snap-p"}, PRIMARY),
        ("ebs", "ListChangedBlocks", {"FirstSnapshotId": "snap-p", "SecondSnapshotId": "snap-p"}, PRIMARY),
        (
            "ec2",
            "CreateTags",
            {"Resources": ["snap-m"], "Tags": [{"Key": "smart-vault:hold", "Value": "1"}]},
            DR,
        ),
    ):
        outcomes, _, _ = Enforcer(facts).decide(
            Call("backup", service, operation, params, region, ENV["backup"])
        )
        assert [o.request.resource for o in outcomes if not o.allowed] == [], operation
    announce = {
        "Entries": [
            {
                "Source": "smart-vault",
                "DetailType": "x",
                "Detail": "{}",
                "EventBusName": ENV["backup"]["VAULT_EVENT_BUS_ARN"],
            }
        ]
    }
    outcomes, _, _ = Enforcer(facts).decide(
        Call("backup", "events", "PutEvents", announce, DR, ENV["backup"])
    )
    assert [(o.allowed, o.allowed_by, o.resource_policy) for o in outcomes] == [
        (True, ("AnnounceOnTheVaultBus",), "allows")
    ]

    # The scripts of an application-consistent set: the tagged document on a backed-up instance.
    outcomes, _, _ = Enforcer(facts).decide(
        Call("backup", "ssm", "SendCommand", script("scripts-doc", "i-b"), PRIMARY, ENV["backup"])
    )
    assert {(o.request.resource, o.allowed_by) for o in outcomes} == {
        (f"arn:aws:ssm:{PRIMARY}:{ACCOUNT}:document/scripts-doc", ("RunScriptsOnlyFromTaggedDocuments",)),
        (f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:instance/i-b", ("RunScriptsOnlyOnBackedUpInstances",)),
    }
    # The API starts its worker (the functional tests replace that Invoke by a direct call of the worker).
    start = {"FunctionName": "smart-vault-restore-worker", "InvocationType": "Event"}
    outcomes, _, _ = Enforcer(facts).decide(
        Call("restore_api", "lambda", "Invoke", start, PRIMARY, ENV["restore_api"])
    )
    assert [o.allowed_by for o in outcomes] == [("StartWorkerAsynchronously",)]


def test_scripts_follow_the_configured_backup_tag():
    """RunScriptsOnlyOnBackedUpInstances reads the deployment's backup tag (BACKUP_TAG_KEY / _VALUE, as
    tests/backup/test_backup_run.py configures it): an instance tagged only with the default key is refused,
    one with the configured key and an accepted value is not."""
    facts = world()
    facts.add(PRIMARY, Ec2Resource("i-daily", {"backup": "daily"}))
    env = {**ENV["backup"], "BACKUP_TAG_KEY": "backup", "BACKUP_TAG_VALUE": "daily, weekly"}
    refused, _, _ = Enforcer(facts).decide(
        Call("backup", "ssm", "SendCommand", script("scripts-doc", "i-b"), PRIMARY, env)
    )
    assert [o.request.resource for o in refused if not o.allowed] == [
        f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:instance/i-b"
    ]
    allowed, _, _ = Enforcer(facts).decide(
        Call("backup", "ssm", "SendCommand", script("scripts-doc", "i-daily"), PRIMARY, env)
    )
    assert all(o.allowed for o in allowed)
