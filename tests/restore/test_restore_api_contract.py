"""The restore API answers as `openapi.yaml` describes it: schemathesis generates requests from the document
(valid and invalid ones) and checks every answer's status, content type, headers and body against it.

The handler is put behind a tiny WSGI adapter that turns each HTTP request into an API Gateway REST proxy
event (built from the recorded sample event), as API Gateway would.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smart_vault import restore_api
from support.restore_world import FakeLambdaContext, api_event, setup_world

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
INVOKE_ARN = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:api/invocations"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def world(moto_aws, monkeypatch):
    built = setup_world(monkeypatch)
    # GET /drills answers from a results table with one drill in it (without the table: 404 NotConfigured).
    from support.drill_world import RESULTS_TABLE, create_results_table

    create_results_table()
    monkeypatch.setenv("DRILL_RESULTS_TABLE", RESULTS_TABLE)
    return built


def restore_api_as_wsgi(environ, start_response):
    """One HTTP request -> one API Gateway proxy event -> the handler's answer as HTTP."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {
        name[5:].replace("_", "-").title(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    try:
        text = body.decode("utf-8")
        event = api_event(
            environ["REQUEST_METHOD"], environ["PATH_INFO"], headers=headers, raw_body=text or None
        )
    except UnicodeDecodeError:
        event = api_event(environ["REQUEST_METHOD"], environ["PATH_INFO"], headers=headers, base64_body=body)
    answer = restore_api.handler(event, FakeLambdaContext())
    status = HTTPStatus(answer["statusCode"])
    payload = (
        answer["body"].encode() if not answer.get("isBase64Encoded") else base64.b64decode(answer["body"])
    )
    response_headers = dict(answer.get("headers") or {})
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        response_headers.setdefault(name, values[0])
    start_response(f"{status.value} {status.phrase}", list(response_headers.items()))
    return [payload]


def load_schema():
    document = yaml.safe_load(OPENAPI_PATH.read_text().replace("${restore_api_invoke_arn}", INVOKE_ARN))
    schema = schemathesis.openapi.from_dict(document)
    schema.app = restore_api_as_wsgi
    return schema


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_conforms_to_the_openapi_document(world, mode):
    operations = [result.ok() for result in load_schema().get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/restore"),
        ("GET", "/restore/{restore_id}"),
        ("GET", "/recovery-points"),
        ("GET", "/drills"),
    }
    for operation in operations:

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers_as_described(case):
            response = case.call_and_validate(checks=CHECKS)
            if (
                mode is GenerationMode.NEGATIVE
                and case.body is not None
                and operation.method.upper() == "POST"
            ):
                assert response.status_code != 202, case.body

        answers_as_described()
