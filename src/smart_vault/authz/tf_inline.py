"""Calls of the shared child modules, inlined into their caller as Terraform would expand them.

Every Lambda function is an instance of `modules/function` (function, role, role policies, log group,
dead-letter queue, invoke config, standard alarms), every table of `modules/table`, every metric alarm of
`modules/alarm`, every Recycle Bin rule of `modules/recycle_bin`, and the restore worker and the drill share
`modules/instance_restore_iam`. The evaluator (`terraform.py`) and the tests read each directory's blocks by
type and name (`aws_lambda_function.backup`, `aws_iam_role_policy.restore_worker`), so a call of one of these
(INLINED) is expanded into its caller:

- the module's resources and data sources join the caller's, renamed after the call: a block labelled
  `this` takes the call's name (`module "backup"`'s `aws_iam_role.this` is `aws_iam_role.backup`), any
  other label `<call>_<label>` (`aws_sqs_queue.dlq` is `aws_sqs_queue.backup_dlq`,
  `data.aws_iam_policy_document.logs` is `backup_logs`); `data.aws_caller_identity.current`,
  `data.aws_partition.current` and `data.aws_region.current` mean the same in the caller (the region of the
  provider the caller gives the call, which is the module instance's own) and keep their names;
- the module's locals join the caller's as `<call>_<name>` (`local.instance_restore_iam_image_arns`);
- inside them, `var.<name>` is the call's argument (or the variable's default; an argument set to null is
  not set), and references to the module's own blocks and locals follow the renaming;
- what the call's arguments alone decide is decided: a `count` that is 0 (the block is not there) or 1, a
  conditional on a literal, a `dynamic` block over the call's values or over a counted resource of the
  module; the call's own `count`, `for_each` and `providers` go onto each block it creates;
- a block whose `for_each` is a map the call writes out (`function`'s standard alarms over `var.alarms`:
  metric => description) is its instances, `<label>["<key>"]`, with `each.key` and `each.value` in place;
- a module that calls another inlined module (`function` calls `alarm`) is expanded first;
- in the caller, `module.<call>.<output>` is the output's expression.

The expansion is textual on python-hcl2's output (every string a template, `${...}` an expression), so the
evaluator then renders the inlined policies, names and environments exactly as it renders the caller's own:
the same statements as when the caller wrote the resources itself. A module that calls a module this does
not inline raises instead of rendering something else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smart_vault.authz.hcl_lexer import HclError
from smart_vault.authz.tf_values import (
    _NOT_ONE,
    _SIMPLE,
    _absent,
    _chosen,
    _expand_dynamic,
    _folded,
    _independent,
    _instances,
    _map_strings,
    _substitute,
    _uncounted,
    _with_meta,
    expression,
)

# modules/<name> whose calls are inlined into their callers.
INLINED = ("function", "instance_restore_iam", "table", "alarm", "recycle_bin")
_KEEP = {("aws_caller_identity", "current"), ("aws_partition", "current"), ("aws_region", "current")}
_REF = re.compile(
    r"(?<![\w.])(?:var\.([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)|local\.([A-Za-z_][\w-]*)"
    r"|(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*))"
)

Blocks = dict[str, list[Any]]


class _Call:
    """One module call: its arguments, and the names its module's blocks take in the caller."""

    def __init__(self, name: str, arguments: dict[str, Any], module: Blocks) -> None:
        self.name = name
        self.locals: dict[str, Any] = {}
        for item in module.get("locals", []):
            self.locals.update(item)
        variables: dict[str, Any] = {}
        for item in module.get("variable", []):
            variables.update(item)
        self.arguments = {n: arguments.get(n, body.get("default")) for n, body in variables.items()}
        self.declared = {
            (kind, type_name, label)
            for kind in ("resource", "data")
            for item in module.get(kind, [])
            for type_name, labelled in item.items()
            for label in labelled
        }

    def label(self, type_name: str, label: str) -> str:
        if (type_name, label) in _KEEP:
            return label
        return self.name if label == "this" else f"{self.name}_{label}"

    def argument(self, path: str) -> tuple[Any, str]:
        """The argument `var.<path>` names, followed into an object argument's attributes (an optional
        attribute left out is null), and the part of the path left over when it meets an expression."""
        name, *attributes = path.split(".")
        value = self.arguments[name]
        while attributes and isinstance(value, dict):
            value = value.get(attributes.pop(0))
        return value, "".join(f".{a}" for a in attributes)

    def renamed_locals(self) -> dict[str, Any]:
        """The module's locals as the caller's: `<call>_<name>`, rewritten like its blocks."""
        return {f"{self.name}_{name}": self.rewrite(value) for name, value in self.locals.items()}

    def _replace(self, match: re.Match[str]) -> str:
        if match.group(1):
            value, rest = self.argument(match.group(1))
            text = expression(value)
            # `var.code.zip_path` with code = var.function_code: `var.function_code.zip_path`.
            return text + rest if not rest or _SIMPLE.match(text) else f"({text}){rest}"
        if match.group(2):
            return f"local.{self.name}_{match.group(2)}"
        data, type_name, label = match.group(3) or "", match.group(4), match.group(5)
        if ("data" if data else "resource", type_name, label) not in self.declared:
            return match.group(0)
        return f"{data}{type_name}.{self.label(type_name, label)}"

    def _whole(self, reference: str) -> Any:
        match = re.fullmatch(r"var\.([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)", reference)
        if not match:
            return _NOT_ONE
        value, rest = self.argument(match.group(1))
        return _NOT_ONE if rest else value

    def rewrite(self, value: Any) -> Any:
        rewritten = _map_strings(
            value, lambda text: _chosen(_folded(_substitute(text, _REF, self._replace, self._whole)))
        )
        if isinstance(rewritten, dict):  # an argument set to null is an argument not set
            return {k: v for k, v in rewritten.items() if v is not None}
        return rewritten


