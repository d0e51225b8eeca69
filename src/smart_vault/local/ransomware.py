"""(v3) A ransomware day on the emulator: two accounts, three nights of backups, an attacker with the workload
account's administrator rights, and the instance back from the vault account.

Runs in-process on moto (the caller starts `mock_aws` after `moto_fidelity.apply()`): the real backup and
vault handlers and the real full-instance restore engine, with the emulator's two accounts, Snapshot Lock,
key-policy Deny and CloudTrail. The attacker's calls are administrator calls: moto evaluates no IAM, and an
administrator passes any IAM check anyway, so only what AWS refuses to administrators refuses them here:
Snapshot Lock, the DR key's policy, and the account boundary. The emulator's clock does not move: the
"nights" are three runs in a row (retention does not come into it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
from botocore.exceptions import ClientError

from smart_vault import aws
from smart_vault.backup.entry import handle as backup_handle
from smart_vault.config import BackupSettings, VaultSettings
from smart_vault.local.cloudtrail import TamperRules, Trail
from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.moto_accounts import as_account, credentials_for, function_environment
from smart_vault.local.vault_setup import VAULT, VAULT_ROLE, WORKLOAD, Setup, set_up
from smart_vault.restore.engine import Deadline, InstancePlan, InstanceRestore, load_recovery_point
from smart_vault.restore.recovery_points import list_recovery_points
from smart_vault.vault.entry import handle as vault_handle

PRIMARY, DR = "eu-west-1", "eu-central-1"
ATTACKER_ROLE = "ransomware-admin"


@dataclass
class AttackCall:
    call: str
    target: str
    allowed: bool
    why: str = ""


@dataclass
class RansomwareDay:
    nights: list[dict[str, int]] = field(default_factory=list)
    calls: list[AttackCall] = field(default_factory=list)
    tamper: list[dict[str, Any]] = field(default_factory=list)
    workload_snapshots_left: int = 0
    vault_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    restore: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Context:
    """A Lambda context of a function of one account."""

    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "smart-vault"


def _night(setup: Setup, night: int) -> dict[str, int]:
    """One night: the scheduled run, a reconciliation (which shares and announces the completed copies), the
    vault's deliveries and its reconciliation."""
    backup_ctx = _Context(f"arn:aws:lambda:{PRIMARY}:{WORKLOAD}:function:smart-vault-backup")
    settings = BackupSettings.from_env(setup.backup_env)
    now = datetime.now(UTC)
    scheduled = {
        "id": f"night-{night}",
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "detail": {},
    }
    with function_environment(setup.backup_env):
        run = backup_handle(scheduled, backup_ctx, settings, now)
        backup_handle({"reconcile_copies": True}, backup_ctx, settings, now)
    vault_settings = VaultSettings.from_env(setup.vault_env)
    vault_ctx = _Context(f"arn:aws:lambda:{DR}:{VAULT}:function:smart-vault-vault")
    started = 0
    with as_account(setup.vault_credentials), function_environment(setup.vault_env):
        for event in setup.announcements():
            started += len(vault_handle(event, vault_ctx, vault_settings, now)["copies_started"])
        vault_handle({"reconcile": True}, vault_ctx, vault_settings, now)
    return {"night": night, "snapshots": len(run["snapshots_created"]), "vault_copies": started}


def _try(
    calls: list[AttackCall], call: str, target: str, action: Callable[[], Any], why_allowed: str = ""
) -> bool:
    try:
        action()
    except ClientError as exc:
        error = exc.response["Error"]
        calls.append(AttackCall(call, target, False, f"{error.get('Code')}: {error.get('Message')}"))
        return False
    calls.append(AttackCall(call, target, True, why_allowed))
    return True


def _destroy_snapshots(ec2: Any, region: str, calls: list[AttackCall]) -> None:
    """Delete every snapshot; what a lock refuses: unlock, unshare from the vault, delete again."""
    for snap in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        sid = snap["SnapshotId"]

        def delete(s: str = sid) -> Any:
            return ec2.delete_snapshot(SnapshotId=s)

        if _try(calls, "DeleteSnapshot", sid, delete) or not calls[-1].why.startswith("SnapshotLocked"):
            continue  # deleted, or behind an AMI (the fleet's image): not worth the attacker's time
        _try(calls, "UnlockSnapshot", sid, partial(ec2.unlock_snapshot, SnapshotId=sid))
        _try(
            calls,
            "ModifySnapshotAttribute",
            f"{sid} (unshare from {VAULT})",
            partial(
                ec2.modify_snapshot_attribute,
                SnapshotId=sid,
                Attribute="createVolumePermission",
                OperationType="remove",
                UserIds=[VAULT],
            ),
        )
        _try(calls, "DeleteSnapshot", sid, delete)
    seen = ec2.describe_snapshots(OwnerIds=[VAULT])["Snapshots"]
    calls.append(
        AttackCall("DescribeSnapshots", f"owner {VAULT} in {region}", True, f"sees {len(seen)} of them")
    )


