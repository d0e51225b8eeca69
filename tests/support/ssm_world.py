"""Systems Manager for the moto-backed tests: the real boto3 SSM client, answered by `sim.ssm.SsmModel`.

moto's SendCommand answers Success at once and runs nothing. Here a `before-send` hook on the SSM client that
`smart_vault.aws.client` hands out answers SendCommand, ListCommandInvocations and DescribeInstanceInformation
from the model, as JSON on the wire: botocore serialises the request, parses the answer and applies its retry
mode, and the AWS call recorder sees every call (so tests/iam checks that the backup role is granted them).
The authorization layer (tests/conftest.py) reads the documents' tags from the same model (`MotoFacts`'s
`document_source`), the instances' tags from moto's EC2.
The model's clock is a `ManualClock` the product also sleeps on (`aws.set_clock`), so a 60 s timeout takes no
real time.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from smart_vault import aws
from smart_vault.authz.facts import MotoFacts
from smart_vault.sim.ssm import SsmModel
from support.injection import _Raw

_URL = "https://ssm-model.invalid/"
_OPERATIONS = {
    "SendCommand": "send_command",
    "ListCommandInvocations": "list_command_invocations",
    "DescribeInstanceInformation": "describe_instance_information",
}


class ManualClock:
    """A shared virtual clock: `sleep` moves it forward (threads sleeping at once add up: pessimistic).

    `hold(at, gate)`: a sleep that would pass `at` first waits (in real time, at most `patience` s) for
    `gate` to be set; `held_too_long` says whether it had to give up. A test uses it to prove that some work
    happens while a script is still running, whatever the threads' real speed."""

    def __init__(self, start: float = 1_000_000.0, patience: float = 20.0) -> None:
        self.now = start
        self._lock = threading.Lock()
        self.slept = 0.0
        self._hold: tuple[float, threading.Event] | None = None
        self._patience = patience
        self.held_too_long = False

    def monotonic(self) -> float:
        return self.now

    def hold(self, at: float, gate: threading.Event) -> None:
        self._hold = (at, gate)

    def sleep(self, seconds: float) -> None:
        hold = self._hold
        if hold is not None and self.now + seconds >= hold[0] and not hold[1].is_set():
            self.held_too_long = not hold[1].wait(self._patience) or self.held_too_long
        with self._lock:
            self.now += max(seconds, 0.0)
            self.slept += max(seconds, 0.0)


class SsmWorld:
    def __init__(self, model: SsmModel) -> None:
        self.model = model
        self.operations: list[str] = []

    def attach(self, client: Any) -> Any:
        if getattr(client, "_ssm_world", None) is not self:
            client.meta.events.register_first("before-send.ssm", self._before_send, unique_id="ssm-world")
            client._ssm_world = self
        return client

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.split(".")[-1]
        self.operations.append(operation)
        params = json.loads(request.body or b"{}")
        try:
            body, status = getattr(self.model, _OPERATIONS[operation])(**params), 200
        except ClientError as exc:
            error = exc.response["Error"]
            body = {"__type": f"AmazonSSM#{error['Code']}", "message": error["Message"]}
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        request.url = _URL
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "ssm-model"}
        return AWSResponse(_URL, status, headers, _Raw(json.dumps(body, default=str).encode()))


def install_ssm(monkeypatch: Any, model: SsmModel, clock: ManualClock) -> SsmWorld:
    """Answer every SSM client from `model`, and let the product sleep on `clock`."""
    world = SsmWorld(model)
    real_client = aws.client

    def client(service: str, region: str | None = None, config: Any = aws.CLIENT_CONFIG) -> Any:
        made = real_client(service, region, config)
        return world.attach(made) if service == "ssm" else made

    monkeypatch.setattr(aws, "client", client)
    # The authorization layer reads the documents' tags (ssm:SendCommand) from the same model that answers.
    monkeypatch.setattr(
        MotoFacts, "document_source", staticmethod(lambda region, document: model.tags_of_document(document))
    )
    monkeypatch.setattr(aws, "_monotonic", clock.monotonic)
    monkeypatch.setattr(aws, "_sleep", clock.sleep)
    return world
