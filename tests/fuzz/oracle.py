"""What the contract allows `POST /restore` to answer, worked out from the contract alone.

`allowed_statuses(body, world)` returns the statuses the contract permits for one request body against a
known AWS world. It does not reuse the product's validation: it restates the contract's tables (types,
patterns, allowlists, conditional requirements) and its pre-checks (snapshot, AMI, subnet, zone; for the
full-instance form the recovery point, the defaults per region, security groups and the platform rule), so
that a bug in the product's checks shows up as a disagreement. Where the contract is silent (which of two
problems to report first; launch-only fields on a volume-only restore) every reasonable answer is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

FIELDS = {
    "snapshot_id",
    "region",
    "launch_instance",
    "ami_id",
    "subnet_id",
    "instance_type",
    "availability_zone",
    "device_name",
    "volume_type",
    "keep_on_failure",
}
PATTERNS = {
    "snapshot_id": r"snap-[0-9a-f]{8,17}",
    "ami_id": r"ami-[0-9a-f]{8,17}",
    "subnet_id": r"subnet-[0-9a-f]{8,17}",
    "device_name": r"/dev/(sd|xvd)[f-p]",
}
VOLUME_TYPES = {"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"}
BOOLEANS = ("launch_instance", "keep_on_failure")
INSTANCE_FIELDS = {
    "instance_id",
    "backup_set_id",
    "region",
    "subnet_id",
    "security_group_ids",
    "instance_type",
    "ami_id",
    "keep_on_failure",
}
INSTANCE_PATTERNS = {
    "instance_id": r"i-[0-9a-f]{8,17}",
    "backup_set_id": r"bset-[0-9a-f]{20}",
    "subnet_id": r"subnet-[0-9a-f]{8,17}",
    "ami_id": r"ami-[0-9a-f]{8,17}",
    "instance_type": r"[a-z][a-z0-9-]*\.[a-z0-9]+",
}
SECURITY_GROUP = r"sg-[0-9a-f]{8,17}"
LINUX = "Linux/UNIX"
STRINGS = tuple(sorted(FIELDS - set(BOOLEANS)))


@dataclass(frozen=True)
class RecoveryPointFacts:
    """One backup set in one region, as its snapshots record it."""

    complete: bool
    created: int  # an ordering: larger is newer
    platform: str | None
    instance_type: str
    subnet_id: str  # recorded, i.e. the primary region's
    security_group_ids: tuple[str, ...]
    is_copy: bool  # a DR copy (carries smart-vault:source-region)


@dataclass
class RegionFacts:
    """What exists in one region of the test world."""

    zones: set[str]
    subnets: dict[str, str]  # subnet id -> its availability zone
    images: set[str]
    restorable_snapshots: set[str]  # this account's, managed, completed
    pending_snapshots: set[str] = field(default_factory=set)  # this account's, managed, not completed yet
    subnet_vpcs: dict[str, str] = field(default_factory=dict)  # subnet id -> its VPC
    security_groups: dict[str, str] = field(default_factory=dict)  # group id -> its VPC
    recovery_points: dict[str, dict[str, RecoveryPointFacts]] = field(default_factory=dict)  # instance -> set
    network_subnet: str | None = None  # RESTORE_NETWORKS[region]
    network_groups: tuple[str, ...] = ()


@dataclass
class Facts:
    primary_region: str
    dr_region: str
    regions: dict[str, RegionFacts]
    allowed_instance_types: set[str]
    allowed_subnets: set[str]  # empty: any


def _instance_problems(body: dict, facts: Facts) -> tuple[bool, set[int]]:
    """`_problems` of a full-instance body (one with `instance_id`)."""
    if set(body) - INSTANCE_FIELDS:
        return False, set()
    for name in INSTANCE_FIELDS - {"security_group_ids", "keep_on_failure"}:
        if name in body and not isinstance(body[name], str):
            return False, set()
    if "keep_on_failure" in body and not isinstance(body["keep_on_failure"], bool):
        return False, set()
    for name, pattern in INSTANCE_PATTERNS.items():
        if name in body and not re.fullmatch(pattern, body[name]):
            return False, set()
    if "instance_type" in body and len(body["instance_type"]) > 64:
        return False, set()
    groups = body.get("security_group_ids")
    if "security_group_ids" in body:  # present means an array: JSON null is a wrong type, not "absent"
        if not isinstance(groups, list) or not 1 <= len(groups) <= 5:
            return False, set()
        if not all(isinstance(g, str) and re.fullmatch(SECURITY_GROUP, g) for g in groups):
            return False, set()
        if len(set(groups)) != len(groups):
            return False, set()
    region = body.get("region", facts.primary_region)
    if region not in (facts.primary_region, facts.dr_region):
        return False, set()
    if "subnet_id" in body and facts.allowed_subnets and body["subnet_id"] not in facts.allowed_subnets:
        return False, set()

    world = facts.regions[region]
    sets = world.recovery_points.get(body["instance_id"], {})
    if "backup_set_id" in body:
        point = sets.get(body["backup_set_id"])
        if point is None:
            return True, {404}
        if not point.complete:
            return True, {409}
    else:
        if not sets:
            return True, {404}
        complete = [p for p in sets.values() if p.complete]
        if not complete:
            return True, {409}
        point = max(complete, key=lambda p: p.created)
    failing: set[int] = set()
    if "ami_id" not in body and point.platform != LINUX:
        failing.add(400)
    wanted_type = body.get("instance_type", point.instance_type)
    if wanted_type != point.instance_type and wanted_type not in facts.allowed_instance_types:
        failing.add(400)
    own_region = not point.is_copy
    subnet = body.get("subnet_id") or (point.subnet_id if own_region else world.network_subnet)
    groups = groups or (list(point.security_group_ids) if own_region else list(world.network_groups))
    if subnet is None or (facts.allowed_subnets and subnet not in facts.allowed_subnets):
        failing.add(400)
    elif subnet not in world.subnet_vpcs:
        failing.add(400)
    if not groups:
        failing.add(400)
    elif subnet in world.subnet_vpcs and any(
        world.security_groups.get(g) != world.subnet_vpcs[subnet] for g in groups
    ):
        failing.add(400)
    if "ami_id" in body and body["ami_id"] not in world.images:
        failing.add(400)
    return True, failing


def _problems(body: Any, facts: Facts) -> tuple[bool, set[int]]:
    """(is_the_request_valid_without_aws, statuses of the AWS pre-checks that fail)."""
    if isinstance(body, dict) and "instance_id" in body:
        return _instance_problems(body, facts)
    if not isinstance(body, dict) or set(body) - FIELDS:
        return False, set()
    for name in STRINGS:
        if name in body and not isinstance(body[name], str):
            return False, set()
    for name in BOOLEANS:
        if name in body and not isinstance(body[name], bool):
            return False, set()
    if "snapshot_id" not in body:
        return False, set()
    for name, pattern in PATTERNS.items():
        if name in body and not re.fullmatch(pattern, body[name]):
            return False, set()
    if "volume_type" in body and body["volume_type"] not in VOLUME_TYPES:
        return False, set()
    region = body.get("region", facts.primary_region)
    if region not in (facts.primary_region, facts.dr_region):
        return False, set()
    launch = body.get("launch_instance", False)
    subnet = body.get("subnet_id")
    zone = body.get("availability_zone")
    if launch:
        if "ami_id" not in body or subnet is None:
            return False, set()
        if body.get("instance_type", "t3.micro") not in facts.allowed_instance_types:
            return False, set()
    elif subnet is None and zone is None:
        return False, set()
    if subnet is not None and facts.allowed_subnets and subnet not in facts.allowed_subnets:
        return False, set()

    world = facts.regions[region]
    failing: set[int] = set()
    if body["snapshot_id"] in world.pending_snapshots:
        failing.add(409)
    elif body["snapshot_id"] not in world.restorable_snapshots:
        failing.add(404)
    if launch and body["ami_id"] not in world.images:
        failing.add(400)
    if subnet is not None:
        if subnet not in world.subnets or (zone is not None and world.subnets[subnet] != zone):
            failing.add(400)
    elif zone not in world.zones:
        failing.add(400)
    return True, failing


def allowed_statuses(body: Any, facts: Facts) -> set[int]:
    """The statuses the contract permits for this body (no Idempotency-Key)."""
    valid, failing = _problems(body, facts)
    if not valid:
        allowed = {400}
    elif failing:
        allowed = failing  # which failing check answers first is the product's choice
    else:
        allowed = {202}
    if valid and "instance_id" in body:
        return allowed
    if valid and not body.get("launch_instance", False) and {"ami_id", "instance_type"} & set(body):
        # The contract does not say whether launch-only fields on a volume-only restore are an error.
        allowed = allowed | {400}
    return allowed


def allowed_statuses_for_text(raw: bytes, facts: Facts) -> set[int]:
    """The statuses the contract permits for a raw request body."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_not_json, object_pairs_hook=_unique_keys)
    except _DuplicateKeys as duplicated:
        # RFC 8259 leaves duplicate names to the receiver: rejecting is as good as reading the last one.
        return {400} | allowed_statuses(duplicated.last_wins, facts)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {400}
    return allowed_statuses(body, facts)


class _DuplicateKeys(ValueError):
    def __init__(self, last_wins: dict):
        super().__init__("duplicate keys")
        self.last_wins = last_wins


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKeys(result)
    return result


def must_reject(body: Any, facts: Facts) -> bool:
    return 202 not in allowed_statuses(body, facts)
