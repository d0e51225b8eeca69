"""The one fake Lambda context of the tests: what the Lambda runtime passes as `context` (the attributes
Powertools and the handlers read), for any function. `remaining_millis` is the time the handler is told is
left; `CountdownContext` makes it drop each time it is asked, as a long invocation sees it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytest

ACCOUNT_ID = "123456789012"


@dataclass
class FakeLambdaContext:
    function_name: str = "smart-vault-restore-api"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "eu-west-1"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    remaining_millis: int = 900_000
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "stream"

    def __post_init__(self) -> None:
        self.invoked_function_arn = (
            self.invoked_function_arn
            or f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@dataclass
class CountdownContext(FakeLambdaContext):
    """A Lambda context whose remaining time drops by `step_ms` each time it is asked."""

    step_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_millis -= self.step_ms
        return self.remaining_millis + self.step_ms


def set_function_environment(
    monkeypatch: pytest.MonkeyPatch, values: Mapping[str, str], unset: Iterable[str] = ()
) -> None:
    """A function's environment as Lambda gives it: `values` set, the optional variables in `unset` absent
    (whatever the machine running the tests has), all restored after the test."""
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
