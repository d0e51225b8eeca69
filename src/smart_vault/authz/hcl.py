"""A small evaluator of the Terraform expressions the IAM policy documents use (pure, no Terraform binary).

python-hcl2 parses the files but leaves every expression as its source text (`${concat(local.a, ...)}`).
This evaluates the subset the repository's policies and their locals use: string templates, references
(`local.`, `var.`, `each.`, for-loop names, and resource/data attributes through a `resolve_ref` callback),
indexing, lists, maps, for-expressions, conditionals, comparisons, `&&`/`||`/`!`, and the functions
`concat flatten sort distinct length element split join toset tolist coalesce one replace lower upper
tostring jsonencode lookup keys values merge try`. Anything else raises `HclError` naming the text, so a new construct in the Terraform
fails loudly instead of rendering a wrong policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from smart_vault.authz.hcl_lexer import HclError, template_parts, tokenize


@dataclass
class Ref:
    """A reference this evaluator cannot see into (a resource or data attribute): resolved by the caller."""

    path: str


class Evaluator:
    def __init__(self, names: dict[str, Any], resolve_ref: Callable[[str], Any]) -> None:
        self.names = names
        self.resolve_ref = resolve_ref

    # ---- entry points
    def value(self, raw: Any) -> Any:
        """A value as hcl2 gives it: strings are templates, lists and maps hold more of them."""
        if isinstance(raw, str):
            return self.template(raw, {})
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items()}
        return raw

    def template(self, body: str, scope: dict[str, Any]) -> Any:
        parts = template_parts(body)
        if len(parts) == 1 and parts[0][0]:
            return self.expression(parts[0][1], scope)
        return "".join(
            text if not is_expr else _text(self.expression(text, scope)) for is_expr, text in parts
        )

    def expression(self, text: str, scope: dict[str, Any]) -> Any:
        parser = _Parser(tokenize(text), self, text)
        node = parser.ternary()
        if parser.pos != len(parser.tokens):
            raise HclError(f"unexpected {parser.tokens[parser.pos][1]!r} in {text!r}")
        return _resolved(self, node(scope))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise HclError(f"cannot interpolate {value!r} into a string")


def _function(name: str, args: list[Any]) -> Any:
    if name in ("concat",):
        return [v for a in args for v in a]
    if name == "flatten":
        out: list[Any] = []
        stack = list(args[0])
        for item in stack:
            out.extend(_function("flatten", [item]) if isinstance(item, list) else [item])
        return out
    if name == "sort":
        return sorted(args[0])
    if name in ("distinct", "toset"):
        seen: list[Any] = []
        for v in args[0]:
            if v not in seen:
                seen.append(v)
        return sorted(seen) if name == "toset" else seen
    if name == "tolist":
        return list(args[0])
    if name == "length":
        return len(args[0])
    if name == "element":
        return args[0][int(args[1]) % len(args[0])]
    if name == "split":
        return args[1].split(args[0])
    if name == "join":
        return args[0].join(args[1])
    if name == "coalesce":  # as Terraform: an error, not null, when every argument is null or ""
        for value in args:
            if value is not None and value != "":
                return value
        raise HclError('Call to function "coalesce" failed: no non-null, non-empty-string arguments.')
    if name == "coalescelist":  # the first list that is not empty; none is an error, as in Terraform
        if not any(args):
            raise HclError("coalescelist(): no non-empty list")
        return next(list(a) for a in args if a)
    if name == "contains":
        return args[1] in args[0]
    if name == "merge":
        return {k: v for a in args for k, v in (a or {}).items()}
    if name == "lookup":
        return args[0].get(args[1], args[2] if len(args) > 2 else None)
    if name == "values":
        return list(args[0].values())
    if name == "keys":
        return list(args[0].keys())
    if name == "one":
        if not isinstance(args[0], list):  # a splat of a reference resolved to one value
            return args[0]
        return args[0][0] if args[0] else None
    if name == "replace":
        return args[0].replace(args[1], args[2])
    if name in ("lower", "upper"):
        return getattr(args[0], name)()
    if name == "tostring":
        return _text(args[0])
    if name == "jsonencode":
        return json.dumps(args[0], separators=(",", ":"))
    raise HclError(f"function {name}() is not modelled")


Node = Callable[[dict[str, Any]], Any]  # a parsed expression: scope (for-loop names) -> value


class _Parser:
    """Parses into closures first, so that a conditional evaluates only the branch it takes."""

    def __init__(self, tokens: list[tuple[str, str]], ev: Evaluator, text: str) -> None:
        self.tokens, self.pos, self.ev, self.text = tokens, 0, ev, text

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise HclError(f"expected {value!r}, found {token[1]!r} in {self.text!r}")
        self.pos += 1
        return token

    def ternary(self) -> Node:
        cond = self.binary(0)
        if self.peek()[1] != "?":
            return cond
        self.take("?")
        yes = self.ternary()
        self.take(":")
        no = self.ternary()
        return lambda scope: yes(scope) if _resolved(self.ev, cond(scope)) else no(scope)

    _LEVELS = (("||",), ("&&",), ("==", "!=", ">", "<", ">=", "<="), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self._LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = _binary_node(self.ev, op, left, right)
        return left

    def unary(self) -> Node:
        if self.peek()[1] in ("!", "-"):
            op = self.take()[1]
            inner = self.unary()
            if op == "!":
                return lambda scope: not _resolved(self.ev, inner(scope))
            return lambda scope: -_resolved(self.ev, inner(scope))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.peek()
            if token[1] == "." and self.peek(1)[0] == "name":
                self.take()
                name = self.take()[1]
                node = _attribute_node(node, _constant(name))
            elif token[1] == "[":
                self.take()
                key = self.ternary()
                self.take("]")
                node = _attribute_node(node, key, self.ev)
            elif token[1] == "[*]":
                self.take()
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            number = float(value) if "." in value else int(value)
            return lambda scope: number
        if kind == "str":
            return lambda scope: self.ev.template(value, scope)
        if kind == "name":
            if value in ("true", "false", "null"):
                constant = {"true": True, "false": False, "null": None}[value]
                return lambda scope: constant
            if self.peek()[1] == "(":
                return self.call(value)
            return lambda scope: scope[value] if value in scope else self.ev.names.get(value, Ref(value))
        if value == "(":
            inner = self.ternary()
            self.take(")")
            return inner
        if value == "[":
            return self.list_or_for()
        if value == "{":
            return self.map_or_for()
        raise HclError(f"unexpected {value!r} in {self.text!r}")

    def call(self, name: str) -> Node:
        self.take("(")
        args = self.items(")")
        if name == "try":  # the first argument that evaluates without an error
            return lambda scope: _first_that_works(self.ev, args, scope)
        return lambda scope: _function(name, [_resolved(self.ev, a(scope)) for a in args])

    def list_or_for(self) -> Node:
        if self.peek() == ("name", "for"):
            return self.for_expression("]")
        items = self.items("]")
        return lambda scope: [_resolved(self.ev, item(scope)) for item in items]

    def items(self, close: str) -> list[Node]:
        """The comma-separated expressions up to `close` (a trailing comma allowed), which it consumes."""
        items: list[Node] = []
        while self.peek()[1] != close:
            items.append(self.ternary())
            if self.peek()[1] == ",":
                self.take(",")
        self.take(close)
        return items

    def map_or_for(self) -> Node:
        if self.peek() == ("name", "for"):
            return self.for_expression("}")
        entries: list[tuple[Node, Node]] = []
        while self.peek()[1] != "}":
            kind, key = self.take()
            if kind == "op" and key == "(":
                self.pos -= 1
                key_node = self.primary()
            else:
                key_node = partial(self.ev.template, key) if kind == "str" else _constant(key)
            if self.peek()[1] not in ("=", ":"):
                raise HclError(f"expected = after a map key in {self.text!r}")
            self.take()
            entries.append((key_node, self.ternary()))
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return lambda scope: {_resolved(self.ev, k(scope)): _resolved(self.ev, v(scope)) for k, v in entries}

    def for_expression(self, closing: str) -> Node:
        self.take("for")
        names = [self.take()[1]]
        if self.peek()[1] == ",":
            self.take(",")
            names.append(self.take()[1])
        self.take("in")
        collection = self.ternary()
        self.take(":")
        first = self.ternary()
        second: Node | None = None
        if closing == "}":
            self.take("=>")
            second = self.ternary()
        condition: Node | None = None
        if self.peek() == ("name", "if"):
            self.take()
            condition = self.ternary()
        self.take(closing)

        def run(scope: dict[str, Any]) -> Any:
            items = _resolved(self.ev, collection(scope)) or []
            pairs = list(items.items()) if isinstance(items, dict) else list(enumerate(items))
            out: list[tuple[Any, Any]] = []
            for index, item in pairs:
                inner = (
                    {**scope, names[-1]: item}
                    if len(names) == 1
                    else {**scope, names[0]: index, names[1]: item}
                )
                if condition is None or _resolved(self.ev, condition(inner)):
                    out.append((first(inner), second(inner) if second else None))
            return {_resolved(self.ev, k): v for k, v in out} if closing == "}" else [k for k, _ in out]

        return run


def _first_that_works(ev: Evaluator, options: list[Node], scope: dict[str, Any]) -> Any:
    for option in options:
        try:
            return _resolved(ev, option(scope))
        except (KeyError, IndexError, TypeError, HclError):
            continue
    raise HclError("try(): no argument evaluated")


def _constant(value: Any) -> Node:
    return lambda scope: value


def _attribute_node(node: Node, key: Node, ev: Evaluator | None = None) -> Node:
    def get(scope: dict[str, Any]) -> Any:
        value, name = node(scope), key(scope)
        if ev is not None:
            name = _resolved(ev, name)
        if isinstance(value, Ref):
            return Ref(
                f"{value.path}.{name}" if isinstance(name, str) and ev is None else f"{value.path}[{name!r}]"
            )
        return value[name]

    return get


def _binary_node(ev: Evaluator, op: str, left: Node, right: Node) -> Node:
    if op == "||":
        return lambda scope: _resolved(ev, left(scope)) or _resolved(ev, right(scope))
    if op == "&&":
        return lambda scope: _resolved(ev, left(scope)) and _resolved(ev, right(scope))
    return lambda scope: _apply(op, _resolved(ev, left(scope)), _resolved(ev, right(scope)))


def _resolved(ev: Evaluator, value: Any) -> Any:
    return ev.resolve_ref(value.path) if isinstance(value, Ref) else value


def _apply(op: str, left: Any, right: Any) -> Any:
    if op == "||":
        return left or right
    if op == "&&":
        return left and right
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    ops = {
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "%": lambda a, b: a % b,
    }
    return ops[op](left, right)
