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
from types import FrameType
from typing import Any

ENV = "SMART_VAULT_AWS_CALLS"
UNMAPPED = "?"
NOT_A_FUNCTION = ""

# smart_vault submodule (its dotted path, or the longest dotted prefix of it) -> the Lambda function whose code it is.
_FUNCTION_OF_MODULE = {
    "backup": "backup",
    "restore_api": "restore_api",
    "restore.api": "restore_api",
    "restore.request": "restore_api",
    "restore.checks": "restore_api",
    "restore.recovery_points": "restore_api",
    "restore_worker": "restore_worker",
    "restore.worker": "restore_worker",
    "restore.steps": "restore_worker",
    "drill": "drill",
    "vault": "vault",  # (v3) the vault account's function
}
# Shared by several functions: the caller further out on the stack decides.
SHARED_MODULES = {
    "aws",
    "config",
    "errors",
    "observability",
    "notify",
    "pacing",
    "schemas",
    "__init__",
    "restore",
    "restore.jobs",
    "restore.shared",
    # The full-instance engine runs in the worker and in the drill function; the GET /drills route and the
    # drill function both read the drill results.
    "restore.instance",
    "drill.results",
    # (v3) Snapshot Lock, and the copy ledger, snapshot listing and pruning the vault function reuses.
    "snapshot_locks",
    "backup.ledger",
    "backup.snapshots",
    "backup.prune",
}
# Not Lambda code: calls made by the local stack, the CLI or the simulation themselves are not any function's.
NOT_LAMBDA = {"local", "cli", "sim"}


def function_of_module(module: str) -> str | None:
    """The function a submodule belongs to; None when shared, NOT_A_FUNCTION for the local stack and CLI,
    UNMAPPED for a module this map does not know yet (tests/iam then names it)."""
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in SHARED_MODULES:
            return None
        if prefix in _FUNCTION_OF_MODULE:
            return _FUNCTION_OF_MODULE[prefix]
        if prefix in NOT_LAMBDA:
            return NOT_A_FUNCTION
    return UNMAPPED


def calling_function(frame: FrameType | None) -> tuple[str | None, str]:
    """(function, module) of the innermost smart_vault module on the stack that is not shared."""
    unmapped_module = ""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("smart_vault."):
            submodule = module.removeprefix("smart_vault.")
            function = function_of_module(submodule)
            if function == NOT_A_FUNCTION:
                return None, module
            if function == UNMAPPED:
                unmapped_module = unmapped_module or module
            elif function is not None:
                return function, module
        frame = frame.f_back
    if unmapped_module:
        return UNMAPPED, unmapped_module
    return None, ""


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
        attached = client.__dict__.setdefault("_smart_vault_recorders", set())
        if id(self) in attached:
            return client
        attached.add(id(self))
        service = client.meta.service_model.service_name
        region = client.meta.region_name or ""

        def before_call(model: Any, **_: Any) -> None:
            self.record(service, model.name, region)

        client.meta.events.register_first("before-call", before_call)
        return client


@contextmanager
def recording(directory: str) -> Iterator[Recorder]:
    """Attach the recorder to every botocore client created inside the block (boto3's and smart_vault.aws's)."""
    import botocore.session

    recorder = Recorder(Path(directory))
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        return recorder.attach(original(self, *args, **kwargs))

    botocore.session.Session.create_client = create_client
    try:
        yield recorder
    finally:
        botocore.session.Session.create_client = original
