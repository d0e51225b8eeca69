"""The demo fleet: a small VPC with instances to protect (tagged) and instances the vault must leave alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ClientFactory = Callable[[str, str], Any]


@dataclass(frozen=True)
class DemoInstance:
    name: str
    tier: str | None  # the Backup-Tier tag value, None for untagged
    data_volumes_gib: tuple[int, ...]


# Three protected instances with several volumes each; two that a backup must not touch.
DEMO_INSTANCES = (
    DemoInstance("web-1", "Gold", (20,)),
    DemoInstance("web-2", "Gold", (20, 10)),
    DemoInstance("db-1", "Gold", (100, 50)),
    DemoInstance("build-1", None, (50,)),
    DemoInstance("dev-1", "Bronze", ()),
)
DATA_DEVICES = ("/dev/xvdf", "/dev/xvdg", "/dev/xvdh")
ROOT_DEVICE = "/dev/xvda"


@dataclass
class RegionNetwork:
    region: str
    vpc_id: str
    subnet_id: str
    availability_zone: str
    ami_id: str
    security_group_id: str = ""  # a group for restored instances, without inbound rules
    fleet_security_group_id: str = ""  # the demo fleet's own group: restores in this region reuse it


@dataclass
class Fleet:
    networks: dict[str, RegionNetwork] = field(default_factory=dict)
    instances: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fleet:
        networks = {region: RegionNetwork(**net) for region, net in data.get("networks", {}).items()}
        return cls(networks=networks, instances=list(data.get("instances", [])))

    @property
    def protected(self) -> list[dict[str, Any]]:
        return [i for i in self.instances if i["protected"]]


def create_network(ec2: Any, region: str) -> RegionNetwork:
    """A VPC, one subnet, a security group without inbound rules and an AMI to launch restores from."""
    zone = f"{region}a"
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24", AvailabilityZone=zone)["Subnet"][
        "SubnetId"
    ]
    ami_id = ec2.register_image(
        Name="smart-vault-demo-al2023",
        Description="Demo image for restores",
        Architecture="x86_64",
        VirtualizationType="hvm",
        RootDeviceName=ROOT_DEVICE,
        BlockDeviceMappings=[{"DeviceName": ROOT_DEVICE, "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
    )["ImageId"]
    group_id = ec2.create_security_group(
        GroupName="smart-vault-restores", Description="Restored instances: no inbound rule", VpcId=vpc_id
    )["GroupId"]
    fleet_group_id = ec2.create_security_group(
        GroupName="smart-vault-demo-fleet", Description="Demo fleet: HTTPS from the VPC", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=fleet_group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.42.0.0/16"}]}
        ],
    )
    return RegionNetwork(region, vpc_id, subnet_id, zone, ami_id, group_id, fleet_group_id)


def launch(ec2: Any, network: RegionNetwork, spec: DemoInstance, tag_key: str) -> dict[str, Any]:
    tags = [{"Key": "Name", "Value": spec.name}]
    if spec.tier:
        tags.append({"Key": tag_key, "Value": spec.tier})
    mappings = [{"DeviceName": ROOT_DEVICE, "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}]
    mappings += [
        {"DeviceName": device, "Ebs": {"VolumeSize": size, "VolumeType": "gp3"}}
        for device, size in zip(DATA_DEVICES, spec.data_volumes_gib, strict=False)
    ]
    instance = ec2.run_instances(
        ImageId=network.ami_id,
        InstanceType="t3.micro",
        SubnetId=network.subnet_id,
        # An instance in a VPC always has a group; a whole-instance restore in this region reuses it.
        SecurityGroupIds=[network.fleet_security_group_id] if network.fleet_security_group_id else [],
        MinCount=1,
        MaxCount=1,
        BlockDeviceMappings=mappings,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][
        0
    ]
    volumes = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in described.get("BlockDeviceMappings", [])}
    return {
        "instance_id": instance["InstanceId"],
        "name": spec.name,
        "tier": spec.tier,
        "volumes": volumes,
    }


def create_networks(client_for: ClientFactory, regions: tuple[str, ...]) -> dict[str, RegionNetwork]:
    return {region: create_network(client_for("ec2", region), region) for region in regions}


def seed_demo_fleet(
    client_for: ClientFactory,
    primary_region: str,
    dr_region: str,
    tag_key: str,
    tag_values: tuple[str, ...],
    networks: dict[str, RegionNetwork] | None = None,
) -> Fleet:
    """Networks (and a launchable AMI) in both regions, and the demo instances in the primary region."""
    fleet = Fleet()
    fleet.networks = dict(networks or create_networks(client_for, (primary_region, dr_region)))
    ec2 = client_for("ec2", primary_region)
    for spec in DEMO_INSTANCES:
        instance = launch(ec2, fleet.networks[primary_region], spec, tag_key)
        instance["protected"] = spec.tier in tag_values
        fleet.instances.append(instance)
    return fleet
