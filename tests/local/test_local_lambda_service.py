"""The local Lambda service, driven through its Invoke API with boto3, as the functions themselves do."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from smart_vault.local.lambda_endpoint import LambdaEndpoint
from smart_vault.local.lambda_service import SRC_DIR, FunctionSpec, LambdaService

FIXTURES_DIR = str(Path(__file__).parent)


@pytest.fixture
def service(tmp_path):
    lambdas = LambdaService(
        base_environment={
            "PYTHONPATH": os.pathsep.join([SRC_DIR, FIXTURES_DIR]),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        log_dir=tmp_path / "logs",
    )
    endpoint = LambdaEndpoint(lambdas)
    url = endpoint.start()
    lambdas.base_environment = {**lambdas.base_environment, "AWS_ENDPOINT_URL_LAMBDA": url}
    lambdas.url = url
    yield lambdas
    endpoint.stop()
    lambdas.shutdown()


def lambda_client(service, region="eu-west-1"):
    return boto3.client("lambda", region_name=region, endpoint_url=service.url)


def test_request_response_returns_the_payload_with_context_and_the_functions_own_environment(service):
    service.register(
        FunctionSpec("echo-a", "eu-west-1", "lambda_fixtures.echo", {"SETTING": "a"}, memory_mb=512)
    )
    service.register(
        FunctionSpec("echo-b", "eu-central-1", "lambda_fixtures.echo", {"SETTING": "b"}, timeout_seconds=9)
    )

    answer_a = lambda_client(service).invoke(FunctionName="echo-a", Payload=b'{"n": 1}')
    answer_b = lambda_client(service, "eu-central-1").invoke(FunctionName="echo-b", Payload=b'{"n": 2}')

    assert answer_a["StatusCode"] == 200 and "FunctionError" not in answer_a
    a = json.loads(answer_a["Payload"].read())
    b = json.loads(answer_b["Payload"].read())
    assert a["event"] == {"n": 1} and b["event"] == {"n": 2}
    assert a["env"] == {"AWS_REGION": "eu-west-1", "SETTING": "a", "AWS_LAMBDA_FUNCTION_NAME": "echo-a"}
    assert b["env"] == {"AWS_REGION": "eu-central-1", "SETTING": "b", "AWS_LAMBDA_FUNCTION_NAME": "echo-b"}
    assert a["context"]["invoked_function_arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:echo-a"
    assert a["context"]["function_name"] == "echo-a" and a["context"]["memory_limit_in_mb"] == 512
    assert len(a["context"]["aws_request_id"]) == 36
    assert 0 < b["context"]["remaining_ms"] <= 9000


def test_function_is_found_by_arn_and_its_prints_go_to_the_log_not_the_payload(service):
    service.register(FunctionSpec("echo", "eu-west-1", "lambda_fixtures.echo", {}))
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:echo"

    answer = lambda_client(service).invoke(FunctionName=arn, Payload=b"{}", LogType="Tail")

    assert json.loads(answer["Payload"].read())["context"]["function_name"] == "echo"
    assert "goes to the function log" in base64.b64decode(answer["LogResult"]).decode()
    assert "goes to the function log" in service.log_path("echo").read_text()


def test_handler_exception_is_an_unhandled_function_error(service):
    service.register(FunctionSpec("fail", "eu-west-1", "lambda_fixtures.fail", {}))

    answer = lambda_client(service).invoke(FunctionName="fail", Payload=b'{"why": "testing"}')

    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "RuntimeError" and error["errorMessage"] == "boom: testing"


def test_timeout_is_reported_like_lambda(service):
    service.register(FunctionSpec("slow", "eu-west-1", "lambda_fixtures.sleep", {}, timeout_seconds=1))

    answer = lambda_client(service).invoke(FunctionName="slow", Payload=b'{"seconds": 5}')

    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled" and error["errorType"] == "Sandbox.Timedout"


def test_unknown_function_or_region_is_resource_not_found(service):
    service.register(FunctionSpec("echo", "eu-west-1", "lambda_fixtures.echo", {}))

    with pytest.raises(ClientError) as missing:
        lambda_client(service).invoke(FunctionName="nope", Payload=b"{}")
    with pytest.raises(ClientError) as other_region:
        lambda_client(service, "eu-central-1").invoke(FunctionName="echo", Payload=b"{}")

    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert other_region.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_event_invocation_answers_202_at_once_and_runs_in_the_background(service, tmp_path):
    service.register(FunctionSpec("record", "eu-central-1", "lambda_fixtures.record", {}))
    service.register(FunctionSpec("caller", "eu-central-1", "lambda_fixtures.invoke_async", {}))
    marker = tmp_path / "ran.json"

    started = time.monotonic()
    answer = lambda_client(service, "eu-central-1").invoke(
        FunctionName="caller",
        Payload=json.dumps({"target": "record", "payload": {"path": str(marker)}}).encode(),
    )

    assert json.loads(answer["Payload"].read()) == 202  # the function's own lambda:Invoke was accepted
    assert service.wait_idle(timeout=30)
    assert json.loads(marker.read_text()) == {"event": {"path": str(marker)}, "region": "eu-central-1"}
    assert time.monotonic() - started < 30


def test_dry_run_and_bad_payload(service):
    service.register(FunctionSpec("echo", "eu-west-1", "lambda_fixtures.echo", {}))

    dry = lambda_client(service).invoke(FunctionName="echo", InvocationType="DryRun")
    with pytest.raises(ClientError) as bad:
        lambda_client(service).invoke(FunctionName="echo", Payload=b"{not json")

    assert dry["StatusCode"] == 204
    assert bad.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_environments_stay_warm_and_a_redeploy_or_crash_replaces_them(service):
    service.register(FunctionSpec("count", "eu-west-1", "lambda_fixtures.count", {}))
    client = lambda_client(service)

    first = json.loads(client.invoke(FunctionName="count")["Payload"].read())
    second = json.loads(client.invoke(FunctionName="count")["Payload"].read())
    service.register(FunctionSpec("count", "eu-west-1", "lambda_fixtures.count", {"V": "2"}))
    redeployed = json.loads(client.invoke(FunctionName="count")["Payload"].read())

    assert second == {"pid": first["pid"], "invocations": 2}
    assert redeployed["invocations"] == 1 and redeployed["pid"] != first["pid"]


def test_a_crashing_runtime_is_an_error_and_the_next_invocation_gets_a_fresh_environment(service):
    service.register(FunctionSpec("crash", "eu-west-1", "lambda_fixtures.crash", {}))
    service.register(FunctionSpec("count", "eu-west-1", "lambda_fixtures.count", {}))

    crashed = lambda_client(service).invoke(FunctionName="crash")
    after = lambda_client(service).invoke(FunctionName="count")

    assert crashed["FunctionError"] == "Unhandled"
    assert json.loads(crashed["Payload"].read())["errorType"] == "Runtime.ExitError"
    assert json.loads(after["Payload"].read())["invocations"] == 1
