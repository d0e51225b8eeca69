"""Calls of the shared child modules, inlined into their caller as Terraform would expand them.

Every Lambda function is an instance of `modules/function` (function, role, role policies, log group,
dead-letter queue, invoke config, standard alarms), every table of `modules/table`, every metric alarm of
`modules/alarm`, and the restore worker and the drill share `modules/instance_restore_iam`. The evaluator
(`terraform.py`) and the tests read each directory's blocks by type and name (`aws_lambda_function.backup`,
`aws_iam_role_policy.restore_worker`), so a call of one of these (INLINED) is expanded into its caller:

- the module's resources and data sources join the caller's, renamed after the call: a block labelled
  `this` takes the call's name (`module "backup"`'s `aws_iam_role.this` is `aws_iam_role.backup`), any
  other label `<call>_<label>` (`aws_sqs_queue.dlq` is `aws_sqs_queue.backup_dlq`,
  `data.aws_iam_policy_document.logs` is `backup_logs`); `data.aws_caller_identity.current` and
  `data.aws_partition.current` mean the same in the caller and keep their names;
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
from functools import partial
from pathlib import Path
from typing import Any

from smart_vault.authz.hcl import Evaluator
from smart_vault.authz.hcl_lexer import HclError, string_end, template_parts

# modules/<name> whose calls are inlined into their callers.
INLINED = ("function", "instance_restore_iam", "table", "alarm")
_KEEP = {("aws_caller_identity", "current"), ("aws_partition", "current")}
_SIMPLE = re.compile(r"^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[[^][]*\])*$")
_REF = re.compile(
    r"(?<![\w.])(?:var\.([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)|local\.([A-Za-z_][\w-]*)"
    r"|(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*))"
)

Blocks = dict[str, list[Any]]
_NOT_ONE = object()  # a template that is not one reference to a known value


def expression(value: Any) -> str:
    """HCL expression text of a value as python-hcl2 gives it (after unquoting: strings are templates)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(expression(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {expression(v)}' for k, v in value.items()) + "}"
    parts = template_parts(value)
    if len(parts) == 1 and parts[0][0]:
        inner = parts[0][1].strip()
        return inner if _SIMPLE.match(inner) else f"({inner})"
    if any('"' in text for is_expr, text in parts if not is_expr):
        raise HclError(f"cannot inline the string {value!r}")
    return f'"{value}"'


def _map_strings(value: Any, function: Callable[[str], Any]) -> Any:
    if isinstance(value, str):
        return function(value)
    if isinstance(value, list):
        return [_map_strings(v, function) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, function) for k, v in value.items()}
    return value


def _substitute(
    text: str, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], whole: Callable[[str], Any]
) -> Any:
    """A template with its references replaced; `whole` gives the value of a template that is one reference
    (so that a list or a map passed in stays one)."""
    parts = template_parts(text)
    if len(parts) == 1 and parts[0][0] and (value := whole(parts[0][1].strip())) is not _NOT_ONE:
        return value
    out = []
    for is_expr, part in parts:
        if not is_expr:
            out.append(part)
            continue
        spliced = whole(part.strip())
        if isinstance(spliced, str):  # `"/aws/lambda/${var.name}"` with name = "${var.prefix}-backup"
            out.append(spliced)
        else:
            out.append("${" + pattern.sub(replace, part) + "}")
    return "".join(out)


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


def _chosen(value: Any) -> Any:
    """`${true ? a : b}` (a condition the call's arguments decide, `notify_ok ? [topic] : null`) as the branch
    it takes: `${a}`, or None for `null`."""
    if not isinstance(value, str):
        return value
    parts = template_parts(value)
    if len(parts) != 1 or not parts[0][0]:
        return value
    text = parts[0][1]
    match = re.match(r"\s*(true|false)\s*\?", text)
    if not match:
        return value
    depth, pending, i = 0, 0, match.end()
    while i < len(text):
        c = text[i]
        if c == '"':
            i = string_end(text, i)
            continue
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(c, 0)
        if depth == 0 and c == "?":
            pending += 1
        elif depth == 0 and c == ":":
            if not pending:
                break
            pending -= 1
        i += 1
    else:
        return value
    branch = (text[match.end() : i] if match.group(1) == "true" else text[i + 1 :]).strip()
    return None if branch == "null" else "${" + branch + "}"


class _Unknown(Exception):
    """A reference to the caller's values."""


def _absent(body: dict[str, Any]) -> bool:
    """A block this call does not create: `count` 0 or an empty `for_each`, known from its arguments alone."""
    if "for_each" in body and body["for_each"] in ({}, []):
        return True
    if not isinstance(body.get("count"), str):
        return body.get("count") == 0
    return _independent(body["count"]) == 0


