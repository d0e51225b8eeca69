"""Fault injection for the AWS calls the product makes: errors as AWS would send them, on the wire.

`FaultInjector` hooks every client that `smart_vault.aws.client` hands out (tests wrap that function with
monkeypatch). Its `before-send` handler runs once per HTTP attempt, before moto sees the request; when a
`Fault` matches, it answers with the error response AWS would send for that service's protocol (EC2 XML,
query XML, JSON, REST-JSON) and moto never executes the call. Because the fault is an HTTP response, the
real botocore machinery handles it: the error parser, the `adaptive` retry mode (throttling and 5xx codes
are retried, others are not) and the ClientError the product finally sees, request id included.

A fault can fire on every matching attempt, with a probability (seeded, so a run is repeatable), on chosen
call numbers, at most N times, and only when a predicate on the call holds (its region, its serialized
body, the operations seen before it). `Interrupt` simulates the Lambda being killed at a precise point:
it raises a BaseException (which no `except Exception` in the product catches) before or after an
operation.

`fast_retries` keeps tests quick without changing what is retried: botocore's backoff sleeps and the
adaptive token bucket's waits are recorded instead of slept.
"""

from __future__ import annotations

import functools
import io
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse

# Every injected error carries a request id with this prefix, so leak checks can look for it verbatim.
INJECTED_REQUEST_ID_PREFIX = "f4017ed0"
# What an injected fault's raw text looks like: a report or notification that shows it has not been made
# readable (botocore's message, the injected request id, a stack trace).
RAW_AWS_TEXT = ("An error occurred (", INJECTED_REQUEST_ID_PREFIX, "Traceback")
# Requests that a fault answered are pointed here so that moto's own before-send handler, which runs after
# ours, does not recognise them as AWS calls and leaves its backend untouched.
_DIVERTED_URL = "https://fault-injected.invalid/"


class WorkerKilled(BaseException):
    """The Lambda runtime stopped the invocation (timeout, out of memory, host failure)."""


@dataclass(frozen=True)
class Call:
    """One HTTP attempt of one operation, as a fault's predicate sees it."""

    service: str  # botocore service id, hyphenized: "ec2", "dynamodb", "sns", "lambda"
    operation: str  # API operation name: "CopySnapshot"
    region: str
    body: str  # the serialized request (query string for EC2/SNS, JSON for DynamoDB)
    number: int  # 1-based count of attempts of this (service, operation) seen so far, this one included
    history: tuple[str, ...]  # "service.Operation" of every earlier attempt, oldest first

    def __contains__(self, text: str) -> bool:
        return text in self.body


@dataclass
class Fault:
    """An AWS error answered instead of a call. Unset filters match everything."""

    code: str
    service: str = "*"
    operation: str = "*"
    region: str | None = None
    status: int = 400
    message: str = "injected by the fault-injection suite"
    probability: float = 1.0
    on_calls: frozenset[int] | None = None  # numbers (see Call.number) that fail; None: any
    max_faults: int | None = None
    when: Callable[[Call], bool] | None = None
    injected: int = field(default=0, init=False)

    def matches(self, call: Call, rng: random.Random) -> bool:
        if self.service not in ("*", call.service) or self.operation not in ("*", call.operation):
            return False
        if self.region is not None and self.region != call.region:
            return False
        if self.max_faults is not None and self.injected >= self.max_faults:
            return False
        if self.on_calls is not None and call.number not in self.on_calls:
            return False
        if self.when is not None and not self.when(call):
            return False
        return self.probability >= 1.0 or rng.random() < self.probability


@dataclass
class Interrupt:
    """Kill the invocation (raise WorkerKilled) before or after the first matching call succeeds."""

    service: str
    operation: str
    after: bool = True
    fired: bool = field(default=False, init=False)


@dataclass(frozen=True)
class InjectedError:
    service: str
    operation: str
    region: str
    code: str
    request_id: str
    attempt: int  # index of the attempt in FaultInjector.history


