"""IAM's policy evaluation logic for one request, as the IAM User Guide documents it (pure, no AWS).

"Policy evaluation logic" (IAM User Guide): a request is denied unless a statement allows it; an explicit deny
in any statement wins over every allow. Within one account, an identity policy's allow suffices, except for
KMS keys, whose key policy must allow too (directly, or by delegating to the account's IAM policies through
the account principal): `kms_decision` in `enforce` combines the two.

A statement matches a request when its Action (or NotAction), its Resource (or NotResource) and every one of
its conditions match. Conditions ("IAM JSON policy elements: Condition operators"):
- the values of one condition key are ORed, the keys of one operator and the operators are ANDed;
- a key absent from the request context makes the condition false ("the values do not match"), except:
  a negated operator (StringNotEquals, StringNotLike, ArnNotLike...) is then true (the values do not match,
  which is what it asks), `...IfExists` is true, `Null` tests presence itself, and `ForAllValues:` is true
  for an absent or empty key (every one of no values matches); `ForAnyValue:` is false for one.
- a single-valued key against a multi-valued context value needs a set operator; without one, the request's
  values are matched as if ForAnyValue (IAM documents multivalued keys without a set operator as an error
  of the policy; the rendered policies here have none, which tests/iam checks).
Case: keys are case-insensitive, string values case-sensitive (StringEqualsIgnoreCase aside), actions
case-insensitive, ARNs compared with `*`/`?` wildcards segment-free as IAM does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

ContextValue = str | tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    operator: str  # e.g. "StringEqualsIfExists", "ForAllValues:StringLike", "Bool"
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    principals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    document: str = ""


@dataclass(frozen=True)
class Request:
    """One (action, resource) pair of a request, with the condition keys AWS puts in its context."""

    action: str  # "ec2:CopySnapshot"
    resource: str  # an ARN, or "*" for actions without resource types
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: str = ""  # the caller's role ARN (for resource policies with principals)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[Statement, ...] = ()
    denied_by: tuple[Statement, ...] = ()


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL
    )


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's `*` (any run of characters, `/` and `:` included) and `?` (one character)."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return _compiled(pattern).fullmatch(value) is not None


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(wildcard_match(p, action, case_sensitive=False) for p in patterns)


def resource_matches(patterns: Iterable[str], arn: str) -> bool:
    return any(wildcard_match(p, arn) for p in patterns)


def _lookup(context: Mapping[str, ContextValue], key: str) -> tuple[str, ...] | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return (value,) if isinstance(value, str) else tuple(value)
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        number = _number(text)
        return datetime.fromtimestamp(number) if number is not None else None


def _compare(base: str, policy_value: str, value: str) -> bool:
    """One context value against one policy value, for a base operator (no IfExists, no set prefix)."""
    negated = "Not" in base
    positive = base.replace("Not", "")
    result: bool
    if positive == "StringEquals":
        result = policy_value == value
    elif positive == "StringEqualsIgnoreCase":
        result = policy_value.lower() == value.lower()
    elif positive == "StringLike":
        result = wildcard_match(policy_value, value)
    elif positive in ("ArnEquals", "ArnLike"):
        result = wildcard_match(policy_value, value)
    elif positive == "Bool":
        result = policy_value.lower() == value.lower()
    elif positive.startswith("Numeric"):
        left, right = _number(value), _number(policy_value)
        result = left is not None and right is not None and _ordered(positive[7:], left, right)
    elif positive.startswith("Date"):
        left_d, right_d = _date(value), _date(policy_value)
        result = left_d is not None and right_d is not None and _ordered(positive[4:], left_d, right_d)
    elif positive == "IpAddress":
        result = ipaddress.ip_address(value) in ipaddress.ip_network(policy_value, strict=False)
    else:
        raise ValueError(f"unsupported condition operator {base!r}")
    return not result if negated else result


def _ordered(relation: str, left, right) -> bool:
    return {
        "Equals": left == right,
        "LessThan": left < right,
        "LessThanEquals": left <= right,
        "GreaterThan": left > right,
        "GreaterThanEquals": left >= right,
    }[relation.replace("Not", "") or "Equals"]


def condition_holds(condition: Condition, context: Mapping[str, ContextValue]) -> bool:
    operator = condition.operator
    present = _lookup(context, condition.key)
    if operator == "Null":
        wants_absent = condition.values[0].lower() == "true"
        return (present is None or present == ()) == wants_absent
    set_operator, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if set_operator == "ForAllValues":
        return all(any(_compare(base, p, v) for p in condition.values) for v in present or ())
    if present is None:
        return if_exists or (set_operator == "" and "Not" in base)
    if set_operator == "ForAnyValue" or len(present) != 1:
        return any(_compare(base, p, v) for p in condition.values for v in present)
    if "Not" in base:  # negated operators: the value must differ from every policy value
        return all(_compare(base, p, present[0]) for p in condition.values)
    return any(_compare(base, p, present[0]) for p in condition.values)


def statement_matches(statement: Statement, request: Request) -> bool:
    if statement.actions and not action_matches(statement.actions, request.action):
        return False
    if statement.not_actions and action_matches(statement.not_actions, request.action):
        return False
    if statement.resources and not resource_matches(statement.resources, request.resource):
        return False
    if statement.not_resources and resource_matches(statement.not_resources, request.resource):
        return False
    if not statement.resources and not statement.not_resources:
        return False  # an identity statement without Resource is invalid and matches nothing
    return all(condition_holds(c, request.context) for c in statement.conditions)


_BY_ACTION: dict[int, tuple[tuple[Statement, ...], dict[str, tuple[Statement, ...]]]] = {}


def _candidates(statements: Iterable[Statement], action: str) -> Iterable[Statement]:
    """The statements whose Action (or NotAction) can match `action`, indexed per statement tuple (the
    rendered role policies are cached tuples, evaluated for tens of thousands of simulated calls)."""
    if not isinstance(statements, tuple):
        return statements
    entry = _BY_ACTION.get(id(statements))
    if entry is None or entry[0] is not statements:
        entry = _BY_ACTION[id(statements)] = (statements, {})
    by_action = entry[1]
    if action not in by_action:
        by_action[action] = tuple(
            s
            for s in statements
            if (not s.actions or action_matches(s.actions, action))
            and not (s.not_actions and action_matches(s.not_actions, action))
        )
    return by_action[action]


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    """Explicit deny wins; else allowed when a statement allows; else the implicit deny."""
    matching = [s for s in _candidates(statements, request.action) if statement_matches(s, request)]
    denies = tuple(s for s in matching if s.effect == "Deny")
    allows = tuple(s for s in matching if s.effect == "Allow")
    return Decision(allowed=not denies and bool(allows), allowed_by=allows, denied_by=denies)


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in items)


def statements_from_json(document: Mapping, name: str = "") -> tuple[Statement, ...]:
    """The statements of a JSON policy document (a key policy as KMS stores it)."""
    raw_statements = document.get("Statement", [])
    if isinstance(raw_statements, Mapping):
        raw_statements = [raw_statements]
    statements = []
    for raw in raw_statements:
        principal = raw.get("Principal", {})
        principals = (
            (("AWS", ("*",)),)
            if principal == "*"
            else tuple((kind, _strings(ids)) for kind, ids in dict(principal).items())
        )
        conditions = tuple(
            Condition(operator, key, _strings(values))
            for operator, pairs in dict(raw.get("Condition", {})).items()
            for key, values in dict(pairs).items()
        )
        statements.append(
            Statement(
                sid=str(raw.get("Sid", "")),
                effect=str(raw.get("Effect", "Allow")),
                actions=_strings(raw.get("Action")),
                not_actions=_strings(raw.get("NotAction")),
                resources=_strings(raw.get("Resource")),
                not_resources=_strings(raw.get("NotResource")),
                conditions=conditions,
                principals=principals,
                document=name,
            )
        )
    return tuple(statements)


def principal_matches(statement: Statement, principal_arn: str, account: str) -> tuple[bool, bool]:
    """(names the principal directly, names its account) for a resource policy statement."""
    ids = {i for kind, values in statement.principals if kind == "AWS" for i in values}
    direct = principal_arn in ids or "*" in ids
    via_account = bool(ids & {account, f"arn:aws:iam::{account}:root"})
    return direct, via_account


def key_policy_allows(
    identity: Decision, key_policy: Iterable[Statement], request: Request, account: str
) -> tuple[bool, tuple[Statement, ...]]:
    """KMS's rule (KMS developer guide, "Key policies"): an explicit deny in either policy denies; the key
    policy must allow, either the principal itself (then no IAM policy is needed) or its account (then the
    identity policies decide, which is how `AccountAdministersKeyThroughIam` delegates to IAM). Returns the
    decision and the key policy's allowing statements (also when the identity policies refuse)."""
    direct_allows, account_allows, denies = [], [], []
    for statement in key_policy:
        direct, via_account = principal_matches(statement, request.principal, account)
        if not (direct or via_account):
            continue
        keyed = Request(request.action, "*", request.context, request.principal)
        if not (statement_matches(statement, keyed) or statement_matches(statement, request)):
            continue
        if statement.effect == "Deny":
            denies.append(statement)
        elif direct:
            direct_allows.append(statement)
        else:
            account_allows.append(statement)
    if denies:
        return False, ()
    if direct_allows:
        return not identity.denied_by, tuple(direct_allows)
    return bool(account_allows) and identity.allowed, tuple(account_allows)


def resource_policy_allows(
    identity: Decision, resource_policy: Iterable[Statement], request: Request, account: str
) -> tuple[bool, tuple[Statement, ...]]:
    """A request on a resource of another account (IAM user guide, "Cross-account policy evaluation
    logic"): the caller's identity policies must allow it AND the resource's policy must allow the caller
    (its principal or its account); an explicit deny in either denies. Returns the decision and the
    resource policy's allowing statements (also when the identity policies refuse)."""
    allows: list[Statement] = []
    denies: list[Statement] = []
    for statement in resource_policy:
        direct, via_account = principal_matches(statement, request.principal, account)
        if not (direct or via_account) or not statement_matches(statement, request):
            continue
        (denies if statement.effect == "Deny" else allows).append(statement)
    if denies:
        return False, ()
    return bool(allows) and identity.allowed, tuple(allows)
