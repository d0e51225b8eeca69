"""Pure validation of `POST /restore` bodies: one draft-4 JSON Schema, plus the rules draft 4 cannot express.

The schema (`schemas/restore_request.json`) is the same document API Gateway validates with at the edge
(`openapi.yaml` carries it as `components.schemas.RestoreRequest`), so both layers accept exactly the same
shapes. It is a `oneOf` of two forms: a volume restore (`snapshot_id`) and a full-instance restore
(`instance_id`). The Lambda checks again because a request can reach it without the edge (local stack, a
content type without a model) and because some rules depend on settings: allowed regions, instance types and
subnets, and which fields each kind of restore needs. No AWS calls here; lookups are `restore.checks`' job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from smart_vault.config import RestoreApiSettings
from smart_vault.errors import ValidationError

# The body is a handful of short strings; anything near this size is a mistake or an attack.
if TYPE_CHECKING:
    import fastjsonschema

MAX_BODY_BYTES = 8_192
DEFAULT_INSTANCE_TYPE = "t3.micro"
DEFAULT_DEVICE_NAME = "/dev/sdf"
DEFAULT_VOLUME_TYPE = "gp3"
# Fields that only make sense for an instance launch.
LAUNCH_ONLY_FIELDS = ("ami_id", "instance_type")
# The field that selects the full-instance form, and the volume-form fields it does not take.
INSTANCE_FORM_FIELD = "instance_id"
VOLUME_ONLY_FIELDS = ("snapshot_id", "launch_instance", "availability_zone", "device_name", "volume_type")
VOLUME_FORM, INSTANCE_FORM = 0, 1  # their positions in the schema's oneOf


@dataclass(frozen=True)
class RestoreRequest:
    """A validated restore request, defaults applied. `availability_zone` may still be None when a subnet
    gives it (the pre-checks resolve it)."""

    snapshot_id: str
    region: str
    launch_instance: bool
    ami_id: str | None
    subnet_id: str | None
    instance_type: str | None
    availability_zone: str | None
    device_name: str
    volume_type: str
    keep_on_failure: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InstanceRestoreRequest:
    """A validated full-instance restore request. None means "the default": the pre-checks resolve each one
    from the recovery point's recorded metadata or from RESTORE_NETWORKS."""

    instance_id: str
    region: str
    backup_set_id: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] | None = None
    instance_type: str | None = None
    ami_id: str | None = None
    keep_on_failure: bool = False

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if self.security_group_ids is not None:
            values["security_group_ids"] = list(self.security_group_ids)
        return values


@cache
def request_schema() -> dict[str, Any]:
    """The draft-4 JSON Schema of the request body, as packaged with the code."""
    text = resources.files("smart_vault").joinpath("schemas/restore_request.json").read_text("utf-8")
    return json.loads(text)


def form_schema(form: int) -> dict[str, Any]:
    """One branch of the schema's `oneOf` (VOLUME_FORM or INSTANCE_FORM), as a draft-4 schema of its own."""
    return {"$schema": request_schema()["$schema"], **request_schema()["oneOf"][form]}


@cache
def _compiled_validator(form: int) -> Any:
    # Compiled once per process: fastjsonschema (what Powertools' validator runs) compiles to Python code,
    # which is fast to run but slow to build, and Powertools' `validate` would rebuild it on every call.
    # Imported here, at the first POST /restore: the API's other routes and its cold start do without it.
    import fastjsonschema

    return fastjsonschema.compile(form_schema(form))


def form_of(body: Any) -> int:
    """Which form a body means: a body naming `instance_id` is a full-instance restore, any other a volume
    restore (so that a body with neither is told it lacks `snapshot_id`, the v1 answer)."""
    return INSTANCE_FORM if isinstance(body, dict) and INSTANCE_FORM_FIELD in body else VOLUME_FORM


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate field {key!r}")
        result[key] = value
    return result


