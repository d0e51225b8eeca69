"""Records every AWS operation the code under test makes, and which Lambda function made it.

Active only when `SMART_VAULT_AWS_CALLS` names a directory (`make test` sets it for its first pytest run):
every botocore client created while recording gets a `before-call` handler that appends
`{"function", "service", "operation", "region", "module"}` to `<dir>/calls-<pid>.jsonl` (one file per
process, so pytest-xdist workers never share one). `tests/iam` then checks that each recorded operation is
granted to the IAM role Terraform gives that function.

The function is found by walking the Python stack from the call outwards to the first module that belongs
to one Lambda; shared modules (jobs, notify, aws...) are skipped so that their caller decides.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smart_vault.authz.callers import (  # noqa: F401 - re-exported for the tests that use them
    _FUNCTION_OF_MODULE,
    NOT_A_FUNCTION,
    NOT_LAMBDA,
    SHARED_MODULES,
    UNMAPPED,
    calling_function,
    function_of_module,
)
from smart_vault.authz.hook import every_client, hook_client

ENV = "SMART_VAULT_AWS_CALLS"


class Recorder:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / f"calls-{os.getpid()}.jsonl"
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def record(self, service: str, operation: str, region: str) -> None:
        function, module = calling_function(sys._getframe(2))
        if function is None:  # test setup, the local stack or the CLI: no Lambda made this call
            return
        key = (function, service, operation, region, module if function == UNMAPPED else "")
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            line = {"function": function, "service": service, "operation": operation, "region": region}
            line["module"] = module
            with self._path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")

    def attach(self, client: Any) -> Any:
        return hook_client(client, self, "before-call", self._before_call)

    def _before_call(self, service: str, region: str, model: Any, **_: Any) -> None:
        self.record(service, model.name, region)


@contextmanager
def recording(directory: str) -> Iterator[Recorder]:
    """Attach the recorder to every botocore client created inside the block (boto3's and smart_vault.aws's)."""
    recorder = Recorder(Path(directory))
    with every_client(recorder.attach):
        yield recorder
