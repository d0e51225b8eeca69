"""The text of inlined module calls: HCL expressions rewritten, and what a call's arguments alone decide.

`tf_inline` expands a call of a shared module into its caller by rewriting python-hcl2's strings (every
string a template, `${...}` an expression). These are its pieces that read or rewrite one value:
`expression` (a value as HCL text), `_substitute` (references replaced inside templates), `_chosen` and
`_folded` (conditionals and arithmetic on literals decided), `_absent` / `_uncounted` (a `count` of 0 or 1),
`_instances` / `_with_each` (a `for_each` over a map the call writes out), `_expand_dynamic` (a `dynamic`
block over the call's values or a counted resource of the module) and `_with_meta` (the call's own
`count`, `for_each` and `providers` on each block it creates).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from smart_vault.authz.hcl import Evaluator
from smart_vault.authz.hcl_lexer import HclError, string_end, template_parts

_SIMPLE = re.compile(r"^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[[^][]*\])*$")
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


_EACH = re.compile(r"(?<![\w.])each\.(key|value)((?:\.[A-Za-z_][\w-]*)*)(?![\w-])")


def _instances(label: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A block whose for_each is a map written out as its instances, `<label>["<key>"]`, each with `each.key`
    and `each.value` in place (an attribute that becomes null is one not set); any other block as it is."""
    for_each = body.get("for_each")
    if not isinstance(for_each, dict) or not for_each:
        return {label: body}
    rest = {name: v for name, v in body.items() if name != "for_each"}
    instances = {
        key: _map_strings(rest, partial(_with_each, {"key": key, "value": value}))
        for key, value in for_each.items()
    }
    return {
        f'{label}["{key}"]': {name: v for name, v in instance.items() if v is not None}
        for key, instance in instances.items()
    }


def _each_value(each: dict[str, Any], match: re.Match[str]) -> tuple[Any, str]:
    """What `each.key` / `each.value` and the attributes after it name (`each.value.hours` of an object
    entry is that entry's `hours`), and the rest of the reference it could not follow."""
    value, attributes = each[match.group(1)], match.group(2).split(".")[1:]
    while attributes and isinstance(value, dict) and attributes[0] in value:
        value = value[attributes.pop(0)]
    return value, "".join(f".{a}" for a in attributes)


def _with_each(each: dict[str, Any], text: str) -> Any:
    def replace(match: re.Match[str]) -> str:
        value, rest = _each_value(each, match)
        return expression(value) + rest

    def whole(reference: str) -> Any:
        match = _EACH.fullmatch(reference)
        if match is None:
            return _NOT_ONE
        value, rest = _each_value(each, match)
        return _NOT_ONE if rest else value

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
