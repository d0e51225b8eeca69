"""The simulated EC2 has one model per resource and one request path (issue 19): a volume answers the same
whichever way it was made (the fleet's, launched by RunInstances, made by CreateVolume), every Describe* reads
its filters with one engine, and the instance and image calls of `sim/compute.py` are requests like any other:
counted, cut off and throttled in `SimEC2.send`."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from smart_vault.sim.drill_scenario import DR, PRIMARY, START, seed_recovery_points
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.world import InvocationKilled, SimParams, SimWorld

ZONE = f"{DR}a"
SUBNET = "subnet-0123456789abcdef0"


def _restore_world(seed: int = 11, **params: float) -> tuple[SimWorld, SimEC2, str]:
    """A DR region holding one complete recovery point of two volumes, and an available image of it."""
    world = SimWorld(SimParams(seed=seed, **params), START, PRIMARY, DR)  # type: ignore[arg-type]
    seed_recovery_points(world, 1, volumes=2)
    ec2 = SimEC2(world, DR)
    snapshots = sorted(world.snapshots[DR].values(), key=lambda s: s["SnapshotId"])
    devices = {t["Value"] for s in snapshots for t in s["Tags"] if t["Key"] == "smart-vault:device"}
    mappings = [
        {"DeviceName": device, "Ebs": {"SnapshotId": s["SnapshotId"], "DeleteOnTermination": True}}
        for device, s in zip(sorted(devices), snapshots, strict=True)
    ]
    image = ec2.register_image(Name="restore-image", RootDeviceName="/dev/xvda", BlockDeviceMappings=mappings)
    world.advance_to(world.clock + 20.0)  # the image is available after 3..15 s
    return world, ec2, image["ImageId"]


def _launch(ec2: SimEC2, image_id: str, token: str = "t-1") -> str:
    answer = ec2.run_instances(
        ImageId=image_id, InstanceType="t3.small", SubnetId=SUBNET, MinCount=1, MaxCount=1, ClientToken=token
    )
    return answer["Instances"][0]["InstanceId"]


def _running(world: SimWorld, ec2: SimEC2, instance_id: str) -> dict:
    world.advance_to(world.clock + 61.0)  # visible within 5 s, running within 60 s
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_instance_and_image_calls_are_counted_requests_that_an_invocation_cut_off_ends():
    world, ec2, image_id = _restore_world()
    instance_id = _launch(ec2, image_id)
    assert world.requests["RegisterImage"] == 1
    assert world.requests["RunInstances"] == 1

    world.kill_after = 1  # the invocation's time limit falls on its next call
    with pytest.raises(InvocationKilled):
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert "TerminateInstances" not in world.requests  # the request never reached EC2
    assert _running(world, ec2, instance_id)["State"]["Name"] == "running"


def test_run_instances_is_throttled_by_its_bucket_and_retried_as_botocore_does():
    # A shrunk account: RunInstances' bucket (mutating: 200 tokens, 10 a second) holds 1 token, 0.05 a second.
    world, ec2, image_id = _restore_world(api_rate_scale=0.005)
    started = world.clock
    first = _launch(ec2, image_id, "t-1")
    second = _launch(ec2, image_id, "t-2")  # the bucket is empty: RequestLimitExceeded, then retries
    assert first != second
    assert world.buckets.throttled["RunInstances"] >= 1
    assert world.requests["RunInstances"] == 2 + world.buckets.throttled["RunInstances"]
    assert ec2.retry.retries >= 1 and ec2.retry.waited > 0
    assert world.clock - started >= 20.0  # a token takes 20 s to come back at 0.05 a second
    assert ec2.calls["run_instances"] == 2  # the product made two calls; EC2 saw the retries too


def _fleet_volume() -> tuple[SimEC2, str]:
    world = SimWorld(SimParams(seed=5), START, PRIMARY, DR)
    instance_id = world.add_instance(2)
    return SimEC2(world, PRIMARY), world.instance_by_id[instance_id]["BlockDeviceMappings"][1]["Ebs"][
        "VolumeId"
    ]


def _launched_volume() -> tuple[SimEC2, str]:
    world, ec2, image_id = _restore_world()
    instance = _running(world, ec2, _launch(ec2, image_id))
    return ec2, instance["BlockDeviceMappings"][1]["Ebs"]["VolumeId"]


def _created_and_attached_volume() -> tuple[SimEC2, str]:
    world, ec2, image_id = _restore_world()
    instance_id = _launch(ec2, image_id)
    _running(world, ec2, instance_id)
    snapshot_id = min(world.snapshots[DR])
    volume_id = ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=ZONE, VolumeType="gp3")["VolumeId"]
    world.advance_to(world.clock + 6.0)  # invisible to describes for up to 5 s
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id])
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdz")
    return ec2, volume_id


@pytest.mark.parametrize(
    "made_by", [_fleet_volume, _launched_volume, _created_and_attached_volume], ids=lambda f: f.__name__[1:]
)
def test_delete_volume_of_an_attached_volume_answers_volume_in_use_however_it_was_made(made_by):
    ec2, volume_id = made_by()
    with pytest.raises(ClientError) as refused:
        ec2.delete_volume(VolumeId=volume_id)
    assert refused.value.response["Error"]["Code"] == "VolumeInUse"
    (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]  # still there, still attached
    assert volume["State"] == "in-use" and volume["Attachments"][0]["State"] == "attached"


def test_a_detached_volume_can_be_deleted_and_is_gone_from_every_describe():
    ec2, volume_id = _created_and_attached_volume()
    instance_id = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Attachments"][0]["InstanceId"]
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert {"DeviceName": "/dev/sdz", "Ebs": {"VolumeId": volume_id}} in instance["BlockDeviceMappings"]

    ec2.detach_volume(VolumeId=volume_id)
    (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert (volume["State"], volume["Attachments"]) == ("available", [])
    ec2.delete_volume(VolumeId=volume_id)
    with pytest.raises(ClientError) as gone:
        ec2.describe_volumes(VolumeIds=[volume_id])
    assert gone.value.response["Error"]["Code"] == "InvalidVolume.NotFound"
    by_instance = [{"Name": "attachment.instance-id", "Values": [instance_id]}]
    assert volume_id not in {v["VolumeId"] for v in ec2.describe_volumes(Filters=by_instance)["Volumes"]}


def test_terminating_an_instance_deletes_its_delete_on_termination_volumes_and_frees_the_others():
    ec2, attached = _created_and_attached_volume()
    world = ec2.world
    instance_id = ec2.describe_volumes(VolumeIds=[attached])["Volumes"][0]["Attachments"][0]["InstanceId"]
    by_instance = [{"Name": "attachment.instance-id", "Values": [instance_id]}]
    launched = {v["VolumeId"] for v in ec2.describe_volumes(Filters=by_instance)["Volumes"]} - {attached}
    assert len(launched) == 2

    ec2.terminate_instances(InstanceIds=[instance_id])
    assert ec2.describe_volumes(VolumeIds=[attached])["Volumes"][0]["State"] == "in-use"  # shutting down
    world.advance_to(world.clock + 41.0)  # terminated within 40 s
    (freed,) = ec2.describe_volumes(VolumeIds=[attached])["Volumes"]
    assert (freed["State"], freed["Attachments"]) == ("available", [])  # AttachVolume: no DeleteOnTermination
    assert set(world.volumes.live(DR)) == {attached}  # the image's volumes went with the instance


def test_the_fleet_volumes_are_found_by_id_and_by_attachment_with_one_view():
    world = SimWorld(SimParams(seed=5), START, PRIMARY, DR)
    instance_id = world.add_instance(3, sizes=(8, 500))
    ec2 = SimEC2(world, PRIMARY)
    ids = [m["Ebs"]["VolumeId"] for m in world.instance_by_id[instance_id]["BlockDeviceMappings"]]
    by_instance = [{"Name": "attachment.instance-id", "Values": [instance_id]}]
    listed = ec2.describe_volumes(Filters=by_instance)["Volumes"]
    assert listed == ec2.describe_volumes(VolumeIds=ids)["Volumes"]
    assert [(v["Size"], v["State"], v["Attachments"][0]["Device"]) for v in listed] == [
        (8, "in-use", "/dev/xvda"),
        (500, "in-use", "/dev/sdf"),
        (100, "in-use", "/dev/sdg"),  # the reference size when the scenario gives none
    ]
    pages = list(ec2.get_paginator("describe_volumes").paginate(Filters=by_instance))
    assert [v for page in pages for v in page["Volumes"]] == listed
    (instance,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    assert instance["State"] == {"Name": "running"}  # one store of instances: the fleet's too
    assert [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]] == ids


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("describe_snapshots", {}),
        ("describe_volumes", {}),
        ("describe_instances", {}),
        ("describe_images", {"Owners": ["self"]}),
    ],
)
def test_every_describe_answers_an_unknown_filter_as_ec2_does(operation, params):
    _, ec2, _ = _restore_world()
    with pytest.raises(ClientError) as refused:
        getattr(ec2, operation)(Filters=[{"Name": "no-such-filter", "Values": ["x"]}], **params)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_the_ledger_queries_its_owed_keys_alone_from_the_simulated_table():
    """The simulated Query projects as DynamoDB does: `ProjectionExpression="sk"` returns each item's key only."""
    from datetime import timedelta

    from smart_vault.backup.ledger import CopyLedger, OwedCopy
    from smart_vault.sim.dynamodb import SimDynamoDB

    world = SimWorld(SimParams(seed=3), START, PRIMARY, DR)
    ledger = CopyLedger(SimDynamoDB(world), "ledger")  # type: ignore[arg-type]
    for minutes, snapshot_id in ((5, "snap-b"), (1, "snap-c"), (9, "snap-a")):
        start = START + timedelta(minutes=minutes)
        ledger.owe(OwedCopy(snapshot_id, PRIMARY, start, {"ManagedBy": "smart-vault"}), START.timestamp())
    assert list(ledger.owed_keys()) == [o.sort_key for o in ledger.owed()]
    assert [key.split("#")[1] for key in ledger.owed_keys()] == ["snap-c", "snap-b", "snap-a"]
    (page,) = ledger._query(ProjectionExpression="sk")
    assert all(set(item) == {"sk"} for item in page["Items"])
