"""Full-instance restore by the worker, end to end on moto (with the project's emulator layer): a real backup
of a 3-volume Linux instance, then the whole instance back from its recovery point in either region."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import botocore.client
import pytest

from smart_vault import aws
from smart_vault.backup import handler as backup_handler
from smart_vault.errors import Conflict, NotFound
from smart_vault.restore import engine
from smart_vault.restore import worker as restore_worker
from smart_vault.restore.jobs import RestoreJobStore, new_job
from support.backup_world import (
    backup_context,
    backup_env,
    create_ledger_table,
    fail_operation,
    scheduled_event,
)
from support.restore_world import (
    DR_REGION,
    JOBS_TABLE,
    PRIMARY_REGION,
    create_jobs_table,
    live_instances,
    run_worker,
    setup_world,
)

STEPS_REGISTERED = [
    "register_image",
    "launch_instance",
    "wait_instance_running",
    "wait_status_checks",
    "deregister_image",
]
STEPS_FROM_AMI = [
    "launch_instance",
    "create_volumes",
    "wait_instance_running",
    "attach_volumes",
    "wait_status_checks",
]
DEVICES = {
    "/dev/xvda": ("gp3", 8, True),
    "/dev/sdf": ("gp2", 16, True),
    "/dev/sdg": ("standard", 4, False),
}


class Crash(BaseException):
    """Stands for the Lambda process dying mid-way: nothing in the worker catches it."""


OPS_PUBLIC_KEY = (
    b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPl4MlgH7lj2HvbJ5mUX2IM8IAZF9v6aY+UCzmvMxpXq ops-key (test)"
)


def _network(region: str) -> tuple[str, str, str]:
    ec2 = boto3.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone=f"{region}c")["Subnet"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    # Imported, not created: moto makes a 2048-bit RSA key for CreateKeyPair (~0.2 s of CPU a test).
    ec2.import_key_pair(KeyName="ops-key", PublicKeyMaterial=OPS_PUBLIC_KEY)
    return subnet["SubnetId"], subnet["AvailabilityZone"], group


@pytest.fixture
def world(moto_aws, monkeypatch):
    built = setup_world(monkeypatch)
    built.net = {region: _network(region) for region in (PRIMARY_REGION, DR_REGION)}
    subnet, _, group = built.net[PRIMARY_REGION]
    ec2 = aws.client("ec2", PRIMARY_REGION)
    image = ec2.register_image(
        Name="base", RootDeviceName="/dev/xvda", BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {}}]
    )["ImageId"]
    source = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        SubnetId=subnet,
        SecurityGroupIds=[group],
        KeyName="ops-key",
        BlockDeviceMappings=[
            {"DeviceName": d, "Ebs": {"VolumeType": t, "VolumeSize": s, "DeleteOnTermination": dot}}
            for d, (t, s, dot) in DEVICES.items()
        ],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Backup-Tier", "Value": "Gold"}, {"Key": "Name", "Value": "web-2"}],
            }
        ],
    )["Instances"][0]["InstanceId"]
    built.source_instance = source
    create_ledger_table()
    boto3.client("sns", PRIMARY_REGION).create_topic(Name="smart-vault-backup")
    backup_env(monkeypatch)
    report = backup_handler(scheduled_event(), backup_context())
    assert report["status"] == "SUCCEEDED", report
    monkeypatch.setenv("SNS_TOPIC_ARN", built.topic_arn)
    built.set_id = report["instances"][0]["backup_set_id"]
    built.snapshots = {
        region: {
            aws.tags_to_dict(s["Tags"])["smart-vault:device"]: s
            for s in boto3.client("ec2", region).describe_snapshots(
                OwnerIds=["self"], Filters=[{"Name": "tag:smart-vault:backup-set", "Values": [built.set_id]}]
            )["Snapshots"]
        }
        for region in (PRIMARY_REGION, DR_REGION)
    }
    assert len(built.snapshots[DR_REGION]) == 3
    return built


def resolved_request(world, region: str) -> dict:
    """The instance-form request as the API resolves it after its pre-checks, landing in `region`."""
    subnet, zone, group = world.net[region]
    return {
        "instance_id": world.source_instance,
        "backup_set_id": world.set_id,
        "region": region,
        "subnet_id": subnet,
        "availability_zone": zone,
        "security_group_ids": [group],
        "instance_type": "t3.small",
        "ami_id": None,
        "keep_on_failure": False,
        "instance_profile_arn": None,
    }


def start_job(world, region=PRIMARY_REGION, **overrides) -> str:
    """An instance-form job as the API writes it after its pre-checks (the request fully resolved)."""
    request = {**resolved_request(world, region), **overrides}
    restore_id = f"0f5e7a1c-0000-4000-8000-{len(world.__dict__.setdefault('jobs', [])) + 1:012d}"
    world.jobs.append(restore_id)
    job = new_job(restore_id, region, request, datetime.now(UTC)) | {
        "mode": "instance",
        "backup_set_id": world.set_id,
        "volume_ids": [],
        "image_id": None,
        "warnings": [],
    }
    RestoreJobStore(JOBS_TABLE, boto3.client("dynamodb", PRIMARY_REGION)).create(job)
    return restore_id


def job_of(restore_id):
    return RestoreJobStore(JOBS_TABLE, boto3.client("dynamodb", PRIMARY_REGION)).get(restore_id)


def instance_of(region, instance_id):
    return boto3.client("ec2", region).describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"
    ][0]


def tagged_leftovers(region, restore_id):
    ec2 = boto3.client("ec2", region)
    return engine.find_leftovers(ec2, restore_id)


def assert_whole_instance(world, region, job):
    assert job["status"] == "SUCCEEDED", job["error"]
    assert [s["name"] for s in job["steps"]] == STEPS_REGISTERED
    ec2 = boto3.client("ec2", region)
    subnet, _, group = world.net[region]
    instance = instance_of(region, job["instance_id"])
    assert instance["InstanceType"] == "t3.small"
    assert instance["SubnetId"] == subnet
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]
    assert instance["KeyName"] == "ops-key"
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    tags = aws.tags_to_dict(instance["Tags"])
    assert tags["smart-vault:restore-id"] == job["restore_id"]
    assert tags["smart-vault:source-instance"] == world.source_instance
    assert tags["smart-vault:backup-set"] == world.set_id
    assert tags["Name"] == "web-2" and tags["ManagedBy"] == "smart-vault"
    devices = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    assert set(devices) == set(DEVICES)
    for device, volume_id in devices.items():
        volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        volume_type, size, _ = DEVICES[device]
        assert volume["SnapshotId"] == world.snapshots[region][device]["SnapshotId"]
        assert (volume["VolumeType"], volume["Size"]) == (volume_type, size)
        assert aws.tags_to_dict(volume["Tags"])["smart-vault:restore-id"] == job["restore_id"]
    assert sorted(job["volume_ids"]) == sorted(devices.values())
    assert job["volume_id"] == job["volume_ids"][0]
    # The temporary AMI is gone; the set's snapshots are not.
    assert engine.find_image(ec2, f"smart-vault-restore-{job['restore_id']}") is None
    assert (
        ec2.describe_images(
            Owners=["self"], Filters=[{"Name": "tag:smart-vault:restore-id", "Values": [job["restore_id"]]}]
        )["Images"]
        == []
    )
    assert job["image_id"] and job["image_id"].startswith("ami-")
    remaining = ec2.describe_snapshots(
        SnapshotIds=[s["SnapshotId"] for s in world.snapshots[region].values()]
    )
    assert len(remaining["Snapshots"]) == 3


def test_the_whole_instance_comes_back_in_the_primary_region(world):
    restore_id = start_job(world)
    run_worker(restore_id)
    assert_whole_instance(world, PRIMARY_REGION, job_of(restore_id))


def test_the_whole_instance_comes_back_in_the_dr_region_while_every_primary_call_fails(world, monkeypatch):
    # The DR stack's own table: the primary region is down, so the jobs table there is unreachable too.
    dynamodb = create_jobs_table(DR_REGION)
    boto3.client("sns", DR_REGION).create_topic(Name="dr-topic")
    request = resolved_request(world, DR_REGION)
    restore_id = "0f5e7a1c-0000-4000-8000-00000000d0d0"
    job = new_job(restore_id, DR_REGION, request, datetime.now(UTC)) | {
        "mode": "instance",
        "backup_set_id": world.set_id,
        "volume_ids": [],
        "image_id": None,
        "warnings": [],
    }
    RestoreJobStore(JOBS_TABLE, dynamodb).create(job)
    monkeypatch.setenv("AWS_REGION", DR_REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", DR_REGION)
    monkeypatch.setenv("DR_REGION", PRIMARY_REGION)
    monkeypatch.setenv("SNS_TOPIC_ARN", f"arn:aws:sns:{DR_REGION}:123456789012:dr-topic")
    aws.reset_clients()
    primary_calls = []
    real_call = botocore.client.BaseClient._make_api_call

    def region_down(self, operation, params):
        if self.meta.region_name == PRIMARY_REGION:
            primary_calls.append(operation)
            raise botocore.exceptions.EndpointConnectionError(
                endpoint_url=f"https://ec2.{PRIMARY_REGION}.amazonaws.com"
            )
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", region_down)
    run_worker(restore_id)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real_call)
    assert primary_calls == []
    assert_whole_instance(world, DR_REGION, RestoreJobStore(JOBS_TABLE, dynamodb).get(restore_id))
    # Every device is a volume made from the DR copy, not from a primary snapshot.
    copies = {s["SnapshotId"] for s in world.snapshots[DR_REGION].values()}
    assert all(
        aws.tags_to_dict(s["Tags"])["smart-vault:source-region"] == PRIMARY_REGION
        for s in world.snapshots[DR_REGION].values()
    )
    instance = live_instances(DR_REGION)
    assert len(instance) == 1
    for mapping in instance[0]["BlockDeviceMappings"]:
        volume = boto3.client("ec2", DR_REGION).describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])[
            "Volumes"
        ][0]
        assert volume["SnapshotId"] in copies


def test_the_temporary_ami_records_every_snapshot_at_its_device_with_its_type(world):
    ec2 = aws.client("ec2", PRIMARY_REGION)
    point = engine.load_recovery_point(ec2, world.set_id)
    plan = engine.InstancePlan.from_request("r-1", {**_request(world), "region": PRIMARY_REGION})
    params = engine.register_image_params(plan, point)
    assert params["Name"] == "smart-vault-restore-r-1"
    assert params["RootDeviceName"] == "/dev/xvda"
    assert params["VirtualizationType"] == "hvm"
    mappings = {m["DeviceName"]: m["Ebs"] for m in params["BlockDeviceMappings"]}
    assert {d: (e["VolumeType"], e["DeleteOnTermination"]) for d, e in mappings.items()} == {
        d: (t, dot) for d, (t, _, dot) in DEVICES.items()
    }
    assert {d: e["SnapshotId"] for d, e in mappings.items()} == {
        d: s["SnapshotId"] for d, s in world.snapshots[PRIMARY_REGION].items()
    }
    # Never DeleteAssociatedSnapshots, never a size: the volumes are the snapshots' size.
    assert all("VolumeSize" not in e for e in mappings.values())


def _request(world):
    subnet, zone, group = world.net[PRIMARY_REGION]
    return {
        "backup_set_id": world.set_id,
        "subnet_id": subnet,
        "availability_zone": zone,
        "security_group_ids": [group],
        "instance_type": "t3.small",
    }


def test_the_ami_id_path_launches_from_it_and_attaches_the_sets_other_volumes(world):
    restore_id = start_job(world, ami_id=world.primary.ami_id)
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert [s["name"] for s in job["steps"]] == STEPS_FROM_AMI
    ec2 = boto3.client("ec2", PRIMARY_REGION)
    instance = instance_of(PRIMARY_REGION, job["instance_id"])
    assert instance["ImageId"] == world.primary.ami_id
    devices = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    for device in ("/dev/sdf", "/dev/sdg"):
        volume = ec2.describe_volumes(VolumeIds=[devices[device]])["Volumes"][0]
        assert volume["SnapshotId"] == world.snapshots[PRIMARY_REGION][device]["SnapshotId"]
        assert (volume["VolumeType"], volume["Size"]) == DEVICES[device][:2]
        assert volume["AvailabilityZone"] == world.net[PRIMARY_REGION][1]
        assert volume["State"] == "in-use"
    assert engine.find_image(ec2, f"smart-vault-restore-{restore_id}") is None
    assert job["image_id"] == world.primary.ami_id


def test_a_worker_invoked_twice_launches_one_instance(world):
    restore_id = start_job(world)
    run_worker(restore_id)
    run_worker(restore_id)
    assert len(live_instances(PRIMARY_REGION)) == 2  # the source and one restored instance
    assert job_of(restore_id)["status"] == "SUCCEEDED"


class SevenSecondsLater(datetime):
    """The worker's `datetime`, seven seconds on: its clock as it would read after `time.sleep(7)`."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(seconds=7)


