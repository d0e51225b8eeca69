"""No API key, credential or raw AWS error text in any API answer or log line, under AWS failures too.

Each test sets canary credentials and a canary API key, drives the three handlers through normal work and
through injected AWS failures (fault-injection harness), captures every answer and every line they log
(the Powertools logger, metrics printed to stdout, any other logger), and searches all of it for the
canaries, AWS access key ids, the request ids of the injected errors and raw botocore error text.
"""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError
from leaks import find_leaks

from smart_vault import aws
from support.injection import INJECTED_REQUEST_ID_PREFIX, Fault
from support.logs import CapturedLogs
from support.restore_world import FakeLambdaContext, api_event, call_api, launch_body, run_worker

CANARIES = {
    "the AWS secret access key": "canarySecretKey/Do+Not+Log/4f1e9b2c7d",
    "the AWS session token": "canarySessionToken//IQoJb3JpZ2luX2VjEJr+Do+Not+Log",
    "the API key (x-api-key)": "canaryApiKey5c2d9e7f1a3b4c6d8e0f2a4b",
    "the AWS access key id": "AKIACANARY0KEY00001",
}


@pytest.fixture
def canary_credentials(world, monkeypatch):
    """Credentials only these tests use, so that any trace of them in the output is a leak."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARIES["the AWS access key id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARIES["the AWS secret access key"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARIES["the AWS session token"])
    monkeypatch.setenv("AWS_SECURITY_TOKEN", CANARIES["the AWS session token"])
    aws.reset_clients()
    return world


class Transcript:
    """Everything the product showed or logged during a test, labelled by where it came from."""

    def __init__(self, monkeypatch, capsys, caplog):
        self.logs = CapturedLogs(monkeypatch)
        self.capsys = capsys
        self.caplog = caplog
        caplog.set_level(logging.WARNING)
        self.answers: list[tuple[str, str]] = []

    def api(self, label: str, method: str, path: str, body=None, headers=None) -> dict:
        event = api_event(
            method, path, body, headers={"x-api-key": CANARIES["the API key (x-api-key)"], **(headers or {})}
        )
        event["requestContext"]["identity"]["apiKey"] = CANARIES["the API key (x-api-key)"]
        answer = call_api(event, FakeLambdaContext())
        self.answers.append(
            (f"API answer to {label} ({answer.status})", json.dumps([answer.headers, answer.body]))
        )
        return {**answer.body, "http_status": answer.status}

    def worker(self, label: str, restore_id: str) -> dict | None:
        job = run_worker(restore_id)
        self.answers.append((f"worker result of {label}", json.dumps(job)))
        return job

    def sources(self) -> list[tuple[str, str]]:
        printed = self.capsys.readouterr()
        lines = [(f"log line {n}", line) for n, line in enumerate(self.logs.text.splitlines(), 1)]
        lines += [(f"stdout line {n}", line) for n, line in enumerate(printed.out.splitlines(), 1)]
        lines += [(f"stderr line {n}", line) for n, line in enumerate(printed.err.splitlines(), 1)]
        lines += [(f"{r.name} log record", r.getMessage() + (r.exc_text or "")) for r in self.caplog.records]
        return self.answers + lines

    def assert_clean(self) -> None:
        sources = self.sources()
        assert len(sources) > len(self.answers), "nothing was logged: the capture is not working"
        leaks = [
            leak
            for where, text in sources
            for leak in find_leaks(where, text, CANARIES, request_id_prefixes=(INJECTED_REQUEST_ID_PREFIX,))
        ]
        assert not leaks, "\n".join(str(leak) for leak in leaks[:20])


@pytest.fixture
def transcript(canary_credentials, monkeypatch, capsys, caplog) -> Transcript:
    return Transcript(monkeypatch, capsys, caplog)


def volume_body(world, **extra):
    return {"snapshot_id": world.snapshot_id, "availability_zone": world.primary.zone, **extra}


def accepted(transcript, world, label: str, body) -> str:
    answer = transcript.api(label, "POST", "/restore", body)
    assert answer["http_status"] == 202, answer
    world.lambda_client.invocations.clear()
    return answer["restore_id"]


def test_the_restore_api_leaks_nothing_in_ordinary_answers(transcript, world):
    restore_id = accepted(transcript, world, "a valid request", volume_body(world))
    transcript.api("a wrong type", "POST", "/restore", volume_body(world, launch_instance="yes"))
    transcript.api(
        "an unknown snapshot", "POST", "/restore", volume_body(world, snapshot_id="snap-0123456789abcdef0")
    )
    transcript.api(
        "an unmanaged snapshot",
        "POST",
        "/restore",
        volume_body(world, snapshot_id=world.unmanaged_snapshot_id),
    )
    transcript.api(
        "an unknown AMI", "POST", "/restore", {**launch_body(world), "ami_id": "ami-0123456789abcdef0"}
    )
    key = {"Idempotency-Key": "leak-test-key"}
    transcript.api("an idempotent request", "POST", "/restore", volume_body(world), headers=key)
    transcript.api(
        "a reused idempotency key", "POST", "/restore", volume_body(world, volume_type="io2"), headers=key
    )
    transcript.api("a status request", "GET", f"/restore/{restore_id}")
    transcript.api("an unknown restore", "GET", "/restore/6f1c8a52-0d3e-4b7a-9c61-2e5f4d3b1a90")
    transcript.api("a malformed restore id", "GET", "/restore/not-a-uuid")

    transcript.assert_clean()


def lambda_refuses(world, faults):
    """moto cannot run Lambda: the API's Invoke goes to the fixtures' fake client, which raises what
    botocore would (an AccessDeniedException carrying an AWS request id)."""
    world.lambda_client.fail_with = ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "not authorized to perform lambda:InvokeFunction",
            },
            "ResponseMetadata": {"RequestId": f"{INJECTED_REQUEST_ID_PREFIX}-lambda", "HTTPStatusCode": 403},
        },
        "Invoke",
    )


@pytest.mark.parametrize(
    "arm",
    [
        lambda world, faults: faults.add(
            Fault("InternalServerError", service="dynamodb", operation="PutItem", status=500)
        ),
        lambda world, faults: faults.add(Fault("AccessDeniedException", service="dynamodb", status=400)),
        lambda world, faults: faults.add(
            Fault("UnauthorizedOperation", service="ec2", operation="DescribeSnapshots", status=403)
        ),
        lambda world, faults: faults.add(Fault("RequestLimitExceeded", service="ec2", status=503)),
        lambda_refuses,
    ],
    ids=["dynamodb-5xx", "dynamodb-denied", "ec2-denied", "ec2-throttled", "lambda-denied"],
)
def test_the_restore_api_leaks_nothing_when_aws_fails(transcript, world, faults, arm):
    arm(world, faults)
    answer = transcript.api("a valid request under an AWS failure", "POST", "/restore", launch_body(world))
    transcript.api(
        "an idempotent request under an AWS failure",
        "POST",
        "/restore",
        launch_body(world),
        headers={"Idempotency-Key": "k-1"},
    )

    assert answer["http_status"] == 500 and answer["error"] == "InternalError"
    transcript.assert_clean()


@pytest.mark.parametrize(
    "fault",
    [
        None,
        Fault("IncorrectState", service="ec2", operation="AttachVolume"),
        Fault(
            "InternalError",
            service="ec2",
            operation="DescribeVolumes",
            status=500,
            when=lambda c: "VolumeId.1=" in c,
            max_faults=11,
        ),
        Fault("AuthorizationError", service="sns", operation="Publish", status=403),
        Fault(
            "InternalServerError",
            service="dynamodb",
            operation="UpdateItem",
            status=500,
            when=lambda c: c.number > 2,
        ),
    ],
    ids=["succeeds", "attach-fails", "wait-fails", "sns-denied", "dynamodb-fails-mid-way"],
)
def test_the_restore_worker_leaks_nothing(transcript, world, faults, fault):
    restore_id = accepted(transcript, world, "a restore", launch_body(world))
    if fault is not None:
        faults.add(fault)

    try:
        transcript.worker("the restore", restore_id)
    except Exception as exc:  # the worker may fail; what it says and logs must still be clean
        transcript.answers.append(("the worker's exception", f"{type(exc).__name__}: {exc}"))
    faults.clear()
    transcript.api("the job afterwards", "GET", f"/restore/{restore_id}")

    transcript.assert_clean()


@pytest.mark.parametrize(
    "fault",
    [
        None,
        Fault(
            "UnauthorizedOperation",
            service="ec2",
            operation="CreateSnapshots",
            status=403,
            when=lambda c: c.number == 1,
        ),
        Fault("AccessDenied", service="ec2", operation="CopySnapshot"),
        Fault("RequestLimitExceeded", service="ec2", status=503, probability=0.3),
        Fault("AuthorizationError", service="sns", operation="Publish", status=403),
    ],
    ids=["succeeds", "create-denied", "copy-denied", "throttled", "sns-denied"],
)
def test_the_backup_leaks_nothing(transcript, faults, fast_pacing, monkeypatch, fault):
    from smart_vault.backup import entry as backup
    from support.backup_world import Inbox, backup_context, backup_env, make_fleet, scheduled_event

    backup_env(monkeypatch)
    fleet = make_fleet()
    Inbox()
    for n in range(3):
        fleet.launch(f"web-{n}", {"Backup-Tier": "Gold", "Name": f"web-{n}"})
    if fault is not None:
        faults.add(fault)

    report = backup.handler(scheduled_event("leak-check-run"), backup_context())
    transcript.answers.append(("the backup report", json.dumps(report)))

    assert fault is None or fault.injected >= 1
    transcript.assert_clean()
