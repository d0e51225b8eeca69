"""openapi.yaml: valid OpenAPI 3.0, importable by API Gateway through Terraform, one schema with the Lambda."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fastjsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from smart_vault.restore.jobs import PUBLIC_FIELDS
from smart_vault.restore.request import request_schema

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
PLACEHOLDER = "${restore_api_invoke_arn}"
INVOKE_ARN = (
    "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:eu-west-1:123456789012:function:smart-vault-restore-api/invocations"
)
# Keywords API Gateway's draft-4 models do not know (draft 6+), or that OpenAPI 3.0 adds.
NOT_DRAFT_4 = {"if", "then", "else", "const", "contains", "propertyNames", "examples", "$id", "nullable"}


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text().replace(PLACEHOLDER, INVOKE_ARN))


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_0(document):
    assert document["openapi"].startswith("3.0.")
    validate(document)  # raises on any violation


def test_the_invoke_arn_placeholder_is_the_only_terraform_template_sequence():
    text = OPENAPI_PATH.read_text()
    assert text.count("${") == text.count(PLACEHOLDER) == 3
    # `%{` starts a Terraform template directive: it must not occur either.
    assert "%{" not in text


def test_every_operation_is_a_lambda_proxy_integration_behind_the_api_key(document):
    operations = list(_operations(document))
    assert {(path, method) for path, method, _ in operations} == {
        ("/restore", "post"),
        ("/restore/{restore_id}", "get"),
        ("/recovery-points", "get"),
    }
    for _, _, operation in operations:
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["httpMethod"] == "POST"
        assert integration["uri"] == INVOKE_ARN
        assert operation["security"] == [{"api_key": []}]
        assert (
            operation["x-amazon-apigateway-request-validator"]
            in document["x-amazon-apigateway-request-validators"]
        )
    assert document["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert document["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }


def test_the_post_body_is_validated_at_the_edge(document):
    post = document["paths"]["/restore"]["post"]
    validator = document["x-amazon-apigateway-request-validators"][
        post["x-amazon-apigateway-request-validator"]
    ]
    assert validator["validateRequestBody"] is True
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RestoreRequest"
    }


def test_the_openapi_request_schema_is_the_packaged_json_schema(document):
    packaged = dict(request_schema())
    assert packaged.pop("$schema") == "http://json-schema.org/draft-04/schema#"
    assert document["components"]["schemas"]["RestoreRequest"] == packaged


def _keywords(schema: dict) -> set[str]:
    found = set(schema)
    children = [*schema.get("properties", {}).values(), *schema.get("oneOf", [])]
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    for child in children:
        found |= _keywords(child)
    return found


def test_the_request_schema_uses_draft_4_only():
    keywords = _keywords(request_schema())
    assert not keywords & NOT_DRAFT_4
    assert {"oneOf", "items", "uniqueItems"} <= keywords  # the walk reaches both forms and the array
    fastjsonschema.compile(request_schema())  # draft 4 per its $schema


def test_both_request_forms_close_their_fields(document):
    forms = document["components"]["schemas"]["RestoreRequest"]["oneOf"]
    assert [form["required"] for form in forms] == [["snapshot_id"], ["instance_id"]]
    assert all(form["additionalProperties"] is False for form in forms)
    # Exactly one form fits any body: each form's required field is unknown to the other.
    assert "instance_id" not in forms[0]["properties"] and "snapshot_id" not in forms[1]["properties"]


def test_the_job_schema_has_the_v2_fields(document):
    job = document["components"]["schemas"]["RestoreJob"]
    assert {"mode", "backup_set_id", "volume_ids", "image_id", "warnings"} <= set(job["required"])
    assert set(job["required"]) == set(PUBLIC_FIELDS)


def test_gateway_responses_answer_json(document):
    responses = document["x-amazon-apigateway-gateway-responses"]
    for name in ("BAD_REQUEST_BODY", "INVALID_API_KEY", "DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[name]["responseTemplates"]["application/json"]
        # Gateway variables are filled in by API Gateway; with placeholders filled the template is JSON.
        filled = template.replace("$context.error.messageString", '"msg"')
        filled = re.sub(r"\$context\.[A-Za-z.]+", "x", filled)
        json.loads(filled)
        assert (
            responses[name]["responseParameters"]["gatewayresponse.header.Content-Type"]
            == "'application/json'"
        )
    assert json.loads(responses["INVALID_API_KEY"]["responseTemplates"]["application/json"]) == {
        "message": "Forbidden"
    }
    assert responses["BAD_REQUEST_BODY"]["statusCode"] == "400"
    assert (
        '"error":"ValidationError"' in responses["BAD_REQUEST_BODY"]["responseTemplates"]["application/json"]
    )
    assert '"error":"InternalError"' in responses["DEFAULT_5XX"]["responseTemplates"]["application/json"]