def _module_directory(directory: Path, source: Any) -> Path | None:
    if not isinstance(source, str) or not source.startswith("."):
        return None
    target = (directory / source).resolve()
    return target if target.name in INLINED else None


def _inline_call(
    directory: Path, name: str, arguments: dict[str, Any], parse: Callable[[Path], Blocks], added: Blocks
) -> dict[str, Any] | None:
    """Expand one module call into `added` (its resources, data sources and locals, renamed); its outputs'
    expressions, or None when the call is not of an INLINED module or creates nothing (`count = 0`)."""
    target = _module_directory(directory, arguments.get("source"))
    if target is None:
        return None
    module = parse(target)
    for nested in (n for item in module.get("module", []) for n in item.values()):
        if _module_directory(target, nested.get("source")) is None:
            raise HclError(f"module call {name}: {target.name} calls a module that is not inlined")
    count = arguments.get("count")
    if count is not None and _absent({"count": count}):
        return None
    # The call's meta-arguments apply to each block it creates.
    meta = {} if count is None or _independent(count) == 1 else {"count": count}
    if arguments.get("for_each") is not None:
        meta["for_each"] = arguments["for_each"]
    if "aws" in (arguments.get("providers") or {}):
        meta["provider"] = arguments["providers"]["aws"]
    call = _Call(name, arguments, module)
    if call.locals:
        added["locals"].append(call.renamed_locals())
    dropped: set[tuple[str, str]] = set()
    first = len(added["resource"])
    for kind in ("resource", "data"):
        for entry in module.get(kind, []):
            for type_name, labelled in entry.items():
                rewritten = {
                    instance: expanded
                    for label, body in labelled.items()
                    if (type_name, label) not in _KEEP
                    for instance, expanded in _instances(
                        call.label(type_name, label), _with_meta(meta, call.rewrite(body))
                    ).items()
                }
                renamed = {label: _uncounted(body) for label, body in rewritten.items() if not _absent(body)}
                dropped.update((type_name, label) for label in rewritten if label not in renamed)
                if renamed:
                    added[kind].append({type_name: renamed})
    for entry in added["resource"][first:]:
        for body in (b for labelled in entry.values() for b in labelled.values()):
            _expand_dynamic(body, dropped)
    return {
        output: call.rewrite(body["value"])
        for entry in module.get("output", [])
        for output, body in entry.items()
    }


def inline_calls(directory: Path, blocks: Blocks, parse: Callable[[Path], Blocks]) -> Blocks:
    """`blocks` (one directory's, unquoted) with every call of an INLINED module expanded into them."""
    outputs: dict[str, dict[str, Any]] = {}
    added: Blocks = {"resource": [], "data": [], "locals": []}
    for item in blocks.get("module", []):
        for name, arguments in item.items():
            found = _inline_call(directory, name, arguments, parse, added)
            if found is not None:
                outputs[name] = found
    if not outputs:
        return blocks
    return _with_outputs(blocks, added, outputs)


def _with_outputs(blocks: Blocks, added: Blocks, outputs: dict[str, dict[str, Any]]) -> Blocks:
    """`blocks` and `added` merged, every `module.<call>.<output>` replaced by the output's expression."""
    reference = re.compile(
        r"(?<![\w.])module\.(" + "|".join(map(re.escape, outputs)) + r")\.([A-Za-z_][\w-]*)"
    )

    def output_of(match: re.Match[str]) -> str:
        found = outputs[match.group(1)].get(match.group(2))
        return match.group(0) if found is None else expression(found)

    def whole(text: str) -> Any:
        match = reference.fullmatch(text)
        if not match or match.group(2) not in outputs[match.group(1)]:
            return _NOT_ONE
        return outputs[match.group(1)][match.group(2)]

    def rewrite(text: str) -> Any:
        return _substitute(text, reference, output_of, whole)

    merged = {kind: list(items) for kind, items in blocks.items()}
    for kind, items in added.items():
        merged.setdefault(kind, []).extend(items)
    return {kind: _map_strings(items, rewrite) for kind, items in merged.items()}