def parse_json_body(body: str | bytes | None) -> Any:
    """The request body as JSON. Empty, oversized, non-UTF-8 or unparsable bodies raise ValidationError."""
    if body is None or (isinstance(body, str | bytes) and not body.strip()):
        raise ValidationError("the request body is empty; send a JSON object", field=None)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError(f"the request body is larger than {MAX_BODY_BYTES} bytes", field=None)
    try:
        text = raw.decode("utf-8")
        # Python's json accepts NaN/Infinity and silently keeps the last of duplicate keys; JSON does neither.
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting ("[[[[...") recurses
        raise ValidationError(f"the request body is not valid JSON: {exc}", field=None) from None


def _field_of(path: list[Any]) -> str | None:
    """`['data', 'snapshot_id']` -> 'snapshot_id'; the object itself -> None."""
    parts = [str(p) for p in path[1:]]
    return ".".join(parts) or None


def _schema_error(body: Any, form: int, exc: fastjsonschema.JsonSchemaValueException) -> ValidationError:
    """A field-precise error from the first rule of the body's form that failed."""
    schema = form_schema(form)
    properties = schema["properties"]
    field = _field_of(list(exc.path or []))
    if exc.rule == "additionalProperties" and isinstance(body, dict):
        unknown = sorted(k for k in body if k not in properties)
        if form == INSTANCE_FORM:
            volume_only = [k for k in unknown if k in VOLUME_ONLY_FIELDS]
            if volume_only:
                return ValidationError(
                    f"{volume_only[0]} is a field of a volume restore; a full-instance restore "
                    f"({INSTANCE_FORM_FIELD}) does not take it",
                    field=volume_only[0],
                )
        names = ", ".join(unknown)
        return ValidationError(
            f"unknown field{'s' if len(unknown) > 1 else ''}: {names}", field=unknown[0] if unknown else None
        )
    if exc.rule == "required" and isinstance(body, dict):
        missing = [k for k in schema.get("required", []) if k not in body]
        suffix = f" (or {INSTANCE_FORM_FIELD}, for a full-instance restore)" if form == VOLUME_FORM else ""
        return ValidationError(f"missing required field: {missing[0]}{suffix}", field=missing[0])
    if field is None:
        return ValidationError("the request body must be a JSON object", field=None)
    build = _RULE_MESSAGES.get(exc.rule or "")
    message = build(field, exc.rule_definition, exc.value) if build else f"{field} is invalid: {exc.message}"
    # An array item's path ends in its index (`security_group_ids.0`); the field is the array.
    return ValidationError(message, field=field.split(".", 1)[0])


# The message of each JSON-schema rule a request breaks, from (field, the rule's definition, the value).
_RULE_MESSAGES: dict[str, Callable[[str, Any, Any], str]] = {
    "type": lambda field, rule, value: f"{field} must be {_type_name(rule)}, got {_json_type(value)}",
    "pattern": lambda field, rule, value: f"{field} must match {rule}, got {value!r}",
    "enum": lambda field, rule, value: f"{field} must be one of {', '.join(map(str, rule))}, got {value!r}",
    "minItems": lambda field, rule, _: f"{field} must list at least {rule} item{'s' if rule > 1 else ''}",
    "maxItems": lambda field, rule, _: f"{field} must list at most {rule} items",
    "uniqueItems": lambda field, _, __: f"{field} must not list an item twice",
}


