"""Systems Manager Run Command as the backup function uses it: agents, scripts that take time, and throttling.

moto's `SendCommand` answers `Success` at once and runs nothing, so the application-consistent lane could not
be tested against it. `SsmModel` plays the three calls the product makes, on a clock it is given (the
simulation's virtual clock, or a test's), with per-instance behaviour (`ScriptBehaviour`):

- `DescribeInstanceInformation` lists registered managed nodes with `PingStatus` `Online` or `ConnectionLost`
  (filter `InstanceIds`, pages of `MaxResults` 5..50); an instance without an agent is not listed;
- `SendCommand` takes 1..50 `InstanceIds` (more: `ValidationException`), a document that exists
  (`InvalidDocument`), a `command` parameter among the document's allowed values (`InvalidParameters`); an
  instance that is not a registered managed node fails the whole call (`InvalidInstanceId`), as AWS documents;
- each invocation is `Pending` for a short delivery delay (GUESS: 0.2..1 s), `InProgress` while its script
  runs (`pre_seconds` / `post_seconds`), then `Success` or `Failed`; an agent that is not online never picks it
  up: `Pending` until `TimeoutSeconds`, then `TimedOut` (`StatusDetails` `DeliveryTimedOut`);
- `ListCommandInvocations` of one command in pages of `MaxResults` (at most 50);
- request-token buckets per action (GUESS, AWS publishes no per-action rate for these: SendCommand 10 / 5 per
  s, ListCommandInvocations 20 / 10 per s, DescribeInstanceInformation 10 / 5 per s); an empty bucket answers
  `ThrottlingException` (HTTP 400), which botocore's retry treats as throttling.

The model also keeps what an application would feel: how long each instance stayed frozen (from the end of a
successful pre-script to the end of its post-script, or to `auto_thaw_seconds` when the document's own safety
thaws it first), for the figures of the 1,000-instance run.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

ALLOWED_COMMANDS = ("pre-script", "post-script", "dry-run")
# The tag an operator gives a document the backup function may run (backup_iam.tf, docs/app-consistent.md).
SCRIPTS_DOCUMENT_TAG = ("smart-vault:scripts", "true")
MAX_TARGETS = 50
# GUESS (see the module docstring): bucket size, refill per second.
SSM_BUCKETS = {
    "SendCommand": (10.0, 5.0),
    "ListCommandInvocations": (20.0, 10.0),
    "DescribeInstanceInformation": (10.0, 5.0),
}


def ssm_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        # botocore-stubs require every ResponseMetadata key; botocore reads only the ones given.
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        operation,
    )


@dataclass
class ScriptBehaviour:
    """One instance's agent and scripts."""

    online: bool = True
    registered: bool = True  # a managed node at all (SSM agent installed and registered)
    pre_seconds: float = 1.0
    post_seconds: float = 0.5
    pre_status: str = "Success"  # or "Failed"
    post_status: str = "Success"
    auto_thaw_seconds: float | None = 60.0  # the document's freeze safety (None: none)


@dataclass
class _Invocation:
    instance_id: str
    script: str
    start: float  # the script starts (delivery done)
    end: float
    final: str
    details: str
    timeout_at: float  # delivery timeout


@dataclass
class Freeze:
    instance_id: str
    since: float
    until: float | None = None
    thawed_by: str = ""  # "post-script" or "auto-thaw"


