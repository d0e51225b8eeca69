"""Pure: the restore metadata recorded on every snapshot (no AWS)."""

from __future__ import annotations

from smart_vault.backup.instances import Instance
from smart_vault.backup.metadata import instance_metadata, volume_metadata
from smart_vault.backup.snapshots import set_tags
from smart_vault.config import BackupSettings

ENV = {
    "AWS_REGION": "eu-west-1",
    "SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
    "DR_REGION": "eu-central-1",
    "DR_KMS_KEY_ID": "alias/dr",
    "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
}

ITEM = {
    "InstanceId": "i-0123456789abcdef0",
    "InstanceType": "m5.large",
    "Architecture": "x86_64",
    "PlatformDetails": "Red Hat Enterprise Linux",
    "RootDeviceName": "/dev/xvda",
    "EnaSupport": True,
    "ImageId": "ami-0123456789abcdef0",
    "Placement": {"AvailabilityZone": "eu-west-1b"},
    "SubnetId": "subnet-0123456789abcdef0",
    "SecurityGroups": [{"GroupId": "sg-01234567"}, {"GroupId": "sg-89abcdef"}],
    "BootMode": "uefi",
    "KeyName": "ops",
    "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/" + "p" * 300},
}


def test_instance_metadata_records_what_a_rebuild_needs_and_leaves_out_long_values():
    tags = instance_metadata(ITEM)
    assert tags == {
        "smart-vault:instance-type": "m5.large",
        "smart-vault:architecture": "x86_64",
        "smart-vault:platform": "Red Hat Enterprise Linux",
        "smart-vault:root-device": "/dev/xvda",
        "smart-vault:ena": "true",
        "smart-vault:image-id": "ami-0123456789abcdef0",
        "smart-vault:availability-zone": "eu-west-1b",
        "smart-vault:subnet-id": "subnet-0123456789abcdef0",
        "smart-vault:security-groups": "sg-01234567 sg-89abcdef",
        "smart-vault:boot-mode": "uefi",
        "smart-vault:key-name": "ops",
    }  # the 340-character profile ARN is left out


def test_platform_without_details_falls_back_to_platform_field():
    assert instance_metadata({"Platform": "windows"})["smart-vault:platform"] == "Windows"
    assert instance_metadata({})["smart-vault:platform"] == "Linux/UNIX"
    assert "smart-vault:key-name" not in instance_metadata({})


def test_volume_metadata_has_iops_and_throughput_only_when_the_volume_has_them():
    assert volume_metadata({"VolumeType": "gp3", "Iops": 3000, "Throughput": 125}, True) == {
        "smart-vault:volume-type": "gp3",
        "smart-vault:delete-on-termination": "true",
        "smart-vault:iops": "3000",
        "smart-vault:throughput": "125",
    }
    assert volume_metadata({"VolumeType": "standard"}, False) == {
        "smart-vault:volume-type": "standard",
        "smart-vault:delete-on-termination": "false",
    }


def test_the_vault_tags_of_a_dr_copy_stay_within_30():
    instance = Instance(
        "i-0123456789abcdef0",
        "web-1",
        (("/dev/xvda", "vol-1"),),
        retention_days=14,
        metadata=tuple(instance_metadata({**ITEM, "IamInstanceProfile": {"Arn": "arn:short"}}).items()),
    )
    common = set_tags(instance, "run-1", "bset-00000000000000000000", BackupSettings.from_env(ENV))
    per_volume = 2 + len(volume_metadata({"VolumeType": "io2", "Iops": 1, "Throughput": 1}, True))
    assert common["smart-vault:set-size"] == "1"
    assert len(common) + per_volume + 2 <= 30  # + source-snapshot and source-region on the copy
