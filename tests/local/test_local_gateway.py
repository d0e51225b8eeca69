"""The local API Gateway: routing, the API-key check against the emulated API Gateway, the proxy event."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from smart_vault.cli.main import build_parser
from smart_vault.local.edge import EdgeRule, check_request, edge_rules
from smart_vault.local.emulator import Emulator
from smart_vault.local.gateway import (
    INVALID_API_KEY,
    Gateway,
    GatewayEndpoint,
    Route,
    build_proxy_event,
    render_gateway_error,
    select_route,
)
from smart_vault.local.lambda_service import SRC_DIR, FunctionSpec, LambdaService
from smart_vault.local.provision import (
    api_key_operations,
    api_key_value,
    deploy_with_key,
    import_rest_api,
    invoke_arn,
    render_openapi,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = str(Path(__file__).parent)
VALID_BODY = {"snapshot_id": "snap-0123456789abcdef0", "availability_zone": "eu-west-1a"}
ROUTES = [
    Route("/restore", "POST", True, "arn:fn"),
    Route("/restore/{restore_id}", "GET", True, "arn:fn"),
    Route("/restore/latest", "GET", False, "arn:other"),
    Route("/files/{path+}", "ANY", False, None),
]


def test_select_route_prefers_literals_and_extracts_parameters():
    assert select_route(ROUTES, "GET", "/restore/abc")[1] == {"restore_id": "abc"}
    assert select_route(ROUTES, "GET", "/restore/latest")[0].function_arn == "arn:other"
    assert select_route(ROUTES, "DELETE", "/files/a/b/c")[1] == {"path": "a/b/c"}
    assert select_route(ROUTES, "GET", "/restore") is None  # only POST is defined there
    assert select_route(ROUTES, "GET", "/restore/abc/extra") is None


def test_proxy_event_has_the_rest_v1_shape():
    event = build_proxy_event(
        route=ROUTES[1],
        path_parameters={"restore_id": "abc"},
        method="GET",
        path="/restore/abc",
        query="a=1&a=2&b=",
        headers=[("Host", "127.0.0.1:9"), ("x-api-key", "k"), ("Accept", "a"), ("Accept", "b")],
        body=b"",
        api_id="api1",
        stage="v1",
        source_ip="127.0.0.1",
        api_key_id="key1",
        api_key="k",
        request_id="req-1",
        now=1_700_000_000.0,
    )
    assert event["resource"] == "/restore/{restore_id}" and event["path"] == "/restore/abc"
    assert event["pathParameters"] == {"restore_id": "abc"}
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"] and event["headers"]["Accept"] == "b"
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (
        context["stage"] == "v1" and context["path"] == "/v1/restore/abc" and context["requestId"] == "req-1"
    )
    assert context["identity"]["apiKeyId"] == "key1" and context["requestTimeEpoch"] == 1_700_000_000_000


def test_gateway_error_uses_the_apis_gateway_response_template():
    responses = {
        "DEFAULT_5XX": {"responseTemplates": {"application/json": '{"request_id":"$context.requestId"}'}},
        "INVALID_API_KEY": {
            "statusCode": "403",
            "responseTemplates": {"application/json": '{"message":$context.error.messageString}'},
        },
    }
    forbidden = render_gateway_error(INVALID_API_KEY, responses, "r1")
    bare = render_gateway_error(INVALID_API_KEY, {}, "r1")
    assert forbidden.status == 403 and json.loads(forbidden.body) == {"message": "Forbidden"}
    assert bare.status == 403 and json.loads(bare.body) == {"message": "Forbidden"}
    failure = render_gateway_error(("INTEGRATION_FAILURE", 502, "x"), responses, "r2")
    assert failure.status == 502 and json.loads(failure.body) == {"request_id": "r2"}


def test_generated_api_keys_are_40_letters_and_digits_as_api_gateway_makes_them():
    # A key beginning with "-" was taken for an option by `smart-vault drills --api-key KEY`.
    keys = [api_key_value() for _ in range(500)]
    assert all(len(key) == 40 and key.isascii() and key.isalnum() for key in keys)
    assert len(set(keys)) == 500
    parsed = build_parser().parse_args(["drills", "--api-key", keys[0]])
    assert parsed.api_key == keys[0]


def test_api_key_operations_follow_the_openapi_security():
    document = render_openapi((REPO_ROOT / "openapi.yaml").read_text(), "arn:x")
    assert sorted(api_key_operations(document)) == [
        ("/drills", "GET"),
        ("/recovery-points", "GET"),
        ("/restore", "POST"),
        ("/restore/{restore_id}", "GET"),
    ]


@pytest.fixture(scope="module")
def served_api(tmp_path_factory):
    """The real openapi.yaml imported into moto, its integration pointing at a function that echoes its event."""
    emulator = Emulator()
    emulator.start()
    lambdas = LambdaService(
        base_environment={"PYTHONPATH": os.pathsep.join([SRC_DIR, FIXTURES_DIR])},
        log_dir=tmp_path_factory.mktemp("logs"),
    )
    echo = FunctionSpec("api", "eu-west-1", "lambda_fixtures.proxy", {})
    lambdas.register(echo)
    apigw = emulator.client("apigateway", "eu-west-1")
    document = render_openapi((REPO_ROOT / "openapi.yaml").read_text(), invoke_arn("eu-west-1", echo.arn))
    api_id = import_rest_api(apigw, document, "test-restore")
    key_value, key_id, _ = deploy_with_key(apigw, api_id, "test-restore")
    gateway = Gateway(
        apigw,
        api_id,
        "v1",
        lambda arn, payload: lambdas.invoke(lambdas.resolve(arn), payload),
        edge_rules(document),
    )
    endpoint = GatewayEndpoint(gateway)
    url = endpoint.start()
    yield {
        "url": url,
        "key": key_value,
        "key_id": key_id,
        "apigw": apigw,
        "api_id": api_id,
        "lambdas": lambdas,
    }
    endpoint.stop()
    lambdas.shutdown()
    emulator.stop()


def test_valid_key_reaches_the_function_with_a_proxy_event(served_api):
    answer = requests.get(
        f"{served_api['url']}/restore/abc?x=1", headers={"x-api-key": served_api["key"]}, timeout=30
    )
    assert answer.status_code == 201 and answer.headers["X-Seen-Resource"] == "/restore/{restore_id}"
    event = answer.json()
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"restore_id": "abc"}
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["identity"]["apiKeyId"] == served_api["key_id"]
    assert event["requestContext"]["apiId"] == served_api["api_id"]


def test_post_body_is_passed_through(served_api):
    answer = requests.post(
        f"{served_api['url']}/restore", headers={"x-api-key": served_api["key"]}, json=VALID_BODY, timeout=30
    )
    assert answer.status_code == 201 and json.loads(answer.json()["body"]) == VALID_BODY


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}])
def test_missing_or_wrong_key_is_forbidden(served_api, headers):
    answer = requests.post(f"{served_api['url']}/restore", headers=headers, json={}, timeout=30)
    assert answer.status_code == 403 and answer.json() == {"message": "Forbidden"}
    assert answer.headers["Content-Type"] == "application/json"


def test_key_outside_the_usage_plan_or_disabled_is_forbidden(served_api):
    apigw = served_api["apigw"]
    apigw.create_api_key(name="stray", enabled=True, value="stray-key-value-0123456789")
    disabled = apigw.create_api_key(name="off", enabled=False, value="disabled-key-value-0123456789")
    plans = apigw.get_usage_plans()["items"]
    apigw.create_usage_plan_key(usagePlanId=plans[0]["id"], keyId=disabled["id"], keyType="API_KEY")

    for key in ("stray-key-value-0123456789", "disabled-key-value-0123456789"):
        answer = requests.get(f"{served_api['url']}/restore/abc", headers={"x-api-key": key}, timeout=30)
        assert answer.status_code == 403 and answer.json() == {"message": "Forbidden"}


def test_unknown_resource_or_stage_is_missing_authentication_token(served_api):
    base = served_api["url"].rsplit("/", 1)[0]
    for url in (f"{served_api['url']}/nothing", f"{base}/v2/restore", f"{served_api['url']}/restore/a/b"):
        answer = requests.get(url, headers={"x-api-key": served_api["key"]}, timeout=30)
        assert answer.status_code == 403 and answer.json() == {"message": "Missing Authentication Token"}


def test_broken_function_answer_is_a_502_shaped_by_the_apis_gateway_responses(served_api):
    lambdas = served_api["lambdas"]
    lambdas.register(FunctionSpec("api", "eu-west-1", "lambda_fixtures.bad_proxy", {}))
    try:
        answer = requests.get(
            f"{served_api['url']}/restore/abc", headers={"x-api-key": served_api["key"]}, timeout=30
        )
    finally:
        lambdas.register(FunctionSpec("api", "eu-west-1", "lambda_fixtures.proxy", {}))
    assert answer.status_code == 502
    body = answer.json()
    assert body["error"] == "InternalError" and body["request_id"] == answer.headers["x-amzn-RequestId"]


def test_edge_rules_follow_the_openapi_validators():
    document = render_openapi((REPO_ROOT / "openapi.yaml").read_text(), "arn:x")
    rules = edge_rules(document)
    post, get = rules[("/restore", "POST")], rules[("/restore/{restore_id}", "GET")]
    assert post.validate_body
    forms = post.body_schema["oneOf"]  # the volume form and the full-instance form
    assert [form["required"] for form in forms] == [["snapshot_id"], ["instance_id"]]
    assert all(form["additionalProperties"] is False for form in forms)
    assert get.validate_parameters and not get.validate_body


def test_check_request_body_and_parameters():
    body_rule = EdgeRule(
        True, True, {"type": "object", "required": ["a"], "properties": {"a": {"type": "boolean"}}}
    )
    param_rule = EdgeRule(False, True, None, required_headers=("Idempotency-Key",), required_query=("q",))
    assert check_request(body_rule, {}, {}, b'{"a": true}') is None
    assert check_request(body_rule, {"Content-Type": "text/plain"}, {}, b"nonsense") is None
    error, detail = check_request(body_rule, {}, {}, b'{"a": "true"}')
    assert (
        error == ("BAD_REQUEST_BODY", 400, "Invalid request body")
        and "'true' is not of type 'boolean'" in detail
    )
    assert check_request(body_rule, {}, {}, b"{not json")[1] == "[Invalid JSON in request body]"
    error, detail = check_request(param_rule, {"idempotency-key": "k"}, {}, b"")
    assert error[0] == "BAD_REQUEST_PARAMETERS" and detail == "Missing required request parameters: [q]"
    assert check_request(param_rule, {"Idempotency-Key": "k"}, {"q": ["1"]}, b"") is None


def test_a_body_that_breaks_the_model_is_answered_at_the_edge(served_api):
    answer = requests.post(
        f"{served_api['url']}/restore",
        headers={"x-api-key": served_api["key"]},
        json={"snapshot_id": "snap-0123456789abcdef0", "launch_instance": "yes"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": "ValidationError", "message": "Invalid request body", "field": None}
    assert answer.headers["x-amzn-ErrorType"] == "BAD_REQUEST_BODY"