@dataclass
class SsmModel:
    clock: Callable[[], float]
    seed: int = 1
    default: ScriptBehaviour = field(default_factory=ScriptBehaviour)
    documents: set[str] = field(default_factory=lambda: {"smart-vault-fsfreeze"})
    # A document's tags (what the authorization layer reads for SendCommand); a document not listed here
    # carries SCRIPTS_DOCUMENT_TAG, as the operator tags it (docs/app-consistent.md).
    document_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    behaviour: dict[str, ScriptBehaviour] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every SendCommand, as sent

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311  # nosec B311 - seeded simulation, not security
        self._ids = itertools.count(1)
        self._commands: dict[str, list[_Invocation]] = {}
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.RLock()
        self.freezes: dict[str, list[Freeze]] = {}

    def tags_of_document(self, name: str) -> dict[str, str] | None:
        """The tags of a document named by name or ARN (None: no such document)."""
        name = name.rsplit("/", 1)[-1]
        if name not in self.documents:
            return None
        return dict(self.document_tags.get(name, dict([SCRIPTS_DOCUMENT_TAG])))

    def of(self, instance_id: str) -> ScriptBehaviour:
        return self.behaviour.get(instance_id, self.default)

    # ------------------------------------------------------------------------------------- requests
    def request(self, action: str) -> None:
        """Count one request and take a token of its bucket (ThrottlingException when empty)."""
        now = self.clock()
        size, refill = SSM_BUCKETS.get(action, (20.0, 10.0))
        bucket = self._buckets.setdefault(action, [size, now])
        now = max(now, bucket[1])  # worker threads' own times may trail the latest one
        bucket[0] = min(size, bucket[0] + (now - bucket[1]) * refill)
        bucket[1] = now
        self.requests[action] = self.requests.get(action, 0) + 1
        if bucket[0] < 1.0:
            self.throttled[action] = self.throttled.get(action, 0) + 1
            raise ssm_error("ThrottlingException", "Rate exceeded", action)
        bucket[0] -= 1.0

    def describe_instance_information(
        self, Filters: list[dict[str, Any]] | None = None, MaxResults: int = 50, NextToken: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            self.request("DescribeInstanceInformation")
            if not 5 <= MaxResults <= 50:
                raise ssm_error(
                    "ValidationException", "MaxResults must be 5..50", "DescribeInstanceInformation"
                )
            wanted: list[str] = []
            for f in Filters or []:
                if f["Key"] != "InstanceIds":
                    raise ssm_error("InvalidFilterKey", f"the model has no filter {f['Key']}", "Describe")
                wanted += f["Values"]
            items = [
                {"InstanceId": i, "PingStatus": "Online" if self.of(i).online else "ConnectionLost"}
                for i in sorted(set(wanted))
                if self.of(i).registered
            ]
            return _page(items, "InstanceInformationList", MaxResults, NextToken)

    def send_command(
        self,
        DocumentName: str,
        InstanceIds: list[str],
        Parameters: dict[str, list[str]] | None = None,
        TimeoutSeconds: int = 3600,
        Comment: str = "",
        **_: Any,
    ) -> dict[str, Any]:
        with self._lock:
            self.request("SendCommand")
            if not 1 <= len(InstanceIds) <= MAX_TARGETS:
                raise ssm_error("ValidationException", "InstanceIds takes 1..50 ids", "SendCommand")
            if DocumentName.rsplit("/", 1)[-1] not in self.documents:
                raise ssm_error("InvalidDocument", f"document {DocumentName} does not exist", "SendCommand")
            command = (Parameters or {}).get("command", [""])
            if len(command) != 1 or command[0] not in ALLOWED_COMMANDS:
                raise ssm_error("InvalidParameters", f"command {command} is not allowed", "SendCommand")
            if any(not self.of(i).registered for i in InstanceIds):
                raise ssm_error("InvalidInstanceId", "an instance is not a managed node", "SendCommand")
            if not 30 <= TimeoutSeconds <= 2592000:
                raise ssm_error("ValidationException", "TimeoutSeconds must be 30..2592000", "SendCommand")
            command_id = f"{next(self._ids):08x}-0000-4000-8000-{self._rng.getrandbits(48):012x}"
            now = self.clock()
            self._commands[command_id] = [
                self._invocation(i, command[0], now, TimeoutSeconds) for i in InstanceIds
            ]
            self.sent.append(
                {
                    "CommandId": command_id,
                    "DocumentName": DocumentName,
                    "InstanceIds": list(InstanceIds),
                    "command": command[0],
                    "at": now,
                }
            )
            return {"Command": {"CommandId": command_id, "DocumentName": DocumentName, "Status": "Pending"}}

    def _invocation(self, instance_id: str, script: str, now: float, timeout: int) -> _Invocation:
        b = self.of(instance_id)
        start = now + self._rng.uniform(0.2, 1.0)
        seconds = b.pre_seconds if script == "pre-script" else b.post_seconds
        final = b.pre_status if script == "pre-script" else b.post_status
        if not b.online:
            return _Invocation(
                instance_id, script, float("inf"), float("inf"), "TimedOut", "DeliveryTimedOut", now + timeout
            )
        invocation = _Invocation(instance_id, script, start, start + seconds, final, final, now + timeout)
        self._track_freeze(invocation, b)
        return invocation

    def _track_freeze(self, invocation: _Invocation, b: ScriptBehaviour) -> None:
        freezes = self.freezes.setdefault(invocation.instance_id, [])
        if invocation.script == "pre-script" and invocation.final == "Success":
            until = invocation.end + b.auto_thaw_seconds if b.auto_thaw_seconds is not None else None
            freezes.append(
                Freeze(invocation.instance_id, invocation.end, until, "auto-thaw" if until else "")
            )
        elif invocation.script == "post-script" and invocation.final == "Success" and freezes:
            last = freezes[-1]
            if last.until is None or invocation.end < last.until:
                last.until, last.thawed_by = max(invocation.end, last.since), "post-script"

    def list_command_invocations(
        self, CommandId: str, MaxResults: int = 50, NextToken: str | None = None, **_: Any
    ) -> dict[str, Any]:
        with self._lock:
            self.request("ListCommandInvocations")
            if CommandId not in self._commands:
                raise ssm_error("InvalidCommandId", f"no command {CommandId}", "ListCommandInvocations")
            now = self.clock()
            items = [_status(inv, now) | {"CommandId": CommandId} for inv in self._commands[CommandId]]
            return _page(items, "CommandInvocations", min(MaxResults, 50), NextToken)

    # ------------------------------------------------------------------------------------- figures
    def freeze_seconds(self) -> list[float]:
        """How long each freeze lasted (an unthawed one counts until now)."""
        now = self.clock()
        return [
            (f.until if f.until is not None else now) - f.since for fs in self.freezes.values() for f in fs
        ]


def _status(inv: _Invocation, now: float) -> dict[str, Any]:
    if inv.start == float("inf"):
        status = "TimedOut" if now >= inv.timeout_at else "Pending"
        details = "DeliveryTimedOut" if status == "TimedOut" else "Pending"
    elif now < inv.start:
        status = details = "Pending"
    elif now < inv.end:
        status = details = "InProgress"
    else:
        status, details = inv.final, inv.details
    return {"InstanceId": inv.instance_id, "Status": status, "StatusDetails": details}


def _page(items: list[dict[str, Any]], key: str, size: int, token: str | None) -> dict[str, Any]:
    start = int(token) if token else 0
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page


class _Events:
    """The botocore hook the product's pacer uses: `provide-client-params.ssm.<Operation>`."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., Any]]] = {}

    def register_first(self, event: str, handler: Callable[..., Any], **_: Any) -> None:
        self.handlers.setdefault(event, []).insert(0, handler)

    register = register_first

    def call_started(self, action: str) -> None:
        from types import SimpleNamespace

        for handler in self.handlers.get(f"provide-client-params.ssm.{action}", ()):
            handler(model=SimpleNamespace(name=action), params={})


class SimSSM:
    """An SSM client of the simulation: paced through `meta.events`, each request under the world's lock,
    throttling retried with botocore's standard backoff shape (full jitter, 20 s cap, 10 attempts) in
    virtual time."""

    ATTEMPTS = 10

    def __init__(
        self, model: SsmModel, sleep: Callable[[float], None], lock: Any, rng: random.Random
    ) -> None:
        from types import SimpleNamespace

        self.model, self._sleep, self._lock, self._rng = model, sleep, lock, rng
        self.meta = SimpleNamespace(region_name="sim", events=_Events())

    def _call(self, action: str, call: Callable[[], Any]) -> Any:
        self.meta.events.call_started(action)
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                with self._lock:
                    return call()
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ThrottlingException" or attempt == self.ATTEMPTS:
                    raise
                self._sleep(self._rng.random() * min(20.0, 2.0**attempt))
        raise AssertionError("unreachable")

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("SendCommand", lambda: self.model.send_command(**kwargs))

    def list_command_invocations(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("ListCommandInvocations", lambda: self.model.list_command_invocations(**kwargs))

    def describe_instance_information(self, **kwargs: Any) -> dict[str, Any]:
        return self._call(
            "DescribeInstanceInformation", lambda: self.model.describe_instance_information(**kwargs)
        )
