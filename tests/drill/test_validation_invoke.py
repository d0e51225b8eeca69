"""The drill's validation function is invoked synchronously: botocore must wait for it and never run it twice.

With the shared client settings (aws.CLIENT_CONFIG: 60 s read timeout, 10 attempts), a validation function
that runs longer than a minute is cut off and, a read timeout being retryable in botocore, invoked again: up to
ten runs of a probe, and a drill that fails although the first run passed (boto3 issue 1104). Shown here on a
local endpoint that answers Invoke more slowly than the client's read timeout, scaled down to half a second."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from smart_vault import aws
from smart_vault.drill import entry
from smart_vault.drill.validation import ValidationFailed, validate
from smart_vault.local.http_thread import ServerThread


class _SlowFunction(BaseHTTPRequestHandler):
    runs: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.runs.append(self.path)
        threading.Event().wait(1.0)  # the function still runs when the client's read timeout (0.5 s) ends
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"passed": true}')
        except OSError:
            pass  # the client has gone

    def log_message(self, *args: object) -> None:
        pass


def _runs_of_one_invoke(config: Config) -> int:
    _SlowFunction.runs = []
    endpoint = ServerThread(ThreadingHTTPServer(("127.0.0.1", 0), _SlowFunction), "slow-function")
    try:
        client = boto3.client(
            "lambda",
            region_name="eu-west-1",
            endpoint_url=endpoint.base_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config.merge(Config(read_timeout=0.5)),
        )
        with pytest.raises(ReadTimeoutError):
            client.invoke(FunctionName="check", InvocationType="RequestResponse", Payload=b"{}")
    finally:
        endpoint.stop()
    return len(_SlowFunction.runs)


def test_the_shared_client_settings_would_run_a_slow_validation_function_again():
    assert _runs_of_one_invoke(Config(retries={"mode": "standard", "total_max_attempts": 3})) == 3


def test_the_invoke_client_runs_it_once_and_waits_as_long_as_any_function_runs():
    assert _runs_of_one_invoke(aws.SYNCHRONOUS_INVOKE_CONFIG) == 1
    assert aws.SYNCHRONOUS_INVOKE_CONFIG.read_timeout > 900  # Lambda's longest function timeout


def test_the_drill_invokes_its_validation_function_with_that_client(monkeypatch):
    asked: list[tuple] = []

    def client(service, region=None, config=aws.CLIENT_CONFIG):
        asked.append((service, config))
        return SimpleNamespace()

    monkeypatch.setattr(aws, "client", client)
    monkeypatch.setattr(entry, "run_drills", lambda *_, **__: {"status": "ok", "overdue": []})
    monkeypatch.setattr(entry, "emit_metrics", lambda report: None)
    monkeypatch.setattr(entry, "send_notification", lambda *_: None)
    entry.handle(
        {}, SimpleNamespace(aws_request_id="r"), SimpleNamespace(region="eu-west-1", results_table="t")
    )
    assert ("lambda", aws.SYNCHRONOUS_INVOKE_CONFIG) in asked
    assert ("lambda", aws.CLIENT_CONFIG) not in asked


class _NeverAnswers:
    """A validation function still running when the drill's time is up."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def invoke(self, **_: object) -> dict:
        self.release.wait(30)
        return {"StatusCode": 200, "Payload": b'{"passed": true}'}


def test_the_drill_stops_waiting_for_its_validation_function_when_its_time_is_up():
    """Lambda would otherwise end the drill's invocation first, and no teardown would run: the drill waits
    for the function only for its own time left, then fails the check and goes on to tear down."""
    function = _NeverAnswers()
    started = time.monotonic()
    try:
        with pytest.raises(ValidationFailed, match=r"did not answer within 0\.3 s"):
            validate(function, "check", {"instance_id": "i-1"}, wait_seconds=0.3)  # type: ignore[arg-type]
        assert time.monotonic() - started < 5
    finally:
        function.release.set()


def test_an_answer_in_time_is_the_checks_result():
    answered = SimpleNamespace(
        invoke=lambda **_: {"StatusCode": 200, "Payload": b'{"passed": false, "detail": "x"}'}
    )
    assert validate(answered, "check", {}, wait_seconds=5) == {"passed": False, "detail": "x"}  # type: ignore[arg-type]
