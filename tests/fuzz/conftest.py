"""Fixtures of the fuzz suite: the restore world on moto, the facts the contract oracle needs, a gateway."""

from __future__ import annotations

import boto3
import pytest
from gateway import ApiGateway
from oracle import Facts, RegionFacts

ALLOWED_INSTANCE_TYPES = {"t3.micro", "t3.small", "t3.medium", "t3.large"}


def _region_facts(region: str, images: set[str], restorable: set[str]) -> RegionFacts:
    ec2 = boto3.client("ec2", region)
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    subnets = {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets()["Subnets"]}
    return RegionFacts(zones=zones, subnets=subnets, images=images, restorable_snapshots=restorable)


@pytest.fixture
def fuzz_world(moto_aws, monkeypatch):
    """The restore world, with a subnet allowlist that leaves one real subnet out."""
    from support.restore_world import PRIMARY_REGION, build_world, route_lambda_to, set_restore_env

    world = build_world()
    set_restore_env(monkeypatch, world.topic_arn)
    route_lambda_to(monkeypatch, world.lambda_client)
    allowed_subnets = {world.primary.subnet_id, world.primary.other_subnet_id, world.dr.other_subnet_id}
    monkeypatch.setenv("ALLOWED_SUBNET_IDS", ",".join(sorted(allowed_subnets)))
    monkeypatch.setenv("ALLOWED_INSTANCE_TYPES", ",".join(sorted(ALLOWED_INSTANCE_TYPES)))
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
    return world, facts


@pytest.fixture
def gateway(fuzz_requests, request) -> ApiGateway:
    """The API as API Gateway serves it; every request it forwards is counted under the test's name."""
    name = request.node.originalname or request.node.name

    def count() -> None:
        fuzz_requests[name] += 1

    return ApiGateway(on_request=count)
