"""One warm execution environment of a local Lambda function: a process of `smart_vault.local.runtime`."""

from __future__ import annotations

import json
import select
import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smart_vault.local.lambda_service import FunctionSpec


class ExecutionEnvironment:
    """One warm process of one function: one invocation at a time, over a line of JSON each way."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str], log_path: Path) -> None:
        self.spec = spec
        with log_path.open("ab") as crash_log:  # what the runtime prints outside any invocation
            # A fixed argv: this interpreter and this package's runtime module; the handler is a dotted name.
            self.process = subprocess.Popen(  # noqa: S603  # nosec B603
                [sys.executable, "-m", "smart_vault.local.runtime", spec.handler],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=crash_log,
                env=environment,
            )

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The runtime's answer; TimeoutError after `timeout` s, EOFError if the process died."""
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:
            raise EOFError("no pipes to the runtime")
        stdin.write(json.dumps(request).encode() + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = stdout.readline()
        if not line:
            raise EOFError(self.process.wait())
        return json.loads(line)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
