"""The resources of an EC2 request and the condition keys of each, as EC2 builds its authorization context.

Which resource types an action authorizes, and which condition keys each type carries, come from the
Service Authorization Reference (`reference.py`): a key the reference does not list for a resource type of
an action is absent from that resource's context. What this module adds is where each resource comes from:
- resources the request names: `SnapshotId`, `SourceSnapshotId` (in `SourceRegion`), `VolumeId`,
  `InstanceId(s)`, `ImageId`, `SubnetId`, `SecurityGroupIds`, `KeyName`, `Resources` of CreateTags,
  block-device snapshots; and the ones they imply: the volumes of `CreateSnapshots`' instance, the
  snapshots behind `RunInstances`' image, the default subnet and security group of a launch without them,
  the instance a volume is attached to for `DetachVolume`;
- resources the action creates (`CREATES`): ARN `.../<type>/*` in the request's region, with the request's
  tags for that type (`TagSpecifications`) as `aws:RequestTag/*` and `aws:TagKeys`.
GUESS (the reference does not say): request tags reach only the resources created with them, never a
resource the request only reads (the source snapshot of CopySnapshot, the instance of CreateSnapshots).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from smart_vault.authz.facts import Ec2Resource, Facts

# Resource types each action creates. The reference lists the resource types, not which are new.
CREATES = {
    "CreateSnapshot": ("snapshot",),
    "CreateSnapshots": ("snapshot",),
    "CopySnapshot": ("snapshot",),
    "CreateVolume": ("volume",),
    "RunInstances": ("instance", "volume", "network-interface"),
    "RegisterImage": ("image",),
    "CopyImage": ("image",),
    "CreateImage": ("image", "snapshot"),
}
_TYPE_OF_PREFIX = {
    "snap-": "snapshot",
    "vol-": "volume",
    "i-": "instance",
    "ami-": "image",
    "subnet-": "subnet",
    "sg-": "security-group",
    "eni-": "network-interface",
}


def arn(resource_type: str, region: str, account: str, resource_id: str) -> str:
    owner = "" if resource_type in ("snapshot", "image") else account
    return f"arn:aws:ec2:{region}:{owner}:{resource_type}/{resource_id}"


def type_of(resource_id: str) -> str | None:
    return next((t for p, t in _TYPE_OF_PREFIX.items() if resource_id.startswith(p)), None)


@dataclass(frozen=True)
class Ec2RequestResource:
    type: str
    arn: str
    region: str
    created: bool
    values: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    facts: Ec2Resource | None = None


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or []}


def request_tags(params: dict[str, Any]) -> dict[str, dict[str, str]]:
    """TagSpecifications by resource type."""
    return {s["ResourceType"]: _tags(s.get("Tags")) for s in params.get("TagSpecifications") or []}


def tag_values(prefix: str, tags: dict[str, str]) -> dict[str, str | tuple[str, ...]]:
    values: dict[str, str | tuple[str, ...]] = {f"{prefix}/{k}": v for k, v in tags.items()}
    if prefix == "aws:RequestTag":
        values["aws:TagKeys"] = tuple(tags)
    return values


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _named_ids(operation: str, params: dict[str, Any], region: str) -> Iterator[tuple[str, str]]:
    """(resource id, region) of every resource the request names directly."""
    for key in ("SnapshotId", "VolumeId", "InstanceId", "ImageId", "SubnetId"):
        if params.get(key):
            yield params[key], region
    for key in ("InstanceIds", "SecurityGroupIds", "Resources"):
        for value in params.get(key) or []:
            yield value, region
    if params.get("SourceSnapshotId"):
        yield params["SourceSnapshotId"], params.get("SourceRegion") or region
    if (spec := params.get("InstanceSpecification")) and spec.get("InstanceId"):
        yield spec["InstanceId"], region
    for mapping in params.get("BlockDeviceMappings") or []:
        if (snapshot := (mapping.get("Ebs") or {}).get("SnapshotId")) is not None:
            yield snapshot, region
    for interface in params.get("NetworkInterfaces") or []:
        if interface.get("SubnetId"):
            yield interface["SubnetId"], region
        for group in interface.get("Groups") or []:
            yield group, region


def _implied_ids(
    operation: str, params: dict[str, Any], region: str, facts: Facts, named: dict[str, Ec2Resource | None]
) -> Iterator[tuple[str, str]]:
    """Resources the named ones imply (see the module docstring)."""
    if operation == "CreateSnapshots":
        instance = named.get((params.get("InstanceSpecification") or {}).get("InstanceId", ""))
        excluded = set((params.get("InstanceSpecification") or {}).get("ExcludeDataVolumeIds") or [])
        for volume in instance.volume_ids if instance else ():
            if volume not in excluded:
                yield volume, region
    if operation == "RunInstances":
        image = named.get(params.get("ImageId", ""))
        for snapshot in image.snapshot_ids if image else ():
            yield snapshot, region
        has_subnet = params.get("SubnetId") or any(
            i.get("SubnetId") for i in params.get("NetworkInterfaces") or []
        )
        has_groups = params.get("SecurityGroupIds") or params.get("SecurityGroups")
        subnet, groups = facts.default_network(region) if not (has_subnet and has_groups) else (None, ())
        if not has_subnet and subnet:
            yield subnet, region
        if not has_groups:
            yield from ((g, region) for g in groups)
    if operation == "DetachVolume" and not params.get("InstanceId"):
        detached = named.get(params.get("VolumeId", ""))
        if detached and detached.instance_id:
            yield detached.instance_id, region


def existing_values(resource: Ec2Resource) -> dict[str, str | tuple[str, ...]]:
    values = {**tag_values("ec2:ResourceTag", resource.tags), **tag_values("aws:ResourceTag", resource.tags)}
    if resource.encrypted is not None:
        values["ec2:Encrypted"] = _bool(resource.encrypted)
    if resource.owner:
        values["ec2:Owner"] = resource.owner
    if resource.metadata_http_tokens:
        values["ec2:MetadataHttpTokens"] = resource.metadata_http_tokens
    id_key = {
        "snapshot": "ec2:SnapshotID",
        "volume": "ec2:VolumeID",
        "instance": "ec2:InstanceID",
        "image": "ec2:ImageID",
    }
    if (key := id_key.get(type_of(resource.id) or "")) is not None:
        values[key] = resource.id
    return values


def request_values(operation: str, params: dict[str, Any]) -> dict[str, str | tuple[str, ...]]:
    """Condition keys an existing resource carries from the request's own parameters (the reference lists
    them per resource type; `requests._filtered` drops the ones it does not list for the action).
    GUESS (not documented): a LockSnapshot with `ExpirationDate` instead of `LockDuration` carries no
    `ec2:SnapshotLockDuration` (so an `...IfExists` bound does not apply to it)."""
    values: dict[str, str | tuple[str, ...]] = {}
    if operation == "LockSnapshot":
        if params.get("LockDuration") is not None:
            values["ec2:SnapshotLockDuration"] = str(params["LockDuration"])
        if params.get("CoolOffPeriod") is not None:
            values["ec2:SnapshotCoolOffPeriod"] = str(params["CoolOffPeriod"])
    if operation == "ModifySnapshotAttribute":
        if params.get("Attribute"):
            values["ec2:Attribute"] = params["Attribute"]
        permission = params.get("CreateVolumePermission") or {}
        kind = (params.get("OperationType") or "").lower()
        for verb, name in (("add", "Add"), ("remove", "Remove")):
            users = [p["UserId"] for p in permission.get(name) or [] if p.get("UserId")]
            groups = [p["Group"] for p in permission.get(name) or [] if p.get("Group")]
            if kind == verb:
                users += list(params.get("UserIds") or [])
                groups += list(params.get("GroupNames") or [])
            if users:
                values[f"ec2:{name}/userId"] = tuple(users)
            if groups:
                values[f"ec2:{name}/group"] = tuple(groups)
    return values


def created_values(
    resource_type: str,
    operation: str,
    params: dict[str, Any],
    tags: dict[str, str] | None,
    source: Ec2Resource | None,
) -> dict[str, str | tuple[str, ...]]:
    values = tag_values("aws:RequestTag", tags) if tags is not None else {}
    if resource_type in ("snapshot", "volume") and operation in ("CopySnapshot", "CreateVolume"):
        encrypted = bool(params.get("Encrypted")) or bool(source and source.encrypted)
        values["ec2:Encrypted"] = _bool(encrypted)
        if params.get("KmsKeyId"):
            values["ec2:KmsKeyId"] = params["KmsKeyId"]
        if source is not None:
            values["ec2:ParentSnapshot"] = source.id
    if resource_type == "instance" and (tokens := (params.get("MetadataOptions") or {}).get("HttpTokens")):
        values["ec2:MetadataHttpTokens"] = tokens
    return values


def request_resources(
    operation: str, params: dict[str, Any], region: str, facts: Facts
) -> tuple[list[Ec2RequestResource], bool]:
    """Every resource of the request (named, implied, created), with the condition-key values of each; and
    whether a resource the request names does not exist (EC2 then answers NotFound before authorizing)."""
    named: dict[str, Ec2Resource | None] = {}
    regions: dict[str, str] = {}
    for resource_id, resource_region in _named_ids(operation, params, region):
        named[resource_id] = facts.ec2(resource_region, resource_id)
        regions[resource_id] = resource_region
    for resource_id, resource_region in list(_implied_ids(operation, params, region, facts, named)):
        named.setdefault(resource_id, facts.ec2(resource_region, resource_id))
        regions.setdefault(resource_id, resource_region)
    call_tags = _tags(params.get("Tags")) if operation == "CreateTags" else None
    resources = []
    for resource_id, found in named.items():
        resource_type = type_of(resource_id)
        if resource_type is None or found is None:
            continue
        values = {**existing_values(found), **request_values(operation, params)}
        if call_tags is not None:
            values.update(tag_values("aws:RequestTag", call_tags))
        resources.append(
            Ec2RequestResource(
                resource_type,
                arn(resource_type, regions[resource_id], facts.account, resource_id),
                regions[resource_id],
                False,
                values,
                found,
            )
        )
    if params.get("KeyName"):
        resources.append(
            Ec2RequestResource(
                "key-pair", arn("key-pair", region, facts.account, params["KeyName"]), region, False
            )
        )
    tags = request_tags(params)
    source = named.get(params.get("SourceSnapshotId") or params.get("SnapshotId") or "")
    for resource_type in CREATES.get(operation, ()):
        values = created_values(resource_type, operation, params, tags.get(resource_type), source)
        resources.append(
            Ec2RequestResource(
                resource_type, arn(resource_type, region, facts.account, "*"), region, True, values
            )
        )
    return resources, any(found is None for found in named.values())
