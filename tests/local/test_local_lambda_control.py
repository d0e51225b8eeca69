"""The local Lambda endpoint answers the AWS CLI's read calls in botocore's output shapes.

Each raw answer is checked against the operation's output shape in botocore's service model: every required
member present, every member known to the model, every value of the modelled type. The same calls then go
through a boto3 client, as `aws lambda ...` sends them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from smart_vault.local.lambda_endpoint import LambdaEndpoint
from smart_vault.local.lambda_service import (
    SRC_DIR,
    FunctionSpec,
    LambdaPermission,
    LambdaService,
)

MODEL = botocore.session.get_session().get_service_model("lambda")
TYPES = {
    "string": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "map": dict,
    "list": list,
    "structure": dict,
    "timestamp": str,
    "double": (int, float),
    "float": (int, float),
}


def shape_errors(shape, value, path="$"):
    """Where `value` breaks `shape` (a botocore Shape), as messages; [] when it conforms."""
    expected = TYPES[shape.type_name]
    if not isinstance(value, expected) or (
        shape.type_name in ("integer", "long") and isinstance(value, bool)
    ):
        return [f"{path}: {type(value).__name__} is not {shape.type_name}"]
    errors = []
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        errors.append(f"{path}: {value!r} is not one of {shape.enum}")
    if shape.type_name == "structure":
        members = {name: m for name, m in shape.members.items() if m.serialization.get("location") is None}
        errors += [f"{path}.{n}: required, missing" for n in shape.required_members if n not in value]
        errors += [f"{path}.{n}: not a member of {shape.name}" for n in value if n not in members]
        for name, item in value.items():
            if name in members:
                errors += shape_errors(members[name], item, f"{path}.{name}")
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            errors += shape_errors(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            errors += shape_errors(shape.key, key, f"{path}<key>") + shape_errors(
                shape.value, item, f"{path}.{key}"
            )
    return errors


@pytest.fixture
def service(tmp_path):
    lambdas = LambdaService(base_environment={"PYTHONPATH": SRC_DIR}, log_dir=tmp_path / "logs")
    endpoint = LambdaEndpoint(lambdas)
    lambdas.url = endpoint.start()
    permission = LambdaPermission(
        "AllowScheduleRule", "events.amazonaws.com", "arn:aws:events:eu-west-1:123456789012:rule/r"
    )
    lambdas.register(
        FunctionSpec(
            "fn-b", "eu-west-1", "m.handler", {"A": "1"}, role_name="role-b", tags={"ManagedBy": "smart-vault"},
            permissions=(permission,),
        )
    )  # fmt: skip
    lambdas.register(FunctionSpec("fn-a", "eu-west-1", "m.handler", {}))
    lambdas.register(FunctionSpec("fn-dr", "eu-central-1", "m.handler", {}))
    yield lambdas
    endpoint.stop()
    lambdas.shutdown()


@pytest.fixture
def client(service):
    """boto3's Lambda client of the endpoint, as a user's code would make it."""
    return boto3.client(
        "lambda",
        region_name="eu-west-1",
        endpoint_url=service.url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )


def raw_get(service, path):
    """The endpoint's answer as bytes on the wire (status, JSON body, error type header)."""
    request = urllib.request.Request(service.url + path)
    request.add_header(
        "Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/eu-west-1/lambda/aws4_request"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("x-amzn-ErrorType")


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        ("ListFunctions", "/2015-03-31/functions/"),
        ("GetFunction", "/2015-03-31/functions/fn-b"),
        ("GetFunctionConfiguration", "/2015-03-31/functions/fn-b/configuration"),
        ("GetPolicy", "/2015-03-31/functions/fn-b/policy"),
        ("ListTags", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Afn-b"),
    ],
)
def test_each_read_answer_conforms_to_botocores_output_shape(service, operation, path):
    status, body, _ = raw_get(service, path)

    assert status == 200
    assert shape_errors(MODEL.operation_model(operation).output_shape, body) == []


def test_the_shape_check_finds_a_wrong_answer():
    shape = MODEL.operation_model("GetFunctionConfiguration").output_shape
    assert shape_errors(shape, {"FunctionName": 3, "Bogus": 1, "Timeout": "9"}) == [
        "$.Bogus: not a member of FunctionConfiguration",
        "$.FunctionName: int is not string",
        "$.Timeout: str is not integer",
    ]


def test_boto3_lists_gets_and_reads_the_policy_and_tags(client):

    listed = [
        f["FunctionName"]
        for page in client.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    ]
    function = client.get_function(FunctionName="fn-b")
    configuration = client.get_function_configuration(FunctionName="fn-b")
    configuration.pop("ResponseMetadata")
    policy = json.loads(client.get_policy(FunctionName="fn-b")["Policy"])
    tags = client.list_tags(Resource=configuration["FunctionArn"])["Tags"]

    assert listed == ["fn-a", "fn-b"]  # this region's only, by name
    assert function["Configuration"] == configuration
    assert configuration["Role"] == "arn:aws:iam::123456789012:role/role-b"
    assert configuration["Environment"]["Variables"] == {"A": "1"}
    assert configuration["Handler"] == "m.handler" and configuration["Runtime"] == "python3.12"
    assert function["Tags"] == tags == {"ManagedBy": "smart-vault"}
    assert policy["Statement"][0]["Sid"] == "AllowScheduleRule"
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}


def test_list_functions_pages_with_marker(client):
    first = client.list_functions(MaxItems=1)
    second = client.list_functions(MaxItems=1, Marker=first["NextMarker"])

    assert [f["FunctionName"] for f in first["Functions"]] == ["fn-a"]
    assert [f["FunctionName"] for f in second["Functions"]] == ["fn-b"] and "NextMarker" not in second


def test_unknown_function_and_missing_policy_are_resource_not_found(client):
    with pytest.raises(ClientError) as unknown:
        client.get_function(FunctionName="nope")
    with pytest.raises(ClientError) as no_policy:
        client.get_policy(FunctionName="fn-a")

    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert no_policy.value.response["Error"]["Code"] == "ResourceNotFoundException"