class _Raw(io.BytesIO):
    """The raw body object botocore reads responses from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def error_response(protocol: str, fault: Fault, target_prefix: str, request_id: str) -> AWSResponse:
    """The HTTP response AWS sends for `fault` in a service speaking `protocol`."""
    code, message = escape(fault.code), escape(fault.message)
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    elif protocol in ("query", "rest-xml"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    elif protocol == "json":
        body = json.dumps({"__type": f"{target_prefix}#{fault.code}", "message": fault.message})
        headers["Content-Type"] = "application/x-amz-json-1.0"
    elif protocol == "rest-json":
        body = json.dumps({"Type": "User", "message": fault.message})
        headers["x-amzn-ErrorType"] = f"{fault.code}:"
        headers["Content-Type"] = "application/json"
    else:
        raise NotImplementedError(f"no error format for protocol {protocol!r}")
    return AWSResponse(_DIVERTED_URL, fault.status, headers, _Raw(body.encode("utf-8")))


class FaultInjector:
    """Answers matching calls with AWS errors; records what it injected and every attempt it saw."""

    def __init__(self, faults: list[Fault] | None = None, *, seed: int = 7):
        self.faults: list[Fault] = list(faults or [])
        self.interrupts: list[Interrupt] = []
        self.injected: list[InjectedError] = []
        self.history: list[str] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._unique_id = f"smart-vault-fault-injector-{id(self)}"

    # ------------------------------------------------------------------------------------- set-up

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Stop injecting (the clients stay hooked; nothing matches any more)."""
        with self._lock:
            self.faults.clear()
            self.interrupts.clear()

    def interrupt(self, service: str, operation: str, *, after: bool = True) -> Interrupt:
        with self._lock:
            interrupt = Interrupt(service, operation, after)
            self.interrupts.append(interrupt)
        return interrupt

    def attach(self, client: Any) -> Any:
        """Hook one botocore client (idempotent) and return it; test doubles without `meta` pass through."""
        if not hasattr(client, "meta"):
            return client
        model = client.meta.service_model
        region = client.meta.region_name
        target_prefix = model.metadata.get("targetPrefix", "")
        events = client.meta.events
        events.register_first(
            "before-send",
            functools.partial(
                self._before_send, region=region, protocol=model.protocol, prefix=target_prefix
            ),
            unique_id=f"{self._unique_id}-send",
        )
        events.register_first("before-call", self._before_call, unique_id=f"{self._unique_id}-call")
        events.register_last("after-call", self._after_call, unique_id=f"{self._unique_id}-after")
        return client

    def install(self, monkeypatch: Any) -> FaultInjector:
        """Hook every client `smart_vault.aws.client` returns from now on."""
        from smart_vault import aws

        real_client = aws.client

        def client(service: str, region: str | None = None, config: Any = aws.CLIENT_CONFIG) -> Any:
            return self.attach(real_client(service, region, config))

        monkeypatch.setattr(aws, "client", client)
        return self

    # ------------------------------------------------------------------------------------- queries

    def count(self, code: str | None = None, operation: str | None = None) -> int:
        return sum(
            1
            for error in self.injected
            if (code is None or error.code == code) and (operation is None or error.operation == operation)
        )

    def attempts(self, operation: str) -> int:
        return sum(1 for name in self.history if name.endswith(f".{operation}"))

    # ------------------------------------------------------------------------------------- handlers

    def _before_send(self, request: Any, event_name: str, region: str, protocol: str, prefix: str, **_: Any):
        _, service, operation = event_name.split(".", 2)
        body = request.body
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        with self._lock:
            number = self._counts.get((service, operation), 0) + 1
            self._counts[(service, operation)] = number
            call = Call(service, operation, region, text, number, tuple(self.history))
            self.history.append(f"{service}.{operation}")
            fault = next((f for f in self.faults if f.matches(call, self._rng)), None)
            if fault is None:
                return None
            fault.injected += 1
            request_id = f"{INJECTED_REQUEST_ID_PREFIX}-{uuid.uuid4()}"
            self.injected.append(
                InjectedError(service, operation, region, fault.code, request_id, len(self.history) - 1)
            )
        request.url = _DIVERTED_URL
        return error_response(protocol, fault, prefix, request_id)

    def _interrupt_for(self, event_name: str, after: bool) -> Interrupt | None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            for interrupt in self.interrupts:
                if (
                    not interrupt.fired
                    and interrupt.after == after
                    and (interrupt.service, interrupt.operation) == (service, operation)
                ):
                    interrupt.fired = True
                    return interrupt
        return None

    def _before_call(self, event_name: str, **_: Any) -> None:
        if self._interrupt_for(event_name, after=False):
            raise WorkerKilled(f"killed before {event_name}")

    def _after_call(self, event_name: str, http_response: Any = None, **_: Any) -> None:
        if http_response is not None and http_response.status_code >= 300:
            return  # the call failed: an interrupt after it would not test anything new
        if self._interrupt_for(event_name, after=True):
            raise WorkerKilled(f"killed after {event_name}")


