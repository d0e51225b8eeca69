"""The lexer of the Terraform expressions `hcl.py` evaluates: where a quoted string ends, the literal and
interpolated parts of a template, and the tokens of an expression (numbers, names, operators, strings).
"""

from __future__ import annotations

import re


class HclError(ValueError):
    """An expression this evaluator does not understand."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|(?P<op>=>|==|!=|>=|<=|&&|\|\||\[\*\]|[-+*/%<>!?:.,()\[\]{}=])|(?P<str>\"))"
)


def string_end(text: str, start: int) -> int:
    """Index just past the closing quote of the string literal opening at `start`, templates nested."""
    i, depth = start + 1, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if depth == 0 and c == '"':
            return i + 1
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if depth and c == '"':
            i = string_end(text, i)
            continue
        if depth and c == "}":
            depth -= 1
        elif depth and c == "{":
            depth += 1
        i += 1
    raise HclError(f"unterminated string in {text!r}")


def template_parts(body: str) -> list[tuple[bool, str]]:
    """A template's (is_expression, text) parts: `a${x}b` -> [(False, "a"), (True, "x"), (False, "b")]."""
    parts: list[tuple[bool, str]] = []
    i, literal = 0, ""
    while i < len(body):
        if body.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if j >= len(body):
                    raise HclError(f"unterminated interpolation in {body!r}")
                if body[j] == '"':
                    j = string_end(body, j)
                    continue
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                j += 1
            if literal:
                parts.append((False, literal))
                literal = ""
            parts.append((True, body[i + 2 : j - 1]))
            i = j
        else:
            literal += body[i]
            i += 1
    if literal:
        parts.append((False, literal))
    return parts


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        match = _TOKEN.match(text, i)
        if not match:
            raise HclError(f"cannot read {text[i:]!r}")
        kind = match.lastgroup or ""
        if kind == "str":
            start = match.start("str")
            end = string_end(text, start)
            tokens.append(("str", text[start + 1 : end - 1]))
            i = end
            continue
        tokens.append((kind, match.group(kind)))
        i = match.end()
    return tokens