@pytest.mark.parametrize("crash_after", ["RunInstances", "RegisterImage", "DescribeInstanceStatus"])
def test_a_worker_that_died_mid_way_is_taken_over_without_a_second_instance_or_image(
    world, crash_after, monkeypatch
):
    restore_id = start_job(world)
    ec2 = aws.client("ec2", PRIMARY_REGION)

    def crash(**_):
        raise Crash()

    ec2.meta.events.register(f"after-call.ec2.{crash_after}", crash)
    with pytest.raises(Crash):
        run_worker(restore_id, remaining_ms=1_000)  # its lease ends almost at once
    ec2.meta.events.unregister(f"after-call.ec2.{crash_after}", crash)
    # The crashed worker's lease (its time left + 5 s of slack) runs out: the next worker's clock (all its
    # readings go through restore.worker's `datetime.now`) reads 7 s later, as it would after sleeping 7 s.
    monkeypatch.setattr(restore_worker, "datetime", SevenSecondsLater)
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "SUCCEEDED", job["error"]
    restored = [i for i in live_instances(PRIMARY_REGION) if i["InstanceId"] != world.source_instance]
    assert [i["InstanceId"] for i in restored] == [job["instance_id"]]
    assert tagged_leftovers(PRIMARY_REGION, restore_id) == sorted([job["instance_id"], *job["volume_ids"]])


