"""Property-based tests of the restore API: generated requests through the handler, answers checked against
the contract (oracle.py). Bodies come from the packaged JSON Schema (hypothesis-jsonschema) and from a
generator that mixes the world's real ids with wrong types, broken patterns and unknown fields."""

from __future__ import annotations

import json
import re
import uuid

import boto3
from gateway import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from oracle import FIELDS, allowed_statuses, allowed_statuses_for_text

from smart_vault.restore.request import INSTANCE_FORM, VOLUME_FORM, form_schema, request_schema
from support.restore_world import JOBS_TABLE, PRIMARY_REGION

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEADERS = [("content-type", "application/json"), ("x-api-key", API_KEY)]
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
ERRORS_BY_STATUS = {
    400: {"ValidationError"},
    404: {"SnapshotNotFound", "RecoveryPointNotFound"},
    409: {"Conflict"},
}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def schema_objects(schema: dict) -> st.SearchStrategy:
    """Objects valid against `schema`: hypothesis-jsonschema for every property value, assembled by the
    schema's own `required` and `properties` (with additionalProperties false, nothing else).

    hypothesis-jsonschema 0.23.1 (the latest) builds object strategies with a Hypothesis internal that
    Hypothesis 6.170 no longer has (`many.more`); its scalar strategies are unaffected. A `oneOf` of object
    forms is drawn form by form.
    """
    if "oneOf" in schema:
        return st.one_of(
            *(schema_objects({"$schema": schema["$schema"], **form}) for form in schema["oneOf"])
        )
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    values = {
        name: from_schema({**rule, "$schema": schema["$schema"]})
        for name, rule in schema["properties"].items()
    }
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {name: values[name] for name in required},
        optional={name: strategy for name, strategy in values.items() if name not in required},
    )


def _form_rule(name: str, form: int) -> dict:
    return {**form_schema(form)["properties"][name], "$schema": request_schema()["$schema"]}


def instance_bodies(world, facts) -> st.SearchStrategy:
    """Full-instance bodies: the world's instances, sets, subnets and groups, near misses, volume-form
    fields that do not belong, and schema-valid random values."""
    regions = facts.regions.values()
    subnets = sorted(set().union(*(set(r.subnets) for r in regions)))
    groups = st.lists(
        st.sampled_from([*world.security_group_ids, "sg-0123456789abcdef0"]),
        min_size=1,
        max_size=5,
        unique=True,
    )

    def pick(name, real):
        return st.one_of(real, real, from_schema(_form_rule(name, INSTANCE_FORM)), json_values)

    fields = {
        "backup_set_id": pick("backup_set_id", st.sampled_from(world.backup_set_ids)),
        "region": st.sampled_from([facts.primary_region, facts.dr_region, facts.dr_region, "us-east-1"]),
        "subnet_id": pick("subnet_id", st.sampled_from(subnets)),
        "security_group_ids": st.one_of(groups, groups, st.just([]), st.just(["sg-1"]), json_values),
        "instance_type": pick("instance_type", st.sampled_from(["t3.small", "t3.large", "p5.48xlarge"])),
        "ami_id": pick("ami_id", st.sampled_from(sorted(set().union(*(r.images for r in regions))))),
        "keep_on_failure": st.one_of(st.booleans(), json_values),
        "snapshot_id": st.just(world.snapshot_id),
        "device_name": st.just("/dev/sdf"),
        "unexpected": json_values,
    }
    instance_id = st.one_of(
        st.sampled_from(world.instance_ids),
        st.sampled_from(world.instance_ids),
        st.sampled_from([world.instance_ids[0] + "\n", "i-0ffffffffffffffff"]),
        from_schema(_form_rule("instance_id", INSTANCE_FORM)),
    )
    rare = {"snapshot_id", "device_name", "unexpected"}
    common = st.fixed_dictionaries(
        {"instance_id": instance_id}, optional={k: v for k, v in fields.items() if k not in rare}
    )
    odd = st.fixed_dictionaries({"instance_id": instance_id}, optional=fields)
    # Mostly-right requests, so that acceptances, the platform rule and incomplete points come up often.
    plausible = st.fixed_dictionaries(
        {
            "instance_id": st.sampled_from(world.instance_ids),
            "region": st.sampled_from([facts.primary_region, facts.dr_region]),
        },
        optional={
            "instance_type": st.sampled_from(["t3.small", "t3.large", "m7i.large"]),
            "ami_id": st.sampled_from(sorted(set().union(*(r.images for r in regions)))),
            "keep_on_failure": st.booleans(),
            "backup_set_id": st.sampled_from(world.backup_set_ids),
        },
    )
    return st.one_of(common, common, odd, plausible, plausible)


