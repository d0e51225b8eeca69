"""The Lambda runtime of the local stack: runs one handler invocation in this process, then exits.

`python -m smart_vault.local.runtime HANDLER` reads `{"event": ..., "context": {...}}` from stdin and writes
`{"result": ...}` or `{"error": {"errorType", "errorMessage", "stackTrace"}}` to stdout. Everything the
handler prints or logs goes to stderr (the function's log), so the payload channel stays clean whatever the
handler writes. The process environment is exactly the function's environment: the parent builds it.
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


def main() -> int:
    # Keep the real stdout for the payload; the handler's prints and logs go to stderr.
    payload_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    request = json.loads(sys.stdin.read() or "{}")
    answer = run(sys.argv[1], request)
    try:
        text = json.dumps(answer)
    except (TypeError, ValueError) as exc:
        text = json.dumps(
            {"error": {"errorType": "Runtime.MarshalError", "errorMessage": str(exc), "stackTrace": []}}
        )
    payload_out.write(text)
    payload_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