FAILURES = [
    ("RegisterImage", "InvalidBlockDeviceMapping", None),
    ("RunInstances", "InvalidParameterValue", None),  # (no capacity is asked again: test_launch_capacity)
    ("DescribeInstanceStatus", "InternalError", None),
    ("DeregisterImage", "UnauthorizedOperation", None),
]
FAILURES_FROM_AMI = [
    ("CreateVolume", "VolumeLimitExceeded", None),
    ("AttachVolume", "InvalidParameterValue", None),
]


def _fail_first(ec2, operation, code):
    state = {"calls": 0}

    def first(params):
        state["calls"] += 1
        return state["calls"] == 1

    fail_operation(ec2, operation, code, f"injected {code}", when=first)


@pytest.mark.parametrize("operation, code, _", FAILURES)
def test_a_failure_at_each_step_leaves_no_ami_instance_or_volume(world, operation, code, _):
    restore_id = start_job(world)
    _fail_first(aws.client("ec2", PRIMARY_REGION), operation, code)
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "FAILED"
    assert code in job["error"] and "rollback incomplete" not in job["error"]
    assert job["steps"][-1]["name"] == "rollback" and job["steps"][-1]["status"] == "SUCCEEDED"
    assert tagged_leftovers(PRIMARY_REGION, restore_id) == []
    assert [i["InstanceId"] for i in live_instances(PRIMARY_REGION)] == [world.source_instance]