def field_strategies(world, facts) -> dict[str, st.SearchStrategy]:
    """Per field: the world's real values, schema-valid random values and near misses."""
    regions = facts.regions.values()
    real = {
        "snapshot_id": st.sampled_from(
            [world.snapshot_id, world.dr_snapshot_id, world.unmanaged_snapshot_id]
        ),
        "region": st.sampled_from([facts.primary_region, facts.dr_region, "us-east-1", "EU-WEST-1"]),
        "launch_instance": st.booleans(),
        "ami_id": st.sampled_from(sorted(set().union(*(r.images for r in regions)))),
        "subnet_id": st.sampled_from(sorted(set().union(*(set(r.subnets) for r in regions)))),
        "instance_type": st.sampled_from([*sorted(facts.allowed_instance_types), "p5.48xlarge", "t3.micro "]),
        "availability_zone": st.sampled_from(
            [*sorted(set().union(*(r.zones for r in regions))), "eu-west-1z", "eu-west-1"]
        ),
        "device_name": st.sampled_from(["/dev/sdf", "/dev/xvdp", "/dev/sdq", "/dev/sdf\n", "/dev/sda1"]),
        "volume_type": st.sampled_from(["gp3", "io2", "sc1", "GP3", "gp4"]),
        "keep_on_failure": st.booleans(),
    }
    near_miss = {
        "snapshot_id": st.sampled_from(
            [world.snapshot_id + "\n", world.snapshot_id.upper(), " " + world.snapshot_id]
        ),
        "ami_id": st.just(world.primary.ami_id + "\n"),
        "subnet_id": st.just(world.primary.subnet_id.replace("subnet-", "subnet_")),
    }
    strategies = {}
    for name in FIELDS:
        options = [
            real[name],
            real[name],
            from_schema(_form_rule(name, VOLUME_FORM)),
            json_values,
        ]
        if name in near_miss:
            options.append(near_miss[name])
        strategies[name] = st.one_of(*options)
    return strategies


def bodies(world, facts) -> st.SearchStrategy:
    fields = field_strategies(world, facts)
    mixed = st.fixed_dictionaries(
        {}, optional={**fields, "unexpected": json_values, "Snapshot_Id": st.text(max_size=20)}
    )
    launch = st.fixed_dictionaries(
        {
            "snapshot_id": fields["snapshot_id"],
            "launch_instance": st.just(True),
            "ami_id": fields["ami_id"],
            "subnet_id": fields["subnet_id"],
        },
        optional={k: fields[k] for k in ("region", "instance_type", "availability_zone", "device_name")},
    )
    volume = st.fixed_dictionaries(
        {"snapshot_id": fields["snapshot_id"]},
        optional={
            k: fields[k]
            for k in ("region", "availability_zone", "subnet_id", "volume_type", "keep_on_failure")
        },
    )
    instance = instance_bodies(world, facts)
    return st.one_of(schema_objects(request_schema()), mixed, launch, volume, instance, instance, json_values)


def assert_answer_shape(answer) -> dict:
    assert answer.status < 500, answer.text
    assert answer.headers.get("Content-Type") == "application/json"
    document = answer.json()
    if answer.status == 202:
        assert set(document) == {"restore_id", "status", "status_url"}
        assert UUID.match(document["restore_id"]) and document["status"] == "PENDING"
        assert document["status_url"] == f"/restore/{document['restore_id']}"
        assert answer.headers["Location"].endswith(document["status_url"])
    elif answer.status in ERRORS_BY_STATUS:
        assert document["error"] in ERRORS_BY_STATUS[answer.status]
        assert isinstance(document["message"], str) and document["message"]
        if answer.status == 400:
            assert document["field"] is None or isinstance(document["field"], str)
    return document


def assert_side_effects(world, answer, document, invocations_before: int) -> None:
    """A 202 started exactly one worker on a PENDING job; anything else started nothing."""
    invocations = world.lambda_client.payloads()
    if answer.status != 202:
        assert len(invocations) == invocations_before, "a rejected request started a worker"
        return
    assert invocations[invocations_before:] == [{"restore_id": document["restore_id"]}]
    item = boto3.client("dynamodb", PRIMARY_REGION).get_item(
        TableName=JOBS_TABLE, Key={"restore_id": {"S": document["restore_id"]}}
    )["Item"]
    assert item["status"]["S"] == "PENDING"