def assert_readable(text: str | None) -> None:
    """An error a report or notification shows: present, and with none of an injected fault's raw text.
    (The messages are explicit: pytest rewrites the asserts of test modules only.)"""
    assert text, f"no error text: {text!r}"
    for raw in RAW_AWS_TEXT:
        assert raw not in text, f"{raw!r} in {text!r}"


@dataclass
class RetryClock:
    """What botocore would have slept: backoff delays between attempts, token-bucket waits, waiter polls."""

    backoff_delays: list[float] = field(default_factory=list)
    rate_limited_sends: int = 0
    waiter_delays: list[float] = field(default_factory=list)


def fast_retries(monkeypatch: Any) -> RetryClock:
    """Keep botocore's retry decisions but skip their sleeps; returns the record of what was skipped.

    Waiters poll without their delay too: moto changes states instantly, and a wait that can never succeed
    then ends after its attempts in a moment instead of blocking the suite for the product's whole budget.

    Call before the clients are created (the adaptive limiter binds its handler at client creation).
    """
    import botocore.endpoint
    import botocore.waiter
    from botocore.retries import adaptive

    clock = RetryClock()

    class _Time:
        """Stands in for the `time` module inside botocore.endpoint, whose only use is the retry sleep."""

        @staticmethod
        def sleep(seconds: float) -> None:
            clock.backoff_delays.append(seconds)

    class _WaiterTime:
        """Stands in for the `time` module inside botocore.waiter, whose only use is the poll delay."""

        @staticmethod
        def sleep(seconds: float) -> None:
            clock.waiter_delays.append(seconds)

    def on_sending_request(self: Any, request: Any, **_: Any) -> None:
        # The adaptive mode's token bucket would block here once throttled; count instead of waiting.
        if self._enabled:
            clock.rate_limited_sends += 1

    monkeypatch.setattr(botocore.endpoint, "time", _Time)
    monkeypatch.setattr(botocore.waiter, "time", _WaiterTime)
    monkeypatch.setattr(adaptive.ClientRateLimiter, "on_sending_request", on_sending_request)
    return clock


def atomic_moto(monkeypatch: Any) -> None:
    """Make moto execute one request at a time, as AWS applies each API call atomically.

    moto's backends are plain Python objects without locks: two threads calling DynamoDB's conditional
    UpdateItem at once could both pass its condition, which real DynamoDB never allows. Concurrency tests
    need AWS's guarantee, not moto's accident.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    unlocked_call = BotocoreStubber.__call__

    def locked_call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if not lock.acquire(timeout=30):
            raise RuntimeError("moto request lock not released within 30 s")
        try:
            return unlocked_call(self, event_name, request, **kwargs)
        finally:
            lock.release()

    monkeypatch.setattr(BotocoreStubber, "__call__", locked_call)