@pytest.mark.parametrize("operation, code, _", FAILURES_FROM_AMI)
def test_a_failure_on_the_ami_id_path_leaves_no_instance_or_volume(world, operation, code, _):
    restore_id = start_job(world, ami_id=world.primary.ami_id)
    _fail_first(aws.client("ec2", PRIMARY_REGION), operation, code)
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "FAILED" and code in job["error"]
    assert tagged_leftovers(PRIMARY_REGION, restore_id) == []
    assert [i["InstanceId"] for i in live_instances(PRIMARY_REGION)] == [world.source_instance]


def test_keep_on_failure_keeps_the_instance(world):
    restore_id = start_job(world, keep_on_failure=True)
    _fail_first(aws.client("ec2", PRIMARY_REGION), "DescribeInstanceStatus", "InternalError")
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "FAILED"
    assert job["instance_id"] in tagged_leftovers(PRIMARY_REGION, restore_id)


def test_an_instance_invisible_after_run_instances_is_waited_for_and_a_rollback_still_finds_it(world):
    """EC2 is eventually consistent: the new instance answers NotFound for a while."""
    now = [0.0]
    aws.set_clock(lambda: now[0], lambda s: now.__setitem__(0, now[0] + s))
    try:
        restore_id = start_job(world)
        ec2 = aws.client("ec2", PRIMARY_REGION)
        hidden = {"DescribeInstances": 3, "TerminateInstances": 2}

        def invisible(operation):
            def when(params):
                if params.get("InstanceIds") and hidden[operation] > 0:
                    hidden[operation] -= 1
                    return True
                return False

            return when

        for operation in hidden:
            fail_operation(
                ec2, operation, "InvalidInstanceID.NotFound", "not found", when=invisible(operation)
            )
        _fail_first(ec2, "DescribeInstanceStatus", "InternalError")
        run_worker(restore_id)
    finally:
        aws.set_clock(None, None)
    job = job_of(restore_id)
    assert job["status"] == "FAILED" and "InternalError" in job["error"]
    assert hidden == {"DescribeInstances": 0, "TerminateInstances": 0}
    assert "rollback incomplete" not in job["error"]
    assert tagged_leftovers(PRIMARY_REGION, restore_id) == []


