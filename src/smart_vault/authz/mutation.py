"""Least privilege, measured: which recorded request needs each statement, which refused request each
narrowing condition refuses (`make iam-mutation`; tests/iam runs it on the records of `make test`).

The enforcer records every evaluated request with its full context (`enforce.py`), so removing a
statement or a condition is re-evaluated on the records instead of re-running the suites:
- a statement is needed by a request that it alone allows (the request's `allowed_by` is just it, and the
  key policy does not allow the role by name): without the statement that request is denied, which the
  recorded run shows it was not, so a test would fail;
- a condition of an Allow statement is exercised by a refused request that the statement allows once the
  condition is gone (and nothing else refuses it): a test shows what the condition refuses.
Deny statements are guards, not grants: they are listed, not counted.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from smart_vault.authz import terraform
from smart_vault.authz.policy import Request, Statement, evaluate

SIM_OR_DEMO = "(simulation or local stack)"


def load_records(directory: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("authz-*.jsonl")):
        records.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return records


def _tuples(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def deployment_of(record: dict[str, Any]) -> terraform.Deployment:
    account = record["requests"][0]["principal"].split(":")[4]
    attributes = tuple(sorted((k, _tuples(v)) for k, v in record["attributes"].items()))
    primary = record.get("primary_region", record["function_region"])
    return terraform.Deployment(account, primary, record["peer_region"], (), attributes)


def request_of(raw: dict[str, Any]) -> Request:
    context = {k: _tuples(v) for k, v in raw["context"].items()}
    return Request(raw["action"], raw["resource"], context, raw["principal"])


@dataclass
class Finding:
    function: str
    sid: str
    condition: str = ""  # "" for the statement itself, else "Operator key"
    tests: set[str] = field(default_factory=set)
    requests: int = 0


def _groups(records: Iterable[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        deployment = deployment_of(record)
        groups[(record["function"], record["function_region"], deployment)].append(record)
    return groups


def statements_needed(records: list[dict[str, Any]]) -> dict[tuple[str, str], Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for (function, region, deployment), members in _groups(records).items():
        for statement in terraform.role_statements(function, region, deployment):
            if statement.effect == "Allow":
                found.setdefault((function, statement.sid), Finding(function, statement.sid))
        for record in members:
            for raw in record["requests"]:
                if raw["allowed"] and len(raw["allowed_by"]) == 1 and raw.get("key_policy") != "direct":
                    finding = found.setdefault(
                        (function, raw["allowed_by"][0]), Finding(function, raw["allowed_by"][0])
                    )
                    finding.requests += 1
                    finding.tests.add(record["test"] or SIM_OR_DEMO)
    return found


def _without(statement: Statement, index: int) -> Statement:
    return replace(statement, conditions=statement.conditions[:index] + statement.conditions[index + 1 :])


def conditions_exercised(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], Finding]:
    found: dict[tuple[str, str, str], Finding] = {}
    for (function, region, deployment), members in _groups(records).items():
        statements = terraform.role_statements(function, region, deployment)
        refused = [
            (record, request_of(raw))
            for record in members
            for raw in record["requests"]
            if not raw["allowed"]
            and raw.get("key_policy") != "denies"
            and raw.get("resource_policy") != "denies"
        ]
        for position, statement in enumerate(statements):
            if statement.effect != "Allow":
                continue
            for index, condition in enumerate(statement.conditions):
                key = (function, statement.sid, f"{condition.operator} {condition.key}")
                finding = found.setdefault(key, Finding(function, statement.sid, key[2]))
                mutated = list(statements)
                mutated[position] = _without(statement, index)
                for record, request in refused:
                    if evaluate(mutated, request).allowed:
                        finding.requests += 1
                        finding.tests.add(record["test"] or SIM_OR_DEMO)
    return found


def report(records: list[dict[str, Any]]) -> tuple[str, int]:
    """The mutation check's table and the number of problems (unneeded statements, unexercised conditions)."""
    statements = statements_needed(records)
    conditions = conditions_exercised(records)
    lines = ["statement needed by (requests that only it allows, tests):"]
    problems = 0
    for (function, sid), finding in sorted(statements.items()):
        mark = "" if finding.requests else "   <-- no call needs it"
        problems += not finding.requests
        lines.append(
            f"  {function:15} {sid:50} {finding.requests:6} requests {len(finding.tests):4} tests{mark}"
        )
    lines.append("narrowing condition exercised by (refused requests it alone refuses, tests):")
    for (function, sid, condition), finding in sorted(conditions.items()):
        mark = "" if finding.requests else "   <-- no test shows what it refuses"
        problems += not finding.requests
        sample = min(finding.tests) if finding.tests else ""
        lines.append(
            f"  {function:15} {sid:45} {condition:55} {finding.requests:4} {len(finding.tests):3} {sample}{mark}"
        )
    lines.append(
        f"{len(statements)} statements, {sum(not f.requests for f in statements.values())} that no call needs; "
        f"{len(conditions)} narrowing conditions, {sum(not f.requests for f in conditions.values())} that no test exercises"
    )
    return "\n".join(lines), problems


def main(argv: list[str]) -> int:
    directory = Path(argv[0] if argv else ".build/aws-calls")
    records = load_records(directory)
    if not records:
        print(f"no authorization records in {directory}: run `make test` (or make iam-mutation) first")
        return 2
    text, problems = report(records)
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
