"""Reading one environment variable: its type, range or format, and an error that names the variable when
it is wrong (`ConfigError`). The settings of each function (`config`) are built from these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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


def env_current_region(env: Mapping[str, str]) -> str:
    if env_get(env, "AWS_REGION") is None and env_get(env, "AWS_DEFAULT_REGION") is not None:
        return env_region(env, "AWS_DEFAULT_REGION")
    return env_region(env, "AWS_REGION")


def env_dr_region(env: Mapping[str, str], region: str) -> str:
    dr_region = env_region(env, "DR_REGION")
    if dr_region == region:
        raise ConfigError("DR_REGION", f"must differ from AWS_REGION ({region})")
    return dr_region


def env_topic_arn(env: Mapping[str, str]) -> str:
    value = env_required(env, "SNS_TOPIC_ARN")
    if not SNS_TOPIC_ARN_RE.match(value):
        raise ConfigError("SNS_TOPIC_ARN", f"is not an SNS topic ARN: {value!r}")
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
