"""The request context of each EC2 action the functions call: every resource type the Service
Authorization Reference lists for it, with the condition keys the reference lists for that type."""

from __future__ import annotations

from fakes import ACCOUNT, FakeFacts

from smart_vault.authz import reference
from smart_vault.authz.facts import Ec2Resource
from smart_vault.authz.requests import authorizations

REGION = "eu-west-1"
MANAGED = {"ManagedBy": "smart-vault"}
TAGS = [{"Key": "ManagedBy", "Value": "smart-vault"}]


def by_resource(facts, operation, params, region=REGION, action=None):
    found = {}
    for authorization in authorizations("ec2", operation, params, region, facts):
        for request in authorization.requests:
            if action is None or request.action == action:
                found[(request.action, request.resource)] = dict(request.context)
    return found


def test_the_pinned_reference_is_the_one_the_model_reads():
    assert reference.data_version() == "0.1.202610271"
    copy = reference.action("ec2", "CopySnapshot")
    assert [t.name for t in copy.resource_types] == ["snapshot"]
    assert "ec2:ResourceTag/${TagKey}" not in copy.resource_types[0].condition_keys


def test_create_volume_authorizes_the_new_volume_and_its_source_snapshot():
    facts = FakeFacts()
    facts.add(REGION, Ec2Resource("snap-1", MANAGED, True, "k-1", ACCOUNT))
    params = {
        "SnapshotId": "snap-1",
        "AvailabilityZone": "eu-west-1a",
        "TagSpecifications": [{"ResourceType": "volume", "Tags": TAGS}],
    }
    found = by_resource(facts, "CreateVolume", params, action="ec2:CreateVolume")
    volume = found[("ec2:CreateVolume", f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*")]
    snapshot = found[("ec2:CreateVolume", f"arn:aws:ec2:{REGION}::snapshot/snap-1")]
    assert volume["aws:RequestTag/ManagedBy"] == "smart-vault" and volume["ec2:Encrypted"] == "true"
    assert snapshot["ec2:ResourceTag/ManagedBy"] == "smart-vault"
    assert "aws:RequestTag/ManagedBy" not in snapshot  # the reference lists no request tag for the source


def test_create_volume_from_an_encrypted_snapshot_asks_kms_through_ebs():
    facts = FakeFacts()
    facts.add(REGION, Ec2Resource("snap-1", MANAGED, True, "k-1", ACCOUNT))
    kms = [
        (a.action, a.requests[0].context["kms:ViaService"])
        for a in authorizations("ec2", "CreateVolume", {"SnapshotId": "snap-1"}, REGION, facts)
        if a.key_arn
    ]
    assert kms == [
        ("kms:Decrypt", "ec2.eu-west-1.amazonaws.com"),
        ("kms:DescribeKey", "ec2.eu-west-1.amazonaws.com"),
        ("kms:GenerateDataKeyWithoutPlaintext", "ec2.eu-west-1.amazonaws.com"),
        ("kms:CreateGrant", "ec2.eu-west-1.amazonaws.com"),
    ]


def test_run_instances_authorizes_every_resource_it_uses_and_creates():
    facts = FakeFacts(
        profiles={"arn:aws:iam::123456789012:instance-profile/app": "arn:aws:iam::123456789012:role/app"}
    )
    facts.add(REGION, Ec2Resource("ami-1", MANAGED, owner=ACCOUNT, snapshot_ids=("snap-1",)))
    facts.add(REGION, Ec2Resource("snap-1", MANAGED, False, None, ACCOUNT))
    params = {
        "ImageId": "ami-1",
        "SubnetId": "subnet-1",
        "SecurityGroupIds": ["sg-1"],
        "KeyName": "ops",
        "MetadataOptions": {"HttpTokens": "required"},
        "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/app"},
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": TAGS},
            {"ResourceType": "volume", "Tags": TAGS},
        ],
    }
    facts.add(REGION, Ec2Resource("subnet-1"))
    facts.add(REGION, Ec2Resource("sg-1"))
    found = by_resource(facts, "RunInstances", params)
    resources = sorted(r for a, r in found if a == "ec2:RunInstances")
    assert resources == sorted(
        [
            f"arn:aws:ec2:{REGION}::image/ami-1",
            f"arn:aws:ec2:{REGION}::snapshot/snap-1",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-1",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:key-pair/ops",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*",
        ]
    )
    instance = found[("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*")]
    assert instance["ec2:MetadataHttpTokens"] == "required" and instance["aws:TagKeys"] == ("ManagedBy",)
    interface = found[("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/*")]
    assert "aws:RequestTag/ManagedBy" not in interface  # no tag specification for interfaces
    tagging = {r for a, r in found if a == "ec2:CreateTags"}
    assert tagging == {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*",
    }
    assert (
        found[("ec2:CreateTags", f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*")]["ec2:CreateAction"]
        == "RunInstances"
    )
    assert found[("iam:PassRole", "arn:aws:iam::123456789012:role/app")] == {
        "iam:PassedToService": "ec2.amazonaws.com"
    }


def test_run_instances_without_a_network_uses_the_default_subnet_and_group():
    facts = FakeFacts()
    facts.add(REGION, Ec2Resource("ami-1", MANAGED, owner=ACCOUNT))
    facts.add(REGION, Ec2Resource("subnet-default"))
    facts.add(REGION, Ec2Resource("sg-default"))
    found = by_resource(facts, "RunInstances", {"ImageId": "ami-1"}, action="ec2:RunInstances")
    assert ("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-default") in found
    assert ("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-default") in found


def test_create_snapshots_authorizes_the_instance_its_volumes_and_the_new_snapshots():
    facts = FakeFacts()
    facts.add(REGION, Ec2Resource("i-1", {"Backup": "on"}, volume_ids=("vol-1", "vol-2")))
    facts.add(REGION, Ec2Resource("vol-1", {}, False))
    facts.add(REGION, Ec2Resource("vol-2", {}, False))
    params = {
        "InstanceSpecification": {"InstanceId": "i-1", "ExcludeDataVolumeIds": ["vol-2"]},
        "TagSpecifications": [{"ResourceType": "snapshot", "Tags": TAGS}],
    }
    found = by_resource(facts, "CreateSnapshots", params, action="ec2:CreateSnapshots")
    assert sorted(r for _, r in found) == sorted(
        [
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1",
            f"arn:aws:ec2:{REGION}::snapshot/*",
        ]
    )


def test_create_tags_on_existing_snapshots_carries_request_and_resource_tags():
    facts = FakeFacts()
    facts.add(REGION, Ec2Resource("snap-1", MANAGED, False, None, ACCOUNT))
    params = {"Resources": ["snap-1"], "Tags": [{"Key": "smart-vault:x", "Value": "1"}]}
    context = by_resource(facts, "CreateTags", params)[
        ("ec2:CreateTags", f"arn:aws:ec2:{REGION}::snapshot/snap-1")
    ]
    assert context["ec2:ResourceTag/ManagedBy"] == "smart-vault"
    assert context["aws:TagKeys"] == ("smart-vault:x",)
    assert "ec2:CreateAction" not in context


def test_detach_volume_without_an_instance_authorizes_the_instance_it_is_attached_to():
    facts = FakeFacts()
    facts.add(REGION, Ec2Resource("vol-1", MANAGED, False, instance_id="i-1"))
    facts.add(REGION, Ec2Resource("i-1", MANAGED))
    found = by_resource(facts, "DetachVolume", {"VolumeId": "vol-1"})
    assert set(r for _, r in found) == {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1",
    }


def test_describe_calls_have_no_resource_types_and_a_missing_resource_is_left_to_ec2():
    assert by_resource(FakeFacts(), "DescribeSnapshots", {}) == {
        ("ec2:DescribeSnapshots", "*"): {"ec2:Region": REGION}
    }
    assert authorizations("ec2", "DeleteSnapshot", {"SnapshotId": "snap-gone"}, REGION, FakeFacts()) == []
