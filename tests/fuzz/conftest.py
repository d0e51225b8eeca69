"""Fixtures of the fuzz suite: the restore world on moto, the facts the contract oracle needs, a gateway."""

from __future__ import annotations

import json

import boto3
import pytest
from gateway import ApiGateway
from oracle import Facts, RecoveryPointFacts, RegionFacts

from smart_vault.tags import LINUX_PLATFORM

ALLOWED_INSTANCE_TYPES = {"t3.micro", "t3.small", "t3.medium", "t3.large"}
# Full-instance restores: web-1 has a complete and a newer incomplete set in both regions (DR copies in the
# DR region), win-1 is a Windows instance, stuck-1 has only an incomplete set.
WEB, WINDOWS, STUCK = "i-0a1b2c3d4e5f60718", "i-0b1b2c3d4e5f60718", "i-0c1b2c3d4e5f60718"


def _region_facts(region: str, images: set[str], restorable: set[str]) -> RegionFacts:
    ec2 = boto3.client("ec2", region)
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    subnets = ec2.describe_subnets()["Subnets"]
    groups = ec2.describe_security_groups()["SecurityGroups"]
    return RegionFacts(
        zones=zones,
        subnets={s["SubnetId"]: s["AvailabilityZone"] for s in subnets},
        images=images,
        restorable_snapshots=restorable,
        subnet_vpcs={s["SubnetId"]: s["VpcId"] for s in subnets},
        security_groups={g["GroupId"]: g["VpcId"] for g in groups if g.get("VpcId")},
    )


def _recovery_points(primary: str, dr: str, subnet: str, groups: list[str]) -> dict[str, dict]:
    """Back up the three instances in both regions; the facts of each set, per region."""
    from datetime import UTC, datetime, timedelta

    from support.instance_world import age_set, make_backup_set, set_state

    now = datetime.now(UTC)
    points: dict[str, dict] = {primary: {}, dr: {}}
    plan = [
        (WEB, "web-old", LINUX_PLATFORM, True, 2),
        (WEB, "web-new", LINUX_PLATFORM, False, 1),
        (WINDOWS, "win", "Windows", True, 1),
        (STUCK, "stuck", LINUX_PLATFORM, False, 1),
    ]
    for instance_id, label, platform, complete, days_old in plan:
        for region in (primary, dr):
            is_copy = region == dr
            made = make_backup_set(
                region,
                label,
                instance_id=instance_id,
                subnet_id=subnet,
                security_group_ids=groups,
                platform=platform,
                source_region=primary if is_copy else None,
            )
            age_set(made, now - timedelta(days=days_old))
            if not complete:
                set_state(made, "pending")
            points[region].setdefault(instance_id, {})[made.backup_set_id] = RecoveryPointFacts(
                complete=complete,
                created=-days_old,
                platform=platform,
                instance_type="t3.small",
                subnet_id=subnet,
                security_group_ids=tuple(groups),
                is_copy=is_copy,
            )
    return points


@pytest.fixture
def fuzz_world(moto_aws, monkeypatch):
    """The restore world, with a subnet allowlist that leaves one real subnet out."""
    from support.instance_world import network
    from support.restore_world import PRIMARY_REGION, build_world, route_lambda_to, set_restore_env

    world = build_world()
    set_restore_env(monkeypatch, world.topic_arn)
    route_lambda_to(monkeypatch, world.lambda_client)
    _, primary_subnet, primary_groups = network(PRIMARY_REGION)
    _, dr_subnet, dr_groups = network(world.dr.region)
    allowed_subnets = {
        world.primary.subnet_id,
        world.primary.other_subnet_id,
        world.dr.other_subnet_id,
        primary_subnet,
        dr_subnet,
    }
    monkeypatch.setenv("ALLOWED_SUBNET_IDS", ",".join(sorted(allowed_subnets)))
    monkeypatch.setenv("ALLOWED_INSTANCE_TYPES", ",".join(sorted(ALLOWED_INSTANCE_TYPES)))
    monkeypatch.setenv(
        "RESTORE_NETWORKS",
        json.dumps({world.dr.region: {"subnet_id": dr_subnet, "security_group_ids": dr_groups[:1]}}),
    )
    points = _recovery_points(PRIMARY_REGION, world.dr.region, primary_subnet, primary_groups)
    facts = Facts(
        primary_region=PRIMARY_REGION,
        dr_region=world.dr.region,
        regions={
            PRIMARY_REGION: _region_facts(PRIMARY_REGION, {world.primary.ami_id}, {world.snapshot_id}),
            world.dr.region: _region_facts(world.dr.region, {world.dr.ami_id}, {world.dr_snapshot_id}),
        },
        allowed_instance_types=ALLOWED_INSTANCE_TYPES,
        allowed_subnets=allowed_subnets,
    )
    for region, by_instance in points.items():
        facts.regions[region].recovery_points = by_instance
    facts.regions[world.dr.region].network_subnet = dr_subnet
    facts.regions[world.dr.region].network_groups = tuple(dr_groups[:1])
    world.instance_ids = [WEB, WINDOWS, STUCK]
    world.backup_set_ids = sorted({s for r in points.values() for i in r.values() for s in i})
    world.security_group_ids = sorted(set(primary_groups) | set(dr_groups))
    return world, facts


@pytest.fixture
def gateway(fuzz_requests, request) -> ApiGateway:
    """The API as API Gateway serves it; every request it forwards is counted under the test's name."""
    name = request.node.originalname or request.node.name

    def count() -> None:
        fuzz_requests[name] += 1

    return ApiGateway(on_request=count)
