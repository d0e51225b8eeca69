"""The Terraform of this repository as the authorization layer reads it: every top-level block of a module's
.tf files (python-hcl2, kept by digest in `hcl_cache`), quotes and bookkeeping dropped, the calls of the shared
function module expanded into their callers (`tf_inline`); and the lock every reader holds. `terraform` renders
the policies from these blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from smart_vault.authz.hcl_cache import parsed as _parsed
from smart_vault.authz.tf_inline import inline_calls

REPO = Path(__file__).resolve().parents[3]
RESTORE_DIR = REPO / "modules" / "restore_stack"
DRILL_DIR = REPO / "modules" / "drill_stack"
VAULT_DIR = REPO / "modules" / "vault_account"
BOOKKEEPING = ("__is_block__", "__comments__", "__inline_comments__")

# Rendering is not thread-safe: a module instance's evaluator is shared (cached) and `render_document` binds
# `each` / `statement` in its names while it expands a dynamic block, and the HCL parser is not safe to share
# either. A function's threads (a drill's parallel drills, the backup's copy pool) evaluate their first calls
# at once, so every entry point that reads the Terraform or a scope holds this lock: without it, one
# thread's `statement.value` was another document's, and a drill failed in register_image with "string
# indices must be integers, not 'str'" (tests/authz/test_terraform_render.py renders from many threads).
RENDERING = threading.RLock()


_F = TypeVar("_F", bound=Callable[..., Any])


def serialized(function: _F) -> _F:
    """`functools.cache`, computed and read under RENDERING."""
    cached = cache(function)

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with RENDERING:
            return cached(*args, **kwargs)

    return cast(_F, wrapper)


def unquote(value: Any) -> Any:
    """hcl2 keeps the quotes of string literals and block labels, and adds bookkeeping keys: drop both."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1].replace('\\"', '"')
        return value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k not in BOOKKEEPING}
    return value


@serialized
def parse_dir(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of every .tf file of one directory, by block kind, with the calls of the shared
    function module expanded into them (`tf_inline`)."""
    blocks: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, items in _parsed(path.read_text(encoding="utf-8")).items():
            blocks.setdefault(kind, []).extend(unquote(items))
    return inline_calls(directory, blocks, parse_dir)


def labelled(directory: Path, kind: str, type_name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in parse_dir(directory).get(kind, []):
        found.update(item.get(type_name, {}))
    return found


def _merged(directory: Path, kind: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in parse_dir(directory).get(kind, []):
        merged.update(item)
    return merged


class _Lazy(dict):
    """`local` / `var` / `module` as the evaluator sees them: each name evaluated on first use."""

    def __init__(self, compute) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, name: str) -> Any:
        value = self._compute(name)
        self[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return True