def test_an_instance_that_fails_its_status_checks_fails_at_once_with_the_reason(world, monkeypatch):
    restore_id = start_job(world)
    ec2 = aws.client("ec2", PRIMARY_REGION)

    def impaired(http_response, parsed, **_):
        for status in parsed.get("InstanceStatuses", []):
            status["InstanceStatus"] = {
                "Status": "impaired",
                "Details": [{"Name": "reachability", "Status": "failed"}],
            }

    ec2.meta.events.register("after-call.ec2.DescribeInstanceStatus", impaired)
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "FAILED"
    assert "failed its instance status check (reachability)" in job["error"]
    assert tagged_leftovers(PRIMARY_REGION, restore_id) == []


def test_an_incomplete_recovery_point_is_refused_and_a_missing_one_is_not_found(world):
    ec2 = aws.client("ec2", PRIMARY_REGION)
    items = list(world.snapshots[PRIMARY_REGION].values())
    items[0] = {**items[0], "State": "pending"}
    point = engine.recovery_point_from_snapshots(world.set_id, PRIMARY_REGION, items)
    assert point.set_size == 3 and not point.complete
    assert engine.recovery_point_from_snapshots(world.set_id, PRIMARY_REGION, items[1:]).complete is False
    with pytest.raises(NotFound) as missing:
        engine.load_recovery_point(ec2, "bset-00000000000000000000")
    assert missing.value.error == "RecoveryPointNotFound"
    one = world.snapshots[PRIMARY_REGION]["/dev/sdg"]["SnapshotId"]
    ec2.delete_snapshot(SnapshotId=one)
    with pytest.raises(Conflict, match="2 of 3 snapshots completed"):
        engine.load_recovery_point(ec2, world.set_id)


