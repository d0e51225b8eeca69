"""The Lambda runtime of the local stack: one execution environment of one function, kept warm.

`python -m smart_vault.local.runtime HANDLER` is started with exactly the function's environment (the
parent builds it) and serves invocations one at a time, as a warm Lambda execution environment does:
each stdin line is `{"event": ..., "context": {...}, "log_path": str}` and gets one stdout line,
`{"result": ...}` or `{"error": {"errorType", "errorMessage", "stackTrace"}}`. While an invocation runs,
file descriptors 1 and 2 point at its `log_path`, so whatever the handler prints or logs is that
invocation's log and never mixes with the answers. Module state (clients, caches, cold-start flags)
survives between invocations, as in Lambda.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from smart_vault.authz import hook
from smart_vault.authz.api_facts import ApiFacts


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda Python context object that handlers and Powertools use."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int
    deadline_epoch_ms: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self.deadline_epoch_ms - time.time() * 1000), 0)


def load_handler(dotted: str) -> Any:
    """`package.module.function` -> the function (ValueError when the string has no module part)."""
    module_name, _, function_name = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {dotted!r} must be module.function")
    return getattr(importlib.import_module(module_name), function_name)


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Lambda's error document for an unhandled exception."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def run(handler_path: str, request: dict[str, Any]) -> dict[str, Any]:
    """Invoke the handler once and wrap its answer (or its exception) for the parent."""
    ctx = request.get("context", {})
    context = LambdaContext(
        function_name=ctx.get("function_name", ""),
        invoked_function_arn=ctx.get("invoked_function_arn", ""),
        aws_request_id=ctx.get("aws_request_id", ""),
        memory_limit_in_mb=int(ctx.get("memory_limit_in_mb", 128)),
        deadline_epoch_ms=float(ctx.get("deadline_epoch_ms", time.time() * 1000 + 3000)),
        log_group_name=f"/aws/lambda/{ctx.get('function_name', '')}",
        log_stream_name=ctx.get("aws_request_id", ""),
    )
    try:
        handler = load_handler(handler_path)
        return {"result": handler(request.get("event"), context)}
    except Exception as exc:  # noqa: BLE001 - reported to the caller as Lambda's Unhandled error
        traceback.print_exc()
        return {"error": error_payload(exc)}


def answer_line(answer: dict[str, Any]) -> str:
    try:
        return json.dumps(answer) + "\n"
    except (TypeError, ValueError) as exc:
        error = {"errorType": "Runtime.MarshalError", "errorMessage": str(exc), "stackTrace": []}
        return json.dumps({"error": error}) + "\n"


def invoke_with_log(handler_path: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation with fds 1 and 2 redirected to its log file."""
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(request["log_path"], "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            return run(handler_path, request)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main() -> int:
    # Answers go to the real stdout only; fd 1 itself is pointed elsewhere so that stray prints never
    # corrupt the answer channel, even between invocations.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Lambda's init phase: import the handler's module before the first invocation arrives. A failure is
    # reported by each invocation (which tries again), as Lambda reports Runtime.ImportModuleError.
    # Every AWS call of the function is evaluated against its Terraform IAM policies (smart_vault.authz),
    # with the facts read from the local endpoint.
    with hook.enforcing(facts=ApiFacts()):
        try:
            load_handler(sys.argv[1])
        except Exception:  # noqa: BLE001 - reported by the invocations
            traceback.print_exc()
        for line in sys.stdin:
            if not line.strip():
                continue
            answers.write(answer_line(invoke_with_log(sys.argv[1], json.loads(line))))
            answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