def _type_name(rule_definition: Any) -> str:
    return {"array": "an array", "object": "an object"}.get(str(rule_definition), f"a {rule_definition}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def validate_against_schema(body: Any) -> dict[str, Any]:
    """Check a parsed body against the JSON Schema, then re-check every pattern over the whole string.

    JSON Schema `pattern`s use `$`, which in Python (and in API Gateway's Java) also matches before a final
    newline; a trailing newline must never reach an AWS call, so each pattern must match the full value.
    """
    form = form_of(body)
    import fastjsonschema  # loaded by _compiled_validator already; named here for its exception type

    try:
        _compiled_validator(form)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _schema_error(body, form, exc) from None
    for name, rule in form_schema(form)["properties"].items():
        value = body.get(name)
        pattern = rule.get("pattern") or rule.get("items", {}).get("pattern")
        for item in value if isinstance(value, list) else [value]:
            if pattern and isinstance(item, str) and not re.fullmatch(pattern.rstrip("$"), item):
                raise ValidationError(f"{name} must match {pattern}, got {item!r}", field=name)
    return body


def _region(body: dict[str, Any], settings: RestoreApiSettings) -> str:
    region = body.get("region", settings.region)
    if region not in settings.regions:
        raise ValidationError(
            f"region must be {settings.region} or {settings.dr_region}, got {region!r}", field="region"
        )
    return region


def _check_subnet_allowed(subnet_id: str | None, settings: RestoreApiSettings) -> None:
    if subnet_id is not None and settings.allowed_subnet_ids and subnet_id not in settings.allowed_subnet_ids:
        raise ValidationError(f"subnet_id {subnet_id!r} is not allowed for restores", field="subnet_id")


def _apply_rules(body: dict[str, Any], settings: RestoreApiSettings) -> RestoreRequest:
    region = _region(body, settings)
    launch = body.get("launch_instance", False)
    subnet_id = body.get("subnet_id")
    availability_zone = body.get("availability_zone")
    if launch:
        for required in ("ami_id", "subnet_id"):
            if required not in body:
                raise ValidationError(f"{required} is required when launch_instance is true", field=required)
    else:
        for launch_only in LAUNCH_ONLY_FIELDS:
            if launch_only in body:
                raise ValidationError(
                    f"{launch_only} is only valid with launch_instance true", field=launch_only
                )
        if subnet_id is None and availability_zone is None:
            raise ValidationError(
                "availability_zone (or subnet_id) is required when launch_instance is not true",
                field="availability_zone",
            )
    instance_type = body.get("instance_type", DEFAULT_INSTANCE_TYPE) if launch else None
    if instance_type is not None and instance_type not in settings.allowed_instance_types:
        raise ValidationError(
            f"instance_type {instance_type!r} is not allowed; allowed: "
            f"{', '.join(settings.allowed_instance_types)}",
            field="instance_type",
        )
    _check_subnet_allowed(subnet_id, settings)
    if availability_zone is not None and availability_zone[:-1] != region:
        raise ValidationError(
            f"availability_zone {availability_zone!r} is not in region {region}", field="availability_zone"
        )
    return RestoreRequest(
        snapshot_id=body["snapshot_id"],
        region=region,
        launch_instance=launch,
        ami_id=body.get("ami_id"),
        subnet_id=subnet_id,
        instance_type=instance_type,
        availability_zone=availability_zone,
        device_name=body.get("device_name", DEFAULT_DEVICE_NAME),
        volume_type=body.get("volume_type", DEFAULT_VOLUME_TYPE),
        keep_on_failure=body.get("keep_on_failure", False),
    )


def _apply_instance_rules(body: dict[str, Any], settings: RestoreApiSettings) -> InstanceRestoreRequest:
    """What can be decided without AWS. The instance type allowlist waits for the pre-checks: the recorded
    type is always allowed, and only the recovery point tells which type that is."""
    subnet_id = body.get("subnet_id")
    _check_subnet_allowed(subnet_id, settings)
    groups = body.get("security_group_ids")
    return InstanceRestoreRequest(
        instance_id=body["instance_id"],
        region=_region(body, settings),
        backup_set_id=body.get("backup_set_id"),
        subnet_id=subnet_id,
        security_group_ids=tuple(groups) if groups is not None else None,
        instance_type=body.get("instance_type"),
        ami_id=body.get("ami_id"),
        keep_on_failure=body.get("keep_on_failure", False),
    )


AnyRestoreRequest = RestoreRequest | InstanceRestoreRequest


def parse_restore_request(body: str | bytes | None, settings: RestoreApiSettings) -> AnyRestoreRequest:
    """Parse and validate a `POST /restore` body: a RestoreRequest (volume form) or an
    InstanceRestoreRequest (full-instance form). Raises ValidationError naming the offending field."""
    parsed = parse_json_body(body)
    validate_against_schema(parsed)
    if form_of(parsed) == INSTANCE_FORM:
        return _apply_instance_rules(parsed, settings)
    return _apply_rules(parsed, settings)