def attack(setup: Setup, trail: Trail) -> list[AttackCall]:
    """The attacker's morning, with the workload account's administrator rights."""
    creds = credentials_for(WORKLOAD, DR, role_name=ATTACKER_ROLE)
    principal = f"arn:aws:sts::{WORKLOAD}:assumed-role/{ATTACKER_ROLE}/emulator"

    def client(service: str, region: str) -> Any:
        made = boto3.client(  # type: ignore[call-overload]  # the stubs type client() per literal service name
            service,
            region_name=region,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds["AWS_SESSION_TOKEN"],
        )
        return trail.watch(made, principal, WORKLOAD)

    calls: list[AttackCall] = []
    for region in (PRIMARY, DR):
        _destroy_snapshots(client("ec2", region), region, calls)
    kms = client("kms", DR)
    key_id = setup.dr_key_arn.split("/")[-1]
    _try(
        calls,
        "ScheduleKeyDeletion",
        setup.dr_key_arn,
        lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7),
    )
    _try(calls, "DisableKey", setup.dr_key_arn, lambda: kms.disable_key(KeyId=key_id))
    functions, events = client("lambda", PRIMARY), client("events", PRIMARY)
    _try(
        calls,
        "DeleteFunction",
        setup.backup_function,
        lambda: functions.delete_function(FunctionName=setup.backup_function),
    )
    for rule in setup.backup_rules:
        _try(calls, "RemoveTargets", rule, partial(events.remove_targets, Rule=rule, Ids=["backup"]))
        _try(calls, "DeleteRule", rule, partial(events.delete_rule, Name=rule))
    return calls


class _StepTimer:
    """The restore engine's recorder: the time each step ended (monotonic)."""

    def __init__(self) -> None:
        self.ended: dict[str, float] = {}

    def step(self, name: str) -> AbstractContextManager[None]:
        @contextmanager
        def timed() -> Iterator[None]:
            yield
            self.ended[name] = time.monotonic()

        return timed()

    def save(self, **_: Any) -> None:
        return None


def restore_in_vault(setup: Setup, instance_id: str, backup_set_id: str) -> dict[str, Any]:
    """`instance_id` whole, from the vault's copies, in the vault account's isolated recovery network."""
    with as_account(setup.vault_credentials):
        ec2 = aws.client("ec2", DR)
        point = load_recovery_point(ec2, backup_set_id)
        plan = InstancePlan(
            restore_id=str(uuid.uuid4()),
            region=DR,
            backup_set_id=backup_set_id,
            subnet_id=setup.recovery_subnet,
            availability_zone=setup.recovery_az,
            security_group_ids=(setup.recovery_group,),
            instance_type=point.tag("smart-vault:instance-type") or "t3.micro",
        )
        timer, started = _StepTimer(), time.monotonic()
        restore = InstanceRestore(ec2, plan, timer, Deadline(seconds_left=900.0, reserve_seconds=60.0))
        restore.execute()
        rto = timer.ended.get("wait_status_checks", time.monotonic()) - started
        described = ec2.describe_instances(InstanceIds=[restore.instance_id or ""])["Reservations"][0][
            "Instances"
        ][0]
    return {
        "instance_id": restore.instance_id,
        "state": described["State"]["Name"],
        "subnet_id": described.get("SubnetId"),
        "volumes": sorted(m["DeviceName"] for m in described.get("BlockDeviceMappings", [])),
        "backup_set_id": backup_set_id,
        "rto_seconds": round(rto, 3),
    }


def vault_points(setup: Setup) -> dict[str, dict[str, Any]]:
    """Per protected instance, its newest complete recovery point in the vault account."""
    found = {}
    with as_account(setup.vault_credentials):
        ec2 = aws.client("ec2", DR)
        for label, instance_id in setup.instances.items():
            listing = list_recovery_points(ec2, DR, instance_id=instance_id, name=None, now=datetime.now(UTC))
            complete = [p for p in listing["recovery_points"] if p["complete"]]
            found[label] = {
                "instance_id": instance_id,
                "points": len(listing["recovery_points"]),
                "newest_complete": complete[0]["backup_set_id"] if complete else None,
                "immutable": bool(complete) and complete[0]["immutable"],
                "volumes": len(complete[0]["volumes"]) if complete else 0,
            }
    return found


def run_ransomware_day(nights: int = 3) -> RansomwareDay:
    """The whole story; the caller holds `mock_aws` (with `moto_fidelity.apply()` done)."""
    setup = set_up()
    day = RansomwareDay()
    day.nights = [_night(setup, n) for n in range(1, nights + 1)]
    trail = Trail()
    day.calls = attack(setup, trail)
    # The tamper rules of each region as vault.tf deploys them (the emulated primary region has no key; the DR
    # region's let the vault function's role create grants on the DR key, as each vault copy makes EBS do).
    config = DeploymentConfig(primary_region=PRIMARY, dr_region=DR)
    vault_role = [f"arn:aws:iam::{VAULT}:role/{VAULT_ROLE}"]
    for region, keys, grant_roles in (
        (PRIMARY, [], []),
        (DR, [setup.dr_key_arn.split("/")[-1], setup.dr_key_arn], vault_role),
    ):
        rules = TamperRules.deployed(config, WORKLOAD, region, keys, grant_roles)
        day.tamper += rules.notifications(trail.events)
    for region in (PRIMARY, DR):
        day.workload_snapshots_left += len(
            boto3.client("ec2", region).describe_snapshots(OwnerIds=["self"])["Snapshots"]
        )
    day.vault_points = vault_points(setup)
    web = day.vault_points["web-1"]
    if web["newest_complete"]:
        day.restore = restore_in_vault(setup, web["instance_id"], web["newest_complete"])
    return day


def as_json(day: RansomwareDay) -> str:
    return json.dumps(
        {
            "nights": day.nights,
            "calls": [c.__dict__ for c in day.calls],
            "tamper": day.tamper,
            "workload_snapshots_left": day.workload_snapshots_left,
            "vault_points": day.vault_points,
            "restore": day.restore,
        },
        indent=2,
        default=str,
    )
