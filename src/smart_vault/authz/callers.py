"""Which Lambda function is making an AWS call: the innermost smart_vault module on the Python stack that
belongs to one function (shared modules such as `aws`, `notify` or `restore.jobs` are skipped, so that their
caller decides; the local stack, the CLI and the simulation are no function at all).

Used by the authorization layer (`hook.py`) and by the tests' AWS call recorder.
"""

from __future__ import annotations

from types import FrameType

UNMAPPED = "?"
NOT_A_FUNCTION = ""

# smart_vault submodule (its dotted path, or the longest dotted prefix of it) -> the Lambda function whose code it is.
_FUNCTION_OF_MODULE = {
    "backup": "backup",
    "restore_api": "restore_api",
    "restore.request": "restore_api",
    "restore.checks": "restore_api",
    "restore.recovery_points": "restore_api",
    "restore_worker": "restore_worker",
    "restore.worker": "restore_worker",
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
    "tags",
    "snapshot_model",
    "recovery_sets",
    # The restore engine (both forms: create, wait, find by tag, roll back) runs in the worker and in the
    # drill function: the drill's calls are the drill's. The GET /drills route and the drill function both
    # read the drill results.
    "restore.engine",
    "drill.results",
    # (v3) The backup writes the change measurements; GET /recovery-points reads them.
    "backup.change_ledger",
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
