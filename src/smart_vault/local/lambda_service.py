"""A local Lambda service: the Invoke API over HTTP, running functions in their own processes.

Like Lambda, each function runs in execution environments of its own: processes of
`python -m smart_vault.local.runtime` started with exactly that function's environment (its Terraform
variables plus what the Lambda runtime sets), so two functions never share `os.environ`: the backup
function and the restore API read different settings, and a DR-region function has another `AWS_REGION`.
An environment serves one invocation at a time and is kept warm for the next (the first pays the cold
start, about a second of imports); concurrent invocations get more environments; a timed-out or crashed
one is discarded.

The read calls of the control plane (ListFunctions, GetFunction, GetFunctionConfiguration, GetPolicy,
ListTags) are answered by `lambda_control`, the Invoke API's HTTP side by `lambda_endpoint`. Implemented: `POST /2015-03-31/functions/{name}/invocations` with `X-Amz-Invocation-Type`
`RequestResponse` (200 and the payload; `X-Amz-Function-Error: Unhandled` when the handler raised),
`Event` (202, run in the background) and `DryRun` (204); `X-Amz-Log-Type: Tail`; names, ARNs and
partial ARNs; 404 `ResourceNotFoundException` for unknown functions. Not implemented: async retries,
versions and aliases (any qualifier runs `$LATEST`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_vault.local.execution_environment import ExecutionEnvironment as _ExecutionEnvironment

ACCOUNT_ID = "123456789012"  # moto's default account: ARNs must agree with the emulated resources
CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/lambda/")
FUNCTION_ARN = re.compile(
    r"^(arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):)?(\d{12}:)?(function:)?(?P<name>[A-Za-z0-9_-]+)(:[^:]+)?$"
)
LOG_TAIL_BYTES = 4096
SRC_DIR = str(Path(__file__).resolve().parents[2])  # the directory that holds the smart_vault package


@dataclass(frozen=True)
class FunctionSpec:
    """One deployed function: what Terraform's aws_lambda_function says about it."""

    name: str
    region: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int = 60
    memory_mb: int = 256
    role_name: str = ""  # the Terraform role's name; empty: a role named like the function
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    permissions: tuple[LambdaPermission, ...] = ()  # Terraform's aws_lambda_permission resources
    last_modified: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    )
    revision_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{self.role_name or self.name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class LambdaPermission:
    """One statement of a function's resource policy: `principal` may invoke it from `source_arn`."""

    sid: str
    principal: str
    source_arn: str


@dataclass(frozen=True)
class InvokeResult:
    status_code: int
    payload: bytes = b""
    function_error: str | None = None
    log_tail: str = ""
    request_id: str = ""

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


class FunctionNotFound(LookupError):
    pass


@dataclass
class LambdaService:
    """The registry of functions and the runner of their invocations."""

    base_environment: Mapping[str, str]
    log_dir: Path
    functions: dict[tuple[str, str], FunctionSpec] = field(default_factory=dict)
    default_region: str = "eu-west-1"
    max_async_workers: int = 8
    # Called after each invocation with (spec, request_id, log lines, duration in ms, failed): where the logs
    # and metrics go on (`telemetry.CloudWatchShipper`), as Lambda sends them to CloudWatch.
    telemetry: Callable[[FunctionSpec, str, list[str], float, bool], None] | None = None

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(
            max_workers=self.max_async_workers, thread_name_prefix="lambda-event"
        )
        self._pending: set[Future[InvokeResult]] = set()
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[_ExecutionEnvironment]] = {}
        self._all: set[_ExecutionEnvironment] = set()

    def register(self, spec: FunctionSpec) -> None:
        """Deploy (or redeploy) a function; warm environments of an earlier version are discarded."""
        key = (spec.region, spec.name)
        with self._lock:
            self.functions[key] = spec
            stale = self._idle.pop(key, [])
        for environment in stale:
            self._discard(environment)

    def prewarm(self, region: str | None = None) -> None:
        """Start one execution environment per function (of `region`) now, so that its init phase runs
        while the caller does other work (Lambda's provisioned concurrency)."""
        for spec in list(self.functions.values()):
            if region is None or spec.region == region:
                environment = _ExecutionEnvironment(
                    spec, self.process_environment(spec), self.log_path(spec.name)
                )
                with self._lock:
                    self._all.add(environment)
                    self._idle.setdefault((spec.region, spec.name), []).append(environment)

    def _acquire(self, spec: FunctionSpec) -> _ExecutionEnvironment:
        with self._lock:
            idle = self._idle.get((spec.region, spec.name), [])
            while idle:
                environment = idle.pop()
                if environment.alive:
                    return environment
                self._all.discard(environment)
        environment = _ExecutionEnvironment(spec, self.process_environment(spec), self.log_path(spec.name))
        with self._lock:
            self._all.add(environment)
        return environment

    def _release(self, environment: _ExecutionEnvironment) -> None:
        key = (environment.spec.region, environment.spec.name)
        with self._lock:
            current = self.functions.get(key) is environment.spec and environment.alive
            if current:
                self._idle.setdefault(key, []).append(environment)
        if not current:
            self._discard(environment)

    def _discard(self, environment: _ExecutionEnvironment) -> None:
        environment.kill()
        with self._lock:
            self._all.discard(environment)

    def resolve(self, identifier: str, region: str | None = None) -> FunctionSpec:
        """A function by name, ARN or partial ARN (the region of an ARN wins over `region`)."""
        match = FUNCTION_ARN.match(identifier)
        if not match:
            raise FunctionNotFound(identifier)
        key = (match.group("region") or region or self.default_region, match.group("name"))
        spec = self.functions.get(key)
        if spec is None:
            raise FunctionNotFound(f"arn:aws:lambda:{key[0]}:{ACCOUNT_ID}:function:{key[1]}")
        return spec

    def process_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What the function's process sees: the runtime's variables, the stack's, then the function's own."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": SRC_DIR,
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
        }
        env.update(self.base_environment)
        env.update(spec.environment)
        if os.environ.get("SMART_VAULT_AWS_CALLS"):  # the authorization layer's records (smart_vault.authz)
            env["SMART_VAULT_AWS_CALLS"] = os.environ["SMART_VAULT_AWS_CALLS"]
        return env

    def invoke(self, spec: FunctionSpec, payload: bytes, *, tail: bool = False) -> InvokeResult:
        """Run one invocation to its end (RequestResponse)."""
        request_id = str(uuid.uuid4())
        try:
            event = json.loads(payload or b"{}")
        except ValueError:
            return error_result(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            )
        started = time.time()
        request = {
            "event": event,
            "context": {
                "function_name": spec.name,
                "invoked_function_arn": spec.arn,
                "aws_request_id": request_id,
                "memory_limit_in_mb": spec.memory_mb,
                "deadline_epoch_ms": (started + spec.timeout_seconds) * 1000,
            },
        }
        log_path = self.log_dir / f".{spec.name}.{request_id}.log"
        request["log_path"] = str(log_path)
        refused = _refused_by_role(spec, self.process_environment(spec))
        if refused is not None:
            return refused
        environment = self._acquire(spec)
        try:
            answer = environment.call(request, timeout=spec.timeout_seconds)
        except TimeoutError:
            self._discard(environment)  # Lambda also throws away a timed-out environment
            message = f"Task timed out after {spec.timeout_seconds:.2f} seconds"
            answer = {"error": {"errorType": "Sandbox.Timedout", "errorMessage": message}}
        except (EOFError, OSError, ValueError) as exc:
            self._discard(environment)
            answer = {"error": _runtime_exit(exc)}
        else:
            self._release(environment)
        logs = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
        log_path.unlink(missing_ok=True)
        self._write_log(spec, request_id, logs, time.time() - started)
        self._ship(spec, request_id, logs, time.time() - started, "error" in answer)
        tail_text = base64.b64encode(logs.encode()[-LOG_TAIL_BYTES:]).decode() if tail else ""
        if "error" in answer:
            return InvokeResult(200, json.dumps(answer["error"]).encode(), "Unhandled", tail_text, request_id)
        return InvokeResult(200, json.dumps(answer["result"]).encode(), None, tail_text, request_id)

    def invoke_async(self, spec: FunctionSpec, payload: bytes) -> Future[InvokeResult]:
        """Queue an invocation (InvocationType=Event); `wait_idle` waits for every queued one."""
        future = self._executor.submit(self.invoke, spec, payload)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[InvokeResult]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no asynchronous invocation is queued or running (False on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.05)
        return False

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
        with self._lock:
            environments = list(self._all)
            self._idle.clear()
        for environment in environments:
            self._discard(environment)

    def _ship(self, spec: FunctionSpec, request_id: str, logs: str, duration: float, failed: bool) -> None:
        if self.telemetry is None:
            return
        try:
            self.telemetry(spec, request_id, logs.splitlines(), duration * 1000, failed)
        except Exception as exc:  # noqa: BLE001 - the invocation's answer stands; the miss is logged
            with self._log_lock, self.log_path(spec.name).open("a", encoding="utf-8") as out:
                out.write(f"(local stack) logs and metrics not shipped to CloudWatch: {exc!r}\n")

    def log_path(self, function_name: str) -> Path:
        return self.log_dir / f"{function_name}.log"

    def _write_log(self, spec: FunctionSpec, request_id: str, logs: str, duration: float) -> None:
        with self._log_lock, self.log_path(spec.name).open("a", encoding="utf-8") as out:
            out.write(f"START RequestId: {request_id} Version: $LATEST\n{logs}")
            if logs and not logs.endswith("\n"):
                out.write("\n")
            out.write(
                f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {duration * 1000:.2f} ms\n"
            )


_ENFORCER: list[Any] = []


def _refused_by_role(spec: FunctionSpec, environment: dict[str, str]) -> InvokeResult | None:
    """What the Lambda service itself does with the function's role before running it (its log stream, its
    environment's key; smart_vault.authz.lambda_service): an error answer when the role does not allow it."""
    from botocore.exceptions import ClientError

    from smart_vault.authz import callers
    from smart_vault.authz.enforce import Enforcer
    from smart_vault.authz.facts import MotoFacts

    function = callers.function_of_module(spec.handler.removeprefix("smart_vault.").rpartition(".")[0])
    if not function or function == callers.UNMAPPED:
        return None
    if not _ENFORCER:
        _ENFORCER.append(Enforcer(MotoFacts()))
    try:
        _ENFORCER[0].check_invocation(function, environment)
    except ClientError as exc:
        return error_result(502, "KMSAccessDeniedException", str(exc))
    return None


def _runtime_exit(exc: BaseException) -> dict[str, str]:
    return {"errorType": "Runtime.ExitError", "errorMessage": f"the runtime process failed: {exc!r}"}


def error_result(status: int, error_type: str, message: str) -> InvokeResult:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return InvokeResult(status, body, function_error=error_type)
