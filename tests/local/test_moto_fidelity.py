"""The emulator layer: launching from an AMI registered from snapshots creates each volume, as EC2 does."""

from __future__ import annotations

import boto3

from smart_vault.local import moto_fidelity

REGION = "eu-west-1"


def test_an_instance_launched_from_a_registered_image_gets_a_volume_per_snapshot(moto_aws):
    moto_fidelity.apply()
    moto_fidelity.apply()  # idempotent
    ec2 = boto3.client("ec2", REGION)
    snapshots = {}
    for device, size, kind in (("/dev/xvda", 8, "gp3"), ("/dev/sdf", 20, "io1"), ("/dev/sdg", 30, "st1")):
        volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=size)["VolumeId"]
        snapshots[device] = (ec2.create_snapshot(VolumeId=volume)["SnapshotId"], size, kind)
    image_id = ec2.register_image(
        Name="smart-vault-restore-test",
        RootDeviceName="/dev/xvda",
        Architecture="x86_64",
        VirtualizationType="hvm",
        BlockDeviceMappings=[
            {
                "DeviceName": device,
                "Ebs": {
                    "SnapshotId": sid,
                    "VolumeType": kind,
                    "DeleteOnTermination": True,
                    **({"Iops": 500} if kind == "io1" else {}),
                },
            }
            for device, (sid, _size, kind) in snapshots.items()
        ],
    )["ImageId"]

    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")[
        "Instances"
    ][0]

    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"]
    found = {v["Attachments"][0]["Device"]: (v["SnapshotId"], v["Size"], v["VolumeType"]) for v in volumes}
    assert found == snapshots
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["RootDeviceName"] == "/dev/xvda"


def test_other_launches_keep_moto_behaviour(moto_aws):
    moto_fidelity.apply()
    ec2 = boto3.client("ec2", REGION)
    image_id = (
        ec2.describe_images()["Images"][0]["ImageId"] if ec2.describe_images()["Images"] else "ami-12c6146b"
    )
    instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"]
    assert len(volumes) == 1
