"""Pre-checks against EC2 answers moto cannot give (other accounts' snapshots, pending snapshots), via Stubber."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from smart_vault.errors import AwsError, Conflict, NotFound, ValidationError
from smart_vault.restore.checks import check_snapshot, run_prechecks
from smart_vault.restore.request import RestoreRequest
from support.restore_world import volume_request

SNAP = "snap-0123456789abcdef0"


def request(**overrides) -> RestoreRequest:
    return RestoreRequest(**volume_request(SNAP, **overrides))


@pytest.fixture
def ec2():
    client = boto3.client("ec2", "eu-west-1")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def snapshot(state="completed", tags=None, owner="123456789012"):
    return {
        "SnapshotId": SNAP,
        "State": state,
        "OwnerId": owner,
        "VolumeSize": 8,
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {"ManagedBy": "smart-vault"}).items()],
    }


def test_another_accounts_snapshot_is_not_found_because_only_our_own_are_asked_for(ec2):
    # AWS answers an empty list when the id exists but OwnerIds=['self'] excludes it (public or shared snapshot).
    ec2.stubber.add_response(
        "describe_snapshots", {"Snapshots": []}, {"SnapshotIds": [SNAP], "OwnerIds": ["self"]}
    )
    with pytest.raises(NotFound) as caught:
        check_snapshot(ec2, SNAP, "eu-west-1")
    assert caught.value.error == "SnapshotNotFound"


def test_a_missing_snapshot_is_not_found(ec2):
    ec2.stubber.add_client_error(
        "describe_snapshots", "InvalidSnapshot.NotFound", "The snapshot does not exist"
    )
    with pytest.raises(NotFound) as caught:
        check_snapshot(ec2, SNAP, "eu-west-1")
    assert caught.value.error == "SnapshotNotFound"


def test_an_unmanaged_snapshot_is_not_found(ec2):
    ec2.stubber.add_response("describe_snapshots", {"Snapshots": [snapshot(tags={"ManagedBy": "terraform"})]})
    with pytest.raises(NotFound):
        check_snapshot(ec2, SNAP, "eu-west-1")


@pytest.mark.parametrize("state", ["pending", "error"])
def test_a_snapshot_that_is_not_completed_is_a_conflict(ec2, state):
    ec2.stubber.add_response("describe_snapshots", {"Snapshots": [snapshot(state=state)]})
    with pytest.raises(Conflict, match=state):
        check_snapshot(ec2, SNAP, "eu-west-1")


def test_an_unknown_availability_zone_is_a_validation_error(ec2):
    ec2.stubber.add_response("describe_snapshots", {"Snapshots": [snapshot()]})
    ec2.stubber.add_client_error(
        "describe_availability_zones", "InvalidParameterValue", "The zone 'eu-west-1q' does not exist"
    )
    with pytest.raises(ValidationError) as caught:
        run_prechecks(request(availability_zone="eu-west-1q"), ec2=ec2)
    assert caught.value.field == "availability_zone"


def test_an_ami_that_is_not_available_is_a_validation_error(ec2):
    ec2.stubber.add_response("describe_snapshots", {"Snapshots": [snapshot()]})
    ec2.stubber.add_response(
        "describe_images", {"Images": [{"ImageId": "ami-0123456789abcdef0", "State": "pending"}]}
    )
    with pytest.raises(ValidationError) as caught:
        run_prechecks(
            request(
                launch_instance=True, ami_id="ami-0123456789abcdef0", subnet_id="subnet-0123456789abcdef0"
            ),
            ec2=ec2,
        )
    assert caught.value.field == "ami_id"


def test_the_subnet_gives_the_availability_zone(ec2):
    ec2.stubber.add_response("describe_snapshots", {"Snapshots": [snapshot()]})
    ec2.stubber.add_response(
        "describe_subnets",
        {"Subnets": [{"SubnetId": "subnet-0123456789abcdef0", "AvailabilityZone": "eu-west-1c"}]},
    )
    resolved = run_prechecks(request(availability_zone=None, subnet_id="subnet-0123456789abcdef0"), ec2=ec2)
    assert resolved.availability_zone == "eu-west-1c"


def test_aws_failures_other_than_not_found_propagate(ec2):
    ec2.stubber.add_client_error(
        "describe_snapshots", "UnauthorizedOperation", "not allowed", http_status_code=403
    )
    with pytest.raises(AwsError) as caught:
        check_snapshot(ec2, SNAP, "eu-west-1")
    assert caught.value.code == "UnauthorizedOperation"
