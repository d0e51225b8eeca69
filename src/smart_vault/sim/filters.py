"""The one filter engine of the simulated EC2: every Describe* of the simulation (snapshots, volumes,
instances, images) matches its `Filters` here.

As EC2 documents filtering: the filters of one request are ANDed, the values of one filter are ORed; `tag:<key>`
matches a tag's value, `tag-key` a tag's key; a multi-valued field (a volume's attachments) matches when any of
its values does. Each resource type has its own filter names (the EC2 API reference of its Describe* action);
the simulation knows only the ones the code under test sends and answers EC2's `InvalidParameterValue` to any
other, rather than ignore it. Not modelled (GUESS that no caller relies on them): the `*` and `?` wildcards in
filter values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import ClientError

Field = Callable[[Mapping[str, Any]], Iterable[Any]]
Item = TypeVar("Item", bound=Mapping[str, Any])


def _one(key: str) -> Field:
    return lambda item: (item.get(key),)


def _attachments(key: str) -> Field:
    return lambda item: tuple(a.get(key) for a in item.get("Attachments", ()))


# The filter names of each Describe* action the simulation answers, and the API field each reads.
FIELDS: dict[str, dict[str, Field]] = {
    "snapshot": {
        "snapshot-id": _one("SnapshotId"),
        "status": _one("State"),
        "volume-id": _one("VolumeId"),
        "owner-id": _one("OwnerId"),
    },
    "volume": {
        "volume-id": _one("VolumeId"),
        "status": _one("State"),
        "snapshot-id": _one("SnapshotId"),
        "availability-zone": _one("AvailabilityZone"),
        "volume-type": _one("VolumeType"),
        "attachment.instance-id": _attachments("InstanceId"),
        "attachment.device": _attachments("Device"),
        "attachment.status": _attachments("State"),
    },
    "instance": {
        "instance-id": _one("InstanceId"),
        "instance-state-name": lambda item: (item.get("State", {}).get("Name"),),
        "image-id": _one("ImageId"),
        "instance-type": _one("InstanceType"),
        "subnet-id": _one("SubnetId"),
    },
    "image": {
        "image-id": _one("ImageId"),
        "name": _one("Name"),
        "state": _one("State"),
    },
}


def tag_dict(item: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", ())}


def invalid_filter(name: str, resource: str) -> ClientError:
    message = f"The filter '{name}' is invalid (the simulation has no {resource} filter {name})"
    return ClientError({"Error": {"Code": "InvalidParameterValue", "Message": message}}, "Describe")


def matches(
    item: Mapping[str, Any],
    filters: Iterable[Mapping[str, Any]],
    resource: str,
    tags: Mapping[str, str] | None = None,
) -> bool:
    """Whether the API view `item` of a `resource` ("snapshot", "volume", "instance", "image") matches every
    filter. `tags` is the item's tags as a dict, when the caller keeps one (the snapshots' index does)."""
    fields = FIELDS[resource]
    for f in filters:
        name, values = f["Name"], f["Values"]
        if name.startswith("tag:") or name == "tag-key":
            if tags is None:
                tags = tag_dict(item)
            ok = tags.get(name[4:]) in values if name != "tag-key" else any(v in tags for v in values)
        else:
            field = fields.get(name)
            if field is None:
                raise invalid_filter(name, resource)
            ok = any(value in values for value in field(item))
        if not ok:
            return False
    return True


def select(
    items: Iterable[Item],
    filters: Iterable[Mapping[str, Any]],
    resource: str,
    tags: Callable[[Item], Mapping[str, str]] | None = None,
) -> list[Item]:
    """The items matching every filter, in their order. An unknown filter name is refused before any item
    is read, as EC2 refuses the request whatever the account holds."""
    filters = list(filters)
    for f in filters:
        name = f["Name"]
        if not (name.startswith("tag:") or name == "tag-key" or name in FIELDS[resource]):
            raise invalid_filter(name, resource)
    return [i for i in items if matches(i, filters, resource, tags(i) if tags is not None else None)]
