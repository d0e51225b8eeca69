"""POST /restore with instance_id: the full-instance pre-checks and the job they write, on moto.

Each test builds recovery points the way a v2 backup leaves them (tests/support/instance_world.py): a set of
three snapshots with their restore metadata in the primary region and, for DR tests, a copy set that carries
`smart-vault:source-region`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from smart_vault import aws
from support.instance_world import INSTANCE_ID, age_set, make_backup_set, network, set_id_for, set_state
from support.restore_world import (
    DR_REGION,
    PRIMARY_REGION,
    get_restore,
    live_instances,
    post_restore,
    run_invoked_workers,
    setup_world,
)

PROFILE = "arn:aws:iam::123456789012:instance-profile/web"


@pytest.fixture
def world(moto_aws, monkeypatch):
    built = setup_world(monkeypatch)
    primary_vpc, primary_subnet, primary_groups = network(PRIMARY_REGION)
    dr_vpc, dr_subnet, dr_groups = network(DR_REGION)
    monkeypatch.setenv(
        "RESTORE_NETWORKS",
        json.dumps({DR_REGION: {"subnet_id": dr_subnet, "security_group_ids": dr_groups[:1]}}),
    )
    built.net = {
        PRIMARY_REGION: (primary_vpc, primary_subnet, primary_groups),
        DR_REGION: (dr_vpc, dr_subnet, dr_groups),
    }
    return built


def primary_set(world, label="nightly", **kwargs):
    _, subnet, groups = world.net[PRIMARY_REGION]
    return make_backup_set(PRIMARY_REGION, label, subnet_id=subnet, security_group_ids=groups, **kwargs)


def dr_set(world, label="nightly", **kwargs):
    _, subnet, groups = world.net[PRIMARY_REGION]  # the recorded ids are the primary region's
    return make_backup_set(
        DR_REGION, label, subnet_id=subnet, security_group_ids=groups, source_region=PRIMARY_REGION, **kwargs
    )


def accepted_job(answer) -> dict:
    assert answer.status == 202, answer.body
    job = get_restore(answer.body["restore_id"])
    assert job.status == 200
    return job.body


# ------------------------------------------------------------------------------------------ 202, defaults


def test_a_restore_in_the_sets_own_region_uses_the_recorded_network_and_type(world):
    backup_set = primary_set(world)
    answer = post_restore({"instance_id": INSTANCE_ID})
    job = accepted_job(answer)
    _, subnet, groups = world.net[PRIMARY_REGION]
    assert job["mode"] == "instance"
    assert job["status"] == "PENDING"
    assert job["region"] == PRIMARY_REGION
    assert job["backup_set_id"] == backup_set.backup_set_id
    assert job["request"] == {
        "instance_id": INSTANCE_ID,
        "backup_set_id": backup_set.backup_set_id,
        "region": PRIMARY_REGION,
        "subnet_id": subnet,
        "availability_zone": f"{PRIMARY_REGION}a",
        "security_group_ids": groups,
        "instance_type": "t3.small",
        "ami_id": None,
        "keep_on_failure": False,
        "instance_profile_arn": None,
    }
    assert (job["volume_id"], job["volume_ids"], job["image_id"], job["instance_id"]) == (
        None,
        [],
        None,
        None,
    )
    assert job["warnings"] == []
    assert world.lambda_client.payloads() == [{"restore_id": answer.body["restore_id"]}]


def test_a_dr_restore_lands_in_restore_networks_and_reads_only_the_dr_region(world, monkeypatch):
    primary_set(world)
    copy = dr_set(world)
    _, dr_subnet, dr_groups = world.net[DR_REGION]
    calls: list[tuple[str, str]] = []
    real_client = aws.client

    def recording_client(service, region=None):
        client = real_client(service, region)
        if service == "ec2":
            client.meta.events.register(
                "before-call.ec2", lambda model, **_: calls.append((client.meta.region_name, model.name))
            )
        return client

    monkeypatch.setattr(aws, "client", recording_client)
    job = accepted_job(post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION}))
    assert job["region"] == DR_REGION
    assert job["backup_set_id"] == copy.backup_set_id
    assert (job["request"]["subnet_id"], job["request"]["security_group_ids"]) == (dr_subnet, dr_groups[:1])
    assert job["request"]["availability_zone"] == f"{DR_REGION}a"
    # Nothing asked of the primary region, and no more than the pre-checks need.
    assert {region for region, _ in calls} == {DR_REGION}
    assert sorted(name for _, name in calls) == [
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSubnets",
    ]


def test_given_values_replace_the_defaults(world):
    primary_set(world)
    vpc, _, groups = world.net[PRIMARY_REGION]
    other = boto3.client("ec2", PRIMARY_REGION).create_subnet(
        VpcId=vpc, CidrBlock="10.30.9.0/24", AvailabilityZone=f"{PRIMARY_REGION}b"
    )["Subnet"]["SubnetId"]
    job = accepted_job(
        post_restore(
            {
                "instance_id": INSTANCE_ID,
                "subnet_id": other,
                "security_group_ids": groups[1:],
                "instance_type": "t3.large",
                "ami_id": world.primary.ami_id,
                "keep_on_failure": True,
            }
        )
    )
    request = job["request"]
    assert (request["subnet_id"], request["availability_zone"]) == (other, f"{PRIMARY_REGION}b")
    assert request["security_group_ids"] == groups[1:]
    assert (request["instance_type"], request["ami_id"], request["keep_on_failure"]) == (
        "t3.large",
        world.primary.ami_id,
        True,
    )


def test_the_newest_complete_recovery_point_is_the_default(world):
    now = datetime.now(UTC)
    old = primary_set(world, "old")
    middle = primary_set(world, "middle")
    newest = primary_set(world, "newest")
    age_set(old, now - timedelta(days=2))
    age_set(middle, now - timedelta(days=1))
    age_set(newest, now - timedelta(hours=1))
    set_state(newest, "pending")  # still being copied/snapshotted: not restorable yet
    job = accepted_job(post_restore({"instance_id": INSTANCE_ID}))
    assert job["backup_set_id"] == middle.backup_set_id
    named = accepted_job(post_restore({"instance_id": INSTANCE_ID, "backup_set_id": old.backup_set_id}))
    assert named["backup_set_id"] == old.backup_set_id


def test_the_recorded_instance_profile_is_kept_only_when_allowed(world, monkeypatch):
    primary_set(world, instance_profile=PROFILE)
    job = accepted_job(post_restore({"instance_id": INSTANCE_ID}))
    assert job["request"]["instance_profile_arn"] is None
    assert job["warnings"] == [
        f"the recorded instance profile {PROFILE} is not in ALLOWED_INSTANCE_PROFILE_ARNS; "
        "the instance was launched without one"
    ]
    monkeypatch.setenv("ALLOWED_INSTANCE_PROFILE_ARNS", PROFILE)
    job = accepted_job(post_restore({"instance_id": INSTANCE_ID}))
    assert (job["request"]["instance_profile_arn"], job["warnings"]) == (PROFILE, [])


def test_the_recorded_type_is_allowed_even_outside_the_allowlist(world):
    primary_set(world, instance_type="m7i.4xlarge")
    job = accepted_job(post_restore({"instance_id": INSTANCE_ID}))
    assert job["request"]["instance_type"] == "m7i.4xlarge"
    answer = post_restore({"instance_id": INSTANCE_ID, "instance_type": "m7i.8xlarge"})
    assert (answer.status, answer.body["field"]) == (400, "instance_type")


def test_a_non_linux_platform_is_restored_from_the_given_ami(world):
    primary_set(world, platform="Windows")
    job = accepted_job(post_restore({"instance_id": INSTANCE_ID, "ami_id": world.primary.ami_id}))
    assert job["request"]["ami_id"] == world.primary.ami_id


# ------------------------------------------------------------------------------------------ idempotency


def test_the_same_idempotency_key_and_body_start_one_instance_restore(world):
    primary_set(world)
    headers = {"Idempotency-Key": "dr-web-1"}
    first = post_restore({"instance_id": INSTANCE_ID}, headers=headers)
    again = post_restore({"instance_id": INSTANCE_ID}, headers=headers)
    assert first.status == again.status == 202
    assert again.body == first.body
    assert len(world.lambda_client.invocations) == 1
    other_body = post_restore({"instance_id": INSTANCE_ID, "instance_type": "t3.large"}, headers=headers)
    assert (other_body.status, other_body.body["error"]) == (409, "Conflict")
    # The same key on a volume body is another body too.
    volume = post_restore(
        {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone}, headers=headers
    )
    assert volume.status == 409
    assert len(world.lambda_client.invocations) == 1


# ------------------------------------------------------------------------------------------ 404 and 409


def test_an_instance_without_recovery_points_answers_404(world):
    primary_set(world)
    answer = post_restore({"instance_id": "i-0ffffffffffffffff"})
    assert (answer.status, answer.body["error"]) == (404, "RecoveryPointNotFound")
    assert world.lambda_client.invocations == []


def test_a_set_of_another_instance_or_unknown_set_answers_404(world):
    primary_set(world, "theirs", instance_id="i-0eeeeeeeeeeeeeeee")
    primary_set(world)
    for backup_set_id in (set_id_for("theirs"), set_id_for("never")):
        answer = post_restore({"instance_id": INSTANCE_ID, "backup_set_id": backup_set_id})
        assert (answer.status, answer.body["error"]) == (404, "RecoveryPointNotFound")
        assert backup_set_id in answer.body["message"]


def test_a_set_only_in_the_primary_region_is_not_found_in_the_dr_region(world):
    backup_set = primary_set(world)
    answer = post_restore(
        {"instance_id": INSTANCE_ID, "backup_set_id": backup_set.backup_set_id, "region": DR_REGION}
    )
    assert (answer.status, answer.body["error"]) == (404, "RecoveryPointNotFound")
    assert DR_REGION in answer.body["message"]


def test_an_incomplete_recovery_point_answers_409(world):
    backup_set = primary_set(world)
    set_state(backup_set, "pending")
    answer = post_restore({"instance_id": INSTANCE_ID, "backup_set_id": backup_set.backup_set_id})
    assert (answer.status, answer.body["error"]) == (409, "Conflict")
    assert "2 of 3 snapshots completed" in answer.body["message"]
    assert world.lambda_client.invocations == []


def test_a_dr_set_with_a_copy_missing_is_incomplete(world):
    dr_set(world, devices=(("/dev/xvda", 8, "gp3"), ("/dev/sdf", 20, "gp3")), set_size=3)
    answer = post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION})
    assert (answer.status, answer.body["error"]) == (409, "Conflict")


def test_only_incomplete_recovery_points_answer_409_without_a_set_id(world):
    for label in ("a", "b"):
        set_state(primary_set(world, label), "pending")
    answer = post_restore({"instance_id": INSTANCE_ID})
    assert (answer.status, answer.body["error"]) == (409, "Conflict")
    assert "none of the 2 recovery points" in answer.body["message"]


# ------------------------------------------------------------------------------------------ 400


def test_a_non_linux_platform_without_ami_id_answers_400_on_ami_id(world):
    for platform in ("Windows", "Red Hat Enterprise Linux", "SUSE Linux"):
        primary_set(world, platform, platform=platform, instance_id=f"i-0{abs(hash(platform)) % 16**16:016x}")
    for platform in ("Windows", "Red Hat Enterprise Linux", "SUSE Linux"):
        instance_id = f"i-0{abs(hash(platform)) % 16**16:016x}"
        answer = post_restore({"instance_id": instance_id})
        assert (answer.status, answer.body["field"]) == (400, "ami_id"), platform
        assert platform in answer.body["message"]
    assert world.lambda_client.invocations == []


def test_a_set_without_a_recorded_platform_needs_ami_id(world):
    primary_set(world, platform=None)
    answer = post_restore({"instance_id": INSTANCE_ID})
    assert (answer.status, answer.body["field"]) == (400, "ami_id")


def test_a_dr_restore_without_a_restore_network_needs_subnet_id(world, monkeypatch):
    monkeypatch.delenv("RESTORE_NETWORKS")
    dr_set(world)
    answer = post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION})
    assert (answer.status, answer.body["field"]) == (400, "subnet_id")
    # A subnet given, the groups still have no default there.
    _, dr_subnet, dr_groups = world.net[DR_REGION]
    answer = post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION, "subnet_id": dr_subnet})
    assert (answer.status, answer.body["field"]) == (400, "security_group_ids")
    job = accepted_job(
        post_restore(
            {
                "instance_id": INSTANCE_ID,
                "region": DR_REGION,
                "subnet_id": dr_subnet,
                "security_group_ids": dr_groups,
            }
        )
    )
    assert job["request"]["security_group_ids"] == dr_groups


def test_a_subnet_outside_the_allowlist_answers_400_even_as_a_default(world, monkeypatch):
    primary_set(world)
    monkeypatch.setenv("ALLOWED_SUBNET_IDS", world.primary.subnet_id)
    answer = post_restore({"instance_id": INSTANCE_ID})
    assert (answer.status, answer.body["field"]) == (400, "subnet_id")
    assert "recorded network" in answer.body["message"]


def test_security_groups_must_exist_and_be_in_the_subnets_vpc(world):
    primary_set(world)
    _, _, dr_groups = world.net[DR_REGION]
    other_vpc = boto3.client("ec2", PRIMARY_REGION).create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    stranger = boto3.client("ec2", PRIMARY_REGION).create_security_group(
        GroupName="elsewhere", Description="x", VpcId=other_vpc
    )["GroupId"]
    missing = post_restore({"instance_id": INSTANCE_ID, "security_group_ids": ["sg-0123456789abcdef0"]})
    assert (missing.status, missing.body["field"]) == (400, "security_group_ids")
    assert "sg-0123456789abcdef0 not found" in missing.body["message"]
    # A DR-region group does not exist in the primary region.
    assert post_restore({"instance_id": INSTANCE_ID, "security_group_ids": dr_groups[:1]}).status == 400
    wrong_vpc = post_restore({"instance_id": INSTANCE_ID, "security_group_ids": [stranger]})
    assert (wrong_vpc.status, wrong_vpc.body["field"]) == (400, "security_group_ids")
    assert "not in the subnet's VPC" in wrong_vpc.body["message"]


def test_a_missing_subnet_or_ami_answers_400(world):
    primary_set(world)
    answer = post_restore({"instance_id": INSTANCE_ID, "subnet_id": "subnet-0123456789abcdef0"})
    assert (answer.status, answer.body["field"]) == (400, "subnet_id")
    answer = post_restore({"instance_id": INSTANCE_ID, "ami_id": "ami-0123456789abcdef0"})
    assert (answer.status, answer.body["field"]) == (400, "ami_id")
    # The primary's AMI is not in the DR region.
    dr_set(world)
    answer = post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION, "ami_id": world.primary.ami_id})
    assert (answer.status, answer.body["field"]) == (400, "ami_id")


def test_an_ami_of_another_architecture_answers_400(world):
    primary_set(world)
    arm = boto3.client("ec2", PRIMARY_REGION).register_image(
        Name="arm-base", RootDeviceName="/dev/xvda", Architecture="arm64"
    )["ImageId"]
    answer = post_restore({"instance_id": INSTANCE_ID, "ami_id": arm})
    assert (answer.status, answer.body["field"]) == (400, "ami_id")
    assert "arm64" in answer.body["message"]


def test_volume_form_fields_in_an_instance_body_answer_400_naming_them(world):
    primary_set(world)
    answer = post_restore({"instance_id": INSTANCE_ID, "device_name": "/dev/sdf"})
    assert (answer.status, answer.body["error"], answer.body["field"]) == (
        400,
        "ValidationError",
        "device_name",
    )


# ------------------------------------------------------------------------------ through the worker


def test_an_accepted_dr_restore_is_carried_out_by_the_worker_in_the_dr_region_only(world, monkeypatch):
    # The API's resolved request is what the worker's engine runs on (InstancePlan.from_request): the whole
    # path, with every EC2 call of both functions made in the DR region.
    copy = dr_set(world)
    _, dr_subnet, dr_groups = world.net[DR_REGION]
    ec2_regions: set[str] = set()
    real_client = aws.client

    def recording_client(service, region=None):
        client = real_client(service, region)
        if service == "ec2":
            client.meta.events.register(
                "before-call.ec2", lambda **_: ec2_regions.add(client.meta.region_name)
            )
        return client

    monkeypatch.setattr(aws, "client", recording_client)
    answer = post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION})
    assert answer.status == 202, answer.body
    run_invoked_workers(world.lambda_client)

    job = get_restore(answer.body["restore_id"]).body
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["mode"] == "instance" and job["backup_set_id"] == copy.backup_set_id
    assert ec2_regions == {DR_REGION}
    [instance] = [i for i in live_instances(DR_REGION) if i["InstanceId"] == job["instance_id"]]
    assert (instance["SubnetId"], instance["InstanceType"]) == (dr_subnet, "t3.small")
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == dr_groups[:1]
    assert len(job["volume_ids"]) == len(copy.snapshot_ids)
    assert live_instances(PRIMARY_REGION) == []


def test_a_default_that_no_longer_fits_is_named_with_where_it_came_from(world, monkeypatch):
    # The recorded subnet is gone (deleted since the backup): the answer says it was the recorded one.
    _, _, groups = world.net[PRIMARY_REGION]
    make_backup_set(PRIMARY_REGION, "gone", subnet_id="subnet-0dddddddddddddddd", security_group_ids=groups)
    answer = post_restore({"instance_id": INSTANCE_ID})
    assert (answer.status, answer.body["field"]) == (400, "subnet_id")
    assert (
        "subnet-0dddddddddddddddd" in answer.body["message"] and "recorded network" in answer.body["message"]
    )
    # RESTORE_NETWORKS names groups of another VPC than its subnet's.
    primary_groups = groups
    _, dr_subnet, _ = world.net[DR_REGION]
    monkeypatch.setenv(
        "RESTORE_NETWORKS",
        json.dumps({DR_REGION: {"subnet_id": dr_subnet, "security_group_ids": primary_groups[:1]}}),
    )
    dr_set(world)
    answer = post_restore({"instance_id": INSTANCE_ID, "region": DR_REGION})
    assert (answer.status, answer.body["field"]) == (400, "security_group_ids")
    assert f"RESTORE_NETWORKS[{DR_REGION}]" in answer.body["message"]
