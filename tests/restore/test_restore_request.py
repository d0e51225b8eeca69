"""Pure validation of restore requests: the draft-4 schema plus the rules it cannot express."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart_vault.config import RestoreApiSettings
from smart_vault.errors import ValidationError
from smart_vault.restore.request import (
    MAX_BODY_BYTES,
    InstanceRestoreRequest,
    RestoreRequest,
    form_of,
    form_schema,
    parse_json_body,
    parse_restore_request,
    request_schema,
    validate_against_schema,
)
from support.restore_world import volume_request

SNAP = "snap-0123456789abcdef0"
AMI = "ami-0123456789abcdef0"
SUBNET = "subnet-0123456789abcdef0"
SETTINGS = RestoreApiSettings.from_env(
    {
        "AWS_REGION": "eu-west-1",
        "DR_REGION": "eu-central-1",
        "RESTORE_WORKER_FUNCTION": "worker",
        "RESTORE_JOBS_TABLE": "jobs",
        "IDEMPOTENCY_TABLE": "idempotency",
    }
)
VOLUME = {"snapshot_id": SNAP, "availability_zone": "eu-west-1a"}
LAUNCH = {"snapshot_id": SNAP, "launch_instance": True, "ami_id": AMI, "subnet_id": SUBNET}


def parse(body, settings=SETTINGS):
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return parse_restore_request(text, settings)


def rejected(body, settings=SETTINGS) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse(body, settings)
    return caught.value


def test_volume_only_request_gets_its_defaults():
    request = parse(VOLUME)
    assert request.to_dict() == volume_request(SNAP)


def test_launch_request_defaults_the_instance_type_and_leaves_the_zone_to_the_subnet():
    request = parse(LAUNCH)
    assert request.instance_type == "t3.micro"
    assert request.availability_zone is None
    assert request.launch_instance is True


def test_every_field_is_taken_as_given():
    body = {
        **LAUNCH,
        "region": "eu-central-1",
        "instance_type": "t3.large",
        "availability_zone": "eu-central-1b",
        "device_name": "/dev/xvdp",
        "volume_type": "io2",
        "keep_on_failure": True,
    }
    assert parse(body).to_dict() == body


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({**VOLUME, "launch_instance": "true"}, "launch_instance", "boolean"),
        ({**VOLUME, "keep_on_failure": "false"}, "keep_on_failure", "boolean"),
        ({**VOLUME, "keep_on_failure": 1}, "keep_on_failure", "boolean"),
        ({**VOLUME, "shoe_size": 43}, "shoe_size", "unknown field"),
        ({"availability_zone": "eu-west-1a"}, "snapshot_id", "missing"),
        ({"snapshot_id": "snap-XYZ", "availability_zone": "eu-west-1a"}, "snapshot_id", "must match"),
        ({"snapshot_id": SNAP + "\n", "availability_zone": "eu-west-1a"}, "snapshot_id", "must match"),
        ({"snapshot_id": 12345678, "availability_zone": "eu-west-1a"}, "snapshot_id", "string"),
        ({**VOLUME, "volume_type": "gp9"}, "volume_type", "one of"),
        ({**VOLUME, "device_name": "/dev/sda"}, "device_name", "must match"),
        ({**VOLUME, "region": "us-east-1"}, "region", "eu-west-1 or eu-central-1"),
        ({"snapshot_id": SNAP, "availability_zone": "eu-central-1a"}, "availability_zone", "not in region"),
        ({"snapshot_id": SNAP}, "availability_zone", "required"),
        ({"snapshot_id": SNAP, "launch_instance": True, "subnet_id": SUBNET}, "ami_id", "required"),
        ({"snapshot_id": SNAP, "launch_instance": True, "ami_id": AMI}, "subnet_id", "required"),
        ({**VOLUME, "ami_id": AMI}, "ami_id", "launch_instance"),
        ({**LAUNCH, "instance_type": "p5.48xlarge"}, "instance_type", "not allowed"),
        ({**LAUNCH, "instance_type": "T3.MICRO"}, "instance_type", "must match"),
    ],
)
def test_invalid_requests_name_the_field(body, field, fragment):
    error = rejected(body)
    assert error.field == field
    assert fragment in error.message


def test_several_unknown_fields_are_all_named():
    error = rejected({"snapshot_id": SNAP, "zz": 1, "aa": 2})
    assert error.field == "aa"
    assert "aa, zz" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "not json",
        "{",
        "[1, 2]",
        "42",
        '"snap-0123456789abcdef0"',
        "null",
        "true",
        "NaN",
        '{"snapshot_id": NaN}',
        '{"snapshot_id": "snap-01234567", "snapshot_id": "snap-89abcdef"}',
    ],
)
def test_bodies_that_are_not_one_json_object_are_rejected_without_a_field(raw):
    error = rejected(raw)
    assert error.field is None


def test_non_utf8_bytes_are_rejected():
    assert rejected(b"\xff\xfe{}").field is None


def test_oversized_bodies_are_rejected_before_parsing():
    body = json.dumps({**VOLUME, "pad": "x" * MAX_BODY_BYTES})
    error = rejected(body)
    assert error.field is None and str(MAX_BODY_BYTES) in error.message


def test_allowed_subnets_are_enforced_when_configured():
    limited = RestoreApiSettings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "DR_REGION": "eu-central-1",
            "RESTORE_WORKER_FUNCTION": "worker",
            "RESTORE_JOBS_TABLE": "jobs",
            "IDEMPOTENCY_TABLE": "idempotency",
            "ALLOWED_SUBNET_IDS": "subnet-00000000aaaaaaaa1",
        }
    )
    assert rejected(LAUNCH, limited).field == "subnet_id"
    assert (
        parse({**LAUNCH, "subnet_id": "subnet-00000000aaaaaaaa1"}, limited).subnet_id
        == "subnet-00000000aaaaaaaa1"
    )


def test_parse_json_body_keeps_valid_json():
    assert parse_json_body(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


def _strategy(rule: dict) -> st.SearchStrategy:
    if "enum" in rule:
        return st.sampled_from(rule["enum"])
    if rule["type"] == "boolean":
        return st.booleans()
    if rule["type"] == "array":
        item = _strategy(rule["items"])
        return st.lists(item, min_size=rule["minItems"], max_size=rule["maxItems"], unique=True)
    return st.from_regex(rule["pattern"]).filter(lambda s: len(s) <= rule.get("maxLength", 10_000))


def bodies_of(schema: dict) -> st.SearchStrategy:
    """Objects the schema accepts, drawn from the schema itself (hypothesis-jsonschema's object support does not
    work with the pinned Hypothesis release): from each branch of its oneOf."""
    if "oneOf" in schema:
        return st.one_of(*(bodies_of(branch) for branch in schema["oneOf"]))
    properties = {name: _strategy(rule) for name, rule in schema["properties"].items()}
    required = {name: properties.pop(name) for name in schema["required"]}
    return st.fixed_dictionaries(required, optional=properties)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(bodies_of(request_schema()))
def test_everything_the_schema_accepts_passes_the_schema_stage(body):
    # hypothesis-jsonschema generates from the same draft-4 schema API Gateway uses at the edge; the Lambda's
    # schema stage agrees with it, except that a pattern's `$` must not let a trailing newline through. The
    # code rules may still refuse, with a ValidationError naming a field, never with a crash.
    try:
        assert validate_against_schema(body) is body
    except ValidationError as error:
        value = body[error.field]
        assert any(v.endswith("\n") for v in (value if isinstance(value, list) else [value]))
        return
    try:
        parse(body)
    except ValidationError as error:
        assert error.field in {*form_schema(form_of(body))["properties"], None}


# ------------------------------------------------------------------------------ the full-instance form

INSTANCE = "i-0123456789abcdef0"
BSET = "bset-0123456789abcdef0123"
SG = "sg-0123456789abcdef0"


def test_a_body_with_instance_id_is_a_full_instance_restore_with_every_default_left_open():
    request = parse({"instance_id": INSTANCE})
    assert request == InstanceRestoreRequest(instance_id=INSTANCE, region="eu-west-1")
    assert request.to_dict() == {
        "instance_id": INSTANCE,
        "region": "eu-west-1",
        "backup_set_id": None,
        "subnet_id": None,
        "security_group_ids": None,
        "instance_type": None,
        "ami_id": None,
        "keep_on_failure": False,
    }


def test_every_field_of_the_full_instance_form_is_kept():
    body = {
        "instance_id": INSTANCE,
        "backup_set_id": BSET,
        "region": "eu-central-1",
        "subnet_id": SUBNET,
        "security_group_ids": [SG, "sg-0123456789abcdef1"],
        "instance_type": "p5.48xlarge",  # the allowlist waits for the recorded type (pre-checks)
        "ami_id": AMI,
        "keep_on_failure": True,
    }
    request = parse(body)
    assert request.security_group_ids == (SG, "sg-0123456789abcdef1")
    assert request.to_dict() == body
    assert isinstance(parse(VOLUME), RestoreRequest)


@pytest.mark.parametrize(
    "field, value",
    [
        ("snapshot_id", SNAP),
        ("launch_instance", True),
        ("availability_zone", "eu-west-1a"),
        ("device_name", "/dev/sdf"),
        ("volume_type", "gp3"),
    ],
)
def test_volume_form_fields_in_an_instance_body_are_rejected_by_name(field, value):
    with pytest.raises(ValidationError) as caught:
        parse({"instance_id": INSTANCE, field: value})
    assert caught.value.field == field
    assert "full-instance restore" in caught.value.message


def test_an_unknown_field_in_an_instance_body_is_named():
    with pytest.raises(ValidationError) as caught:
        parse({"instance_id": INSTANCE, "key_name": "x"})
    assert (caught.value.field, caught.value.message) == ("key_name", "unknown field: key_name")


def test_a_body_with_neither_form_lacks_snapshot_id_and_says_so():
    with pytest.raises(ValidationError) as caught:
        parse({"region": "eu-west-1"})
    assert caught.value.field == "snapshot_id"
    assert "instance_id" in caught.value.message


@pytest.mark.parametrize(
    "body, field, fragment",
    [
        ({"instance_id": "i-123"}, "instance_id", "must match"),
        ({"instance_id": INSTANCE + "\n"}, "instance_id", "must match"),
        ({"instance_id": 7}, "instance_id", "must be a string, got number"),
        ({"instance_id": INSTANCE, "backup_set_id": "bset-xyz"}, "backup_set_id", "must match"),
        ({"instance_id": INSTANCE, "backup_set_id": BSET + "\n"}, "backup_set_id", "must match"),
        ({"instance_id": INSTANCE, "security_group_ids": SG}, "security_group_ids", "must be an array"),
        ({"instance_id": INSTANCE, "security_group_ids": []}, "security_group_ids", "at least 1 item"),
        ({"instance_id": INSTANCE, "security_group_ids": [SG] * 2}, "security_group_ids", "twice"),
        (
            {"instance_id": INSTANCE, "security_group_ids": [f"sg-0123456789abcdef{i}" for i in range(6)]},
            "security_group_ids",
            "at most 5",
        ),
        ({"instance_id": INSTANCE, "security_group_ids": ["sg-12"]}, "security_group_ids", "must match"),
        ({"instance_id": INSTANCE, "security_group_ids": [SG + "\n"]}, "security_group_ids", "must match"),
        ({"instance_id": INSTANCE, "security_group_ids": [5]}, "security_group_ids", "must be a string"),
        ({"instance_id": INSTANCE, "region": "us-east-1"}, "region", "must be eu-west-1 or eu-central-1"),
        ({"instance_id": INSTANCE, "keep_on_failure": "true"}, "keep_on_failure", "must be a boolean"),
        ({"instance_id": INSTANCE, "ami_id": "ami-zz"}, "ami_id", "must match"),
    ],
)
def test_instance_form_errors_name_their_field(body, field, fragment):
    with pytest.raises(ValidationError) as caught:
        parse(body)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_a_subnet_outside_the_allowlist_is_refused_in_the_instance_form_too():
    settings = RestoreApiSettings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "DR_REGION": "eu-central-1",
            "RESTORE_WORKER_FUNCTION": "worker",
            "RESTORE_JOBS_TABLE": "jobs",
            "IDEMPOTENCY_TABLE": "idempotency",
            "ALLOWED_SUBNET_IDS": "subnet-00000000000000000",
        }
    )
    with pytest.raises(ValidationError) as caught:
        parse({"instance_id": INSTANCE, "subnet_id": SUBNET}, settings)
    assert caught.value.field == "subnet_id"


def test_the_two_forms_are_exclusive_in_the_schema_itself():
    # The edge validates with the whole oneOf: a body must match exactly one branch.
    import fastjsonschema

    validate = fastjsonschema.compile(request_schema())
    validate({"instance_id": INSTANCE})
    validate({"snapshot_id": SNAP})
    for body in ({"instance_id": INSTANCE, "snapshot_id": SNAP}, {}, {"region": "eu-west-1"}):
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            validate(body)
    assert form_of({"instance_id": INSTANCE, "snapshot_id": SNAP}) == 1
    assert form_schema(1)["required"] == ["instance_id"]
