"""The local emulator can take one region down: every call signed for it is refused, the other region works."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from smart_vault.local.emulator import Emulator

PRIMARY, DR = "eu-west-1", "eu-central-1"


@pytest.fixture
def emulator():
    emulator = Emulator()
    emulator.start()
    yield emulator
    emulator.stop()


def test_a_region_taken_down_refuses_every_call_and_the_other_keeps_working(emulator):
    primary, dr = emulator.client("ec2", PRIMARY), emulator.client("ec2", DR)
    primary.create_vpc(CidrBlock="10.0.0.0/16")
    emulator.take_region_down(PRIMARY)
    for call in (primary.describe_vpcs, primary.describe_snapshots):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "RegionUnavailable"
        assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    with pytest.raises(ClientError):
        emulator.client("dynamodb", PRIMARY).list_tables()
    assert dr.describe_vpcs()["Vpcs"]  # the DR region answers as before
    emulator.bring_region_back(PRIMARY)
    assert len(primary.describe_vpcs()["Vpcs"]) >= 2  # moto's default VPC and ours
