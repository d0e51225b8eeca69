"""The emulator layer: launching from an AMI registered from snapshots creates each volume, as EC2 does."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

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


def test_a_resource_reads_its_own_tags_as_moto_would_without_scanning_the_tag_store(moto_aws, monkeypatch):
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.tags import TagBackend

    ec2 = boto3.client("ec2", REGION)
    volumes = [
        ec2.create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=1,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "n", "Value": str(n)}]}],
        )["VolumeId"]
        for n in range(12)
    ]
    snapshots = [ec2.create_snapshot(VolumeId=v)["SnapshotId"] for v in volumes]
    ec2.create_tags(
        Resources=snapshots, Tags=[{"Key": "ManagedBy", "Value": "smart-vault"}, {"Key": "b", "Value": ""}]
    )
    backend = ec2_backends["123456789012"][REGION]
    # The same answer, in the same order, as moto's scan of the whole store, for every tagged resource.
    for resource_id in list(backend.tags):
        resource = backend.get_volume(resource_id) if resource_id.startswith("vol-") else None
        resource = resource or backend.snapshots.get(resource_id)
        if resource is not None:
            assert resource.get_tags() == backend.describe_tags(filters={"resource-id": [resource_id]})
    untagged = ec2.create_snapshot(VolumeId=volumes[0])["SnapshotId"]
    assert backend.snapshots[untagged].get_tags() == []
    assert untagged not in backend.tags  # reading did not add an entry to the defaultdict
    # A describe reads each snapshot's tags by its id: not one scan of the store.
    scans = []
    original = TagBackend.describe_tags
    monkeypatch.setattr(
        TagBackend, "describe_tags", lambda self, *a, **k: scans.append(a) or original(self, *a, **k)
    )
    found = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}]
    )
    assert sorted(s["SnapshotId"] for s in found["Snapshots"]) == sorted(snapshots)
    assert scans == []


def test_symmetric_kms_keys_share_the_key_pair_they_never_use_and_still_encrypt(moto_aws):
    from moto.kms.models import kms_backends

    kms = boto3.client("kms", REGION)
    first, second = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    keys = kms_backends["123456789012"][REGION].keys
    assert keys[first].private_key is keys[second].private_key
    assert keys[signing].private_key is not keys[first].private_key
    blob = kms.encrypt(KeyId=second, Plaintext=b"data")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"data"
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"].endswith(second)
    signature = kms.sign(KeyId=signing, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert kms.verify(
        KeyId=signing, Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256"
    )["SignatureValid"]


def test_concurrent_launches_reach_moto_one_at_a_time_each_token_once(moto_aws, monkeypatch):
    """AWS takes concurrent RunInstances; moto does not: its subnet hands out IPs from one generator, and a
    drill run that launched its instances side by side got "generator already executing". Launches reach moto
    one at a time (each holds it a few milliseconds here, so overlapping threads would be seen), and a retried
    ClientToken still returns its first instance."""
    moto_fidelity.apply()
    ec2 = boto3.client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    images = ec2.describe_images()["Images"]
    image_id = images[0]["ImageId"] if images else "ami-12c6146b"
    inside, most_inside = [0], [0]
    counting = threading.Lock()
    moto_run_instances = moto_fidelity._ORIGINAL["run_instances"]

    def watched(*args, **kwargs):
        with counting:
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
        try:
            time.sleep(0.005)
            return moto_run_instances(*args, **kwargs)
        finally:
            with counting:
                inside[0] -= 1

    monkeypatch.setitem(moto_fidelity._ORIGINAL, "run_instances", watched)

    def launch(n: int) -> str:
        client = boto3.client("ec2", REGION)
        answer = client.run_instances(
            ImageId=image_id, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken=f"token-{n % 10}"
        )
        return str(answer["Instances"][0]["InstanceId"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        launched = list(pool.map(launch, range(30)))

    assert most_inside[0] == 1
    assert len(set(launched)) == 10  # one instance per token, however many threads asked
    for n, instance_id in enumerate(launched):
        assert instance_id == launched[n % 10]


def test_concurrent_registrations_each_dress_their_own_image(moto_aws, monkeypatch):
    """Two drills register their images side by side. Each image gets its own call's tags and mappings (the
    emulator once dressed the newest AMI, another call's, and the launch from the untagged one was refused).
    Each registration holds moto a few milliseconds here, so interleaved calls would be seen."""
    moto_fidelity.apply()
    ec2 = boto3.client("ec2", REGION)
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    moto_register_image = moto_fidelity._ORIGINAL["register_image"]

    def slow(*args, **kwargs):
        answer = moto_register_image(*args, **kwargs)
        time.sleep(0.005)  # another registration may land here, after this one's and before it is dressed
        return answer

    monkeypatch.setitem(moto_fidelity._ORIGINAL, "register_image", slow)

    def register(n: int) -> tuple[str, str]:
        client = boto3.client("ec2", REGION)
        image_id = client.register_image(
            Name=f"drill-image-{n}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "Drill", "Value": str(n)}]}],
        )["ImageId"]
        return f"drill-image-{n}", image_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        registered = list(pool.map(register, range(16)))

    images = {
        i["ImageId"]: i for i in ec2.describe_images(ImageIds=[image for _, image in registered])["Images"]
    }
    for name, image_id in registered:
        image = images[image_id]
        assert image["Name"] == name
        assert {t["Key"]: t["Value"] for t in image.get("Tags", [])} == {"Drill": name.rsplit("-", 1)[1]}
        assert [m["DeviceName"] for m in image["BlockDeviceMappings"]] == ["/dev/xvda"]
