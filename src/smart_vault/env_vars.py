"""Reading one environment variable: its type, range or format (numbers, booleans, lists, regions, table
names, account ids, the JSON of RESTORE_NETWORKS), and an error that names the variable when it is wrong
(`ConfigError`). The caller names the variable: every name a function reads is written in `config`, which
builds each function's settings from these (tests/terraform compares those names with the Terraform).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from smart_vault.errors import ConfigError

N = TypeVar("N", int, float)

REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
SNS_TOPIC_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


def env_get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def env_required(env: Mapping[str, str], name: str) -> str:
    value = env_get(env, name)
    if value is None:
        raise ConfigError(name, "is required but not set")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _number(env, name, default, low, high, int, "an integer")


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env_get(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def env_float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _number(env, name, default, low, high, float, "a number")


def _number(
    env: Mapping[str, str], name: str, default: N, low: N, high: N, parse: Callable[[str], N], what: str
) -> N:
    """A number within [low, high]: integers are shown as they are, other numbers in `:g` form."""
    raw = env_get(env, name)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(name, f"must be {what}, got {raw!r}") from None
    if not low <= value <= high:
        shown = [str(n) if parse is int else f"{n:g}" for n in (low, high, value)]
        raise ConfigError(name, f"must be between {shown[0]} and {shown[1]}, got {shown[2]}")
    return value


def env_choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env_get(env, name) or default).lower()
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def env_csv(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = env_get(env, name)
    raw = default if raw is None else raw
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def env_region(env: Mapping[str, str], name: str) -> str:
    value = env_required(env, name)
    if not REGION_RE.match(value):
        raise ConfigError(name, f"is not an AWS region name: {value!r}")
    return value


def env_table_name(env: Mapping[str, str], name: str) -> str:
    value = env_required(env, name)
    if not re.match(
        r"^([A-Za-z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]{3,255})$",
        value,
    ):
        raise ConfigError(name, f"is not a DynamoDB table name: {value!r}")
    return value


def env_optional_table_name(env: Mapping[str, str], name: str) -> str | None:
    """A table name that may be left unset (or empty, as Terraform sets an absent one)."""
    return None if env_get(env, name) is None else env_table_name(env, name)


def account_id(env: Mapping[str, str], name: str) -> str:
    value = env_required(env, name)
    if not ACCOUNT_ID_RE.match(value):
        raise ConfigError(name, f"must be a 12-digit AWS account id, got {value!r}")
    return value


SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SG_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
INSTANCE_PROFILE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+$")


@dataclass(frozen=True)
class RestoreNetwork:
    """Where full-instance restores of sets taken in another region land by default, in one region."""

    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()


def env_networks(env: Mapping[str, str], name: str) -> dict[str, RestoreNetwork]:
    """A JSON object region -> {"subnet_id": ..., "security_group_ids": [...]} (either key may be absent)."""
    try:
        document = json.loads(env.get(name, "").strip() or "{}")
    except ValueError:
        raise ConfigError(name, "is not valid JSON") from None
    if not isinstance(document, dict):
        raise ConfigError(name, "must be a JSON object of region -> network")
    networks = {}
    for region, value in document.items():
        if not isinstance(value, dict) or set(value) - {"subnet_id", "security_group_ids"}:
            raise ConfigError(name, f"{region}: only subnet_id and security_group_ids may be given")
        subnet = value.get("subnet_id")
        groups = value.get("security_group_ids") or []  # Terraform encodes an unset one as null
        if subnet is not None and not (isinstance(subnet, str) and SUBNET_RE.match(subnet)):
            raise ConfigError(name, f"{region}: {subnet!r} is not a subnet id")
        if not isinstance(groups, list) or not all(isinstance(g, str) and SG_RE.match(g) for g in groups):
            raise ConfigError(name, f"{region}: security_group_ids must be a list of security group ids")
        networks[region] = RestoreNetwork(subnet, tuple(groups))
    return networks


def env_profile_arns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    arns = env_csv(env, name, "")
    for arn in arns:
        if not INSTANCE_PROFILE_ARN_RE.match(arn):
            raise ConfigError(name, f"{arn!r} is not an instance profile ARN")
    return arns