def _uncounted(body: dict[str, Any]) -> dict[str, Any]:
    """A block whose `count` is 1 whatever the caller's values, as the one block it is."""
    if isinstance(body.get("count"), str) and _independent(body["count"]) == 1:
        return {k: v for k, v in body.items() if k != "count"}
    return body


def _stand_in(value: Any, path: str) -> Any:
    return value


def _independent(text: str) -> Any:
    """The value of an expression whatever the caller's values it names (`lookup(var.alarms, "Errors", null)
    == null` is false for any description of Errors), else None: evaluated with the caller's references
    standing for two different strings and for null; a stand-in the expression cannot take (null in a string
    template, an error in Terraform too) tells nothing, and every other one must give the same value."""
    values = []
    for stand_in in ("\x00first", "\x00second", None):
        try:
            values.append(Evaluator({}, partial(_stand_in, stand_in)).value(text))
        except (HclError, KeyError, TypeError, ValueError, AttributeError, IndexError):
            if stand_in is not None:
                return None
    return values[0] if all(v == values[0] for v in values) else None


_EACH = re.compile(r"(?<![\w.])each\.(key|value)\b")


def _instances(label: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A block whose for_each is a map written out as its instances, `<label>["<key>"]`, each with `each.key`
    and `each.value` in place; any other block as it is."""
    for_each = body.get("for_each")
    if not isinstance(for_each, dict) or not for_each:
        return {label: body}
    rest = {name: v for name, v in body.items() if name != "for_each"}
    return {
        f'{label}["{key}"]': _map_strings(rest, partial(_with_each, {"key": key, "value": value}))
        for key, value in for_each.items()
    }


def _with_each(each: dict[str, Any], text: str) -> Any:
    def replace(match: re.Match[str]) -> str:
        return expression(each[match.group(1)])

    def whole(reference: str) -> Any:
        key = reference.removeprefix("each.")
        return each[key] if reference.startswith("each.") and key in each else _NOT_ONE

    return _folded(_substitute(text, _EACH, replace, whole))


def _folded(value: Any) -> Any:
    """A template's interpolations that name nothing (`${lower("Errors")}`) replaced by their text."""
    if not isinstance(value, str):
        return value

    def unknown(path: str) -> Any:
        raise _Unknown(path)

    out = []
    for is_expr, part in template_parts(value):
        if not is_expr:
            out.append(part)
            continue
        try:
            folded = Evaluator({}, unknown).expression(part, {})
        except (_Unknown, HclError, KeyError, TypeError):
            folded = None
        out.append(folded if isinstance(folded, str) else "${" + part + "}")
    return "".join(out)


_SPLAT = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)\[\*\]\.([a-z_]+)\}$")


def _replaced(old: str, new: str, text: str) -> str:
    return text.replace(old, new)


def _expand_dynamic(body: dict[str, Any], dropped: set[tuple[str, str]]) -> None:
    """A `dynamic` block written out as this call makes it, where its for_each is known from the call alone:
    a splat of one of the module's own counted resources (`aws_sqs_queue.dlq[*].arn`: no block where the
    call does not create that resource, else one naming its single instance, `aws_sqs_queue.backup_dlq[0]`),
    or a list of the call's values (a table's key attributes)."""
    remaining = []
    for dynamic in body.pop("dynamic", []):
        ((block, spec),) = dynamic.items()
        value = f"{block}.value"
        match = _SPLAT.match(str(spec.get("for_each")))
        if match:
            type_name, label, attribute = match.groups()
            if (type_name, label) in dropped:
                continue
            instance = f"{type_name}.{label}[0].{attribute}"
            body.setdefault(block, []).extend(
                _map_strings(spec["content"], partial(_replaced, value, instance))
            )
            continue
        items = _independent(str(spec.get("for_each")))
        if not isinstance(items, list):
            remaining.append(dynamic)
            continue
        for item in items:
            each = partial(_with_value, value, item)
            body.setdefault(block, []).extend(_map_strings(spec["content"], each))
    if remaining:
        body["dynamic"] = remaining


def _with_value(reference: str, item: Any, text: str) -> Any:
    """`${<block>.value}` of a dynamic block's content as one item of its for_each."""
    if text == "${" + reference + "}":
        return item
    return text.replace("${" + reference + "}", str(item))


def _with_meta(meta: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    if meta.keys() & body.keys():
        raise HclError(
            f"a counted module call creates a block that has its own {sorted(meta.keys() & body.keys())}"
        )
    return {**meta, **body}


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