def test_a_missing_key_pair_launches_without_one_and_says_so(world):
    boto3.client("ec2", PRIMARY_REGION).delete_key_pair(KeyName="ops-key")
    restore_id = start_job(world)
    run_worker(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "SUCCEEDED"
    assert any("key pair ops-key does not exist" in w for w in job["warnings"])
    assert "KeyName" not in instance_of(PRIMARY_REGION, job["instance_id"])


def test_tear_down_removes_a_finished_restore_and_reports_nothing_left(world):
    restore_id = start_job(world)
    run_worker(restore_id)
    job = job_of(restore_id)
    ec2 = aws.client("ec2", PRIMARY_REGION)
    assert engine.find_leftovers(ec2, restore_id)
    left = engine.tear_down_outcome(
        ec2, restore_id, job["instance_id"], job["image_id"], job["volume_ids"], engine.Deadline(300, 0)
    ).leftovers
    assert left == []
    assert [i["InstanceId"] for i in live_instances(PRIMARY_REGION)] == [world.source_instance]


# (v3) Every create of the engine is retried on the NotFound of a resource created moments before.
NOT_FOUND_AFTER_CREATE = [
    ("RunInstances", "InvalidAMIID.NotFound", None),  # the temporary image, registered a moment before
    ("RegisterImage", "InvalidSnapshot.NotFound", None),
]
NOT_FOUND_AFTER_CREATE_FROM_AMI = [
    ("CreateVolume", "InvalidSnapshot.NotFound", None),
    ("AttachVolume", "InvalidVolume.NotFound", None),  # the volume created a moment before
    ("AttachVolume", "InvalidInstanceID.NotFound", None),  # the instance launched a moment before
]


def _not_found_twice(ec2, operation, code):
    left = {"calls": 2}

    def twice(params):
        left["calls"] -= 1
        return left["calls"] >= 0

    fail_operation(ec2, operation, code, "does not exist", when=twice)
    return left


def _run_on_a_virtual_clock(restore_id):
    now = [0.0]
    aws.set_clock(lambda: now[0], lambda s: now.__setitem__(0, now[0] + s))
    try:
        run_worker(restore_id)
    finally:
        aws.set_clock(None, None)


@pytest.mark.parametrize("operation, code, _", NOT_FOUND_AFTER_CREATE)
def test_a_create_answering_not_found_right_after_a_create_is_retried(world, operation, code, _):
    restore_id = start_job(world)
    left = _not_found_twice(aws.client("ec2", PRIMARY_REGION), operation, code)
    _run_on_a_virtual_clock(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert left["calls"] < 0  # both NotFound answers were seen, and the third call went through
    assert_whole_instance(world, PRIMARY_REGION, job)


@pytest.mark.parametrize("operation, code, _", NOT_FOUND_AFTER_CREATE_FROM_AMI)
def test_a_create_on_the_ami_id_path_answering_not_found_is_retried(world, operation, code, _):
    restore_id = start_job(world, ami_id=world.primary.ami_id)
    left = _not_found_twice(aws.client("ec2", PRIMARY_REGION), operation, code)
    _run_on_a_virtual_clock(restore_id)
    job = job_of(restore_id)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert left["calls"] < 0
    restored = [i for i in live_instances(PRIMARY_REGION) if i["InstanceId"] != world.source_instance]
    assert [i["InstanceId"] for i in restored] == [job["instance_id"]]