def test_post_bodies_get_the_answer_the_contract_allows(fuzz_world, gateway):
    world, facts = fuzz_world

    @settings(FUZZ, max_examples=2000)
    @given(body=bodies(world, facts))
    def check(body):
        before = len(world.lambda_client.invocations)
        answer = gateway.request("POST", "/restore", headers=HEADERS, body=json.dumps(body).encode())
        document = assert_answer_shape(answer)
        assert answer.status in allowed_statuses(body, facts), (body, answer.status, document)
        assert_side_effects(world, answer, document, before)

    check()


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"",
            b"   ",
            b"null",
            b'{"snapshot_id": NaN}',
            b'{"snapshot_id": "snap-0123456789abcdef0", "snapshot_id": "snap-0123456789abcdef1"}',
            b'{"snapshot_id": "snap-0123456789abcdef0"',
            b"\xff\xfe{}",
            b"[" * 5000,
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            b'{"snapshot_id": "snap-0123456789abcdef0", "availability_zone": "eu-west-1a"}' + b" " * 9000,
        ]
    ),
)


def test_raw_bodies_never_cause_a_server_error_or_an_unlawful_acceptance(fuzz_world, gateway):
    world, facts = fuzz_world

    @settings(FUZZ, max_examples=1000)
    @given(raw=raw_bodies, base64_flag=st.booleans())
    def check(raw, base64_flag):
        before = len(world.lambda_client.invocations)
        answer = gateway.request("POST", "/restore", headers=HEADERS, body=raw)
        document = assert_answer_shape(answer)
        allowed = allowed_statuses_for_text(raw, facts)
        if len(raw) > 8_192:
            allowed |= {400}  # the contract sets no size limit; refusing an oversized body is fair
        assert answer.status in allowed, (raw[:200], answer.status, document)
        assert_side_effects(world, answer, document, before)

    check()


def test_get_with_any_id_answers_200_400_or_404(fuzz_world, gateway):
    world, _ = fuzz_world
    accepted = gateway.request(
        "POST",
        "/restore",
        headers=HEADERS,
        body=json.dumps({"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone}).encode(),
    )
    known = accepted.json()["restore_id"]
    ids = st.one_of(
        st.just(known),
        st.just(known.upper()),
        st.uuids().map(str),
        st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1, max_size=80),
        st.from_regex(r"\A[0-9a-fA-F-]{30,40}\Z"),
    )

    @settings(FUZZ, max_examples=700)
    @given(restore_id=ids)
    def check(restore_id):
        answer = gateway.request("GET", f"/restore/{restore_id}", headers=HEADERS)
        assert answer.status < 500, answer.text
        assert answer.headers.get("Content-Type") == "application/json"
        document = answer.json()
        try:
            is_uuid = str(uuid.UUID(restore_id.strip())) == restore_id.strip().lower() and bool(
                UUID.match(restore_id.strip().lower())
            )
        except ValueError:
            is_uuid = False
        if restore_id.strip().lower() == known:
            assert answer.status == 200 and document["restore_id"] == known
        elif is_uuid:
            assert answer.status == 404 and document["error"] == "RestoreNotFound"
        else:
            assert answer.status in (400, 404)
            assert document["error"] in ("ValidationError", "RestoreNotFound")

    check()


DEFAULTS = {
    "region": PRIMARY_REGION,
    "launch_instance": False,
    "volume_type": "gp3",
    "keep_on_failure": False,
}


def with_defaults(body: dict) -> dict:
    return {**DEFAULTS, "device_name": "/dev/sdf", **body}


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(fuzz_world, gateway):
    world, facts = fuzz_world
    valid = {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone}
    other_bodies = st.fixed_dictionaries(
        {
            "snapshot_id": st.just(world.snapshot_id),
            "availability_zone": st.sampled_from(sorted(facts.regions[facts.primary_region].zones)),
        },
        optional={
            "volume_type": st.sampled_from(["gp2", "gp3", "io1", "st1"]),
            "keep_on_failure": st.booleans(),
        },
    )

    @settings(FUZZ, max_examples=300)
    @given(
        suffix=st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
        ),
        other=other_bodies,
    )
    def check(suffix, other):
        key = f"{uuid.uuid4()}-{suffix}"[:255]
        headers = [*HEADERS, ("Idempotency-Key", key)]
        before = len(world.lambda_client.invocations)
        first = gateway.request("POST", "/restore", headers=headers, body=json.dumps(valid).encode())
        again = gateway.request("POST", "/restore", headers=headers, body=json.dumps(valid).encode())
        changed = gateway.request("POST", "/restore", headers=headers, body=json.dumps(other).encode())
        assert first.status == again.status == 202, (first.text, again.text)
        assert again.json()["restore_id"] == first.json()["restore_id"]
        assert len(world.lambda_client.invocations) == before + 1
        if with_defaults(other) == with_defaults(valid):
            # The same request spelled with its defaults: replaying and refusing are both fair readings.
            assert changed.status in (202, 409)
            assert changed.status == 409 or changed.json() == first.json()
        else:
            assert changed.status == 409 and changed.json()["error"] == "Conflict", changed.text

    check()
