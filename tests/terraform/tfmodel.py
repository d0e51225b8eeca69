"""A small static model of the Terraform configuration, parsed with python-hcl2 (no provider, no AWS).

It knows just enough Terraform to answer the questions the tests ask: which handler and environment each
Lambda function gets, and which IAM statements each function's role carries. References of the forms
`local.a.b`, `var.a` and `module input` are resolved; any other expression stays as its source text.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_vault.authz.terraform import merge_sources, role_documents, source_documents
from smart_vault.authz.tf_parse import parse_dir

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "modules" / "restore_stack"
DRILL_DIR = REPO / "modules" / "drill_stack"
VAULT_DIR = REPO / "modules" / "vault_account"  # (v3) the vault account's stack
MODULE_SOURCES = {
    MODULE_DIR: "./modules/restore_stack",
    DRILL_DIR: "./modules/drill_stack",
    VAULT_DIR: "./modules/vault_account",
}
OPENAPI = REPO / "openapi.yaml"

# The Lambda functions: (directory, resource name) of their aws_lambda_function.
FUNCTIONS = {
    "backup": (REPO, "backup"),
    "restore_api": (MODULE_DIR, "restore_api"),
    "restore_worker": (MODULE_DIR, "restore_worker"),
    "drill": (DRILL_DIR, "drill"),
    "vault": (VAULT_DIR, "vault"),
}
# The locals map whose values are the role's policy documents, per function: `<resource>_policies`, beside it.
ROLE_POLICY_MAPS = {
    name: (directory, f"{resource}_policies") for name, (directory, resource) in FUNCTIONS.items()
}

_REF = re.compile(r"^\$\{(local|var)\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_-]+)*)\}$")
_EMBEDDED_REF = re.compile(r"\$\{(?:local|var)\.[A-Za-z0-9_.-]+\}")
_DOC_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json\}$")


def tf_files() -> list[Path]:
    return sorted([*REPO.glob("*.tf"), *MODULE_DIR.glob("*.tf"), *DRILL_DIR.glob("*.tf")])


def labelled(directory: Path, kind: str, type_name: str) -> dict[str, dict[str, Any]]:
    """Blocks `<kind> "<type_name>" "<name>"` of a directory, by name."""
    found: dict[str, dict[str, Any]] = {}
    for item in parse_dir(directory).get(kind, []):
        for name, body in item.get(type_name, {}).items():
            found[name] = body
    return found


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in parse_dir(directory).get("variable", []):
        found.update(item)
    return found


def outputs(directory: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in parse_dir(directory).get("output", []):
        found.update(item)
    return found


def locals_of(directory: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in parse_dir(directory).get("locals", []):
        merged.update(item)
    return merged


def module_calls(directory: Path = MODULE_DIR) -> dict[str, dict[str, Any]]:
    """The root module's calls of one child module (by default the restore stack), by name."""
    found: dict[str, dict[str, Any]] = {}
    for item in parse_dir(REPO).get("module", []):
        found.update(
            {name: body for name, body in item.items() if body.get("source") == MODULE_SOURCES[directory]}
        )
    return found


def resolve(value: Any, directory: Path, inputs: dict[str, Any] | None = None) -> Any:
    """Follow `${local...}` / `${var...}` references; module variables take `inputs`, else their default."""
    if not isinstance(value, str):
        return value
    match = _REF.match(value)
    if not match:
        return value
    kind, name, path = match.groups()
    if kind == "local":
        target = locals_of(directory).get(name)
    elif inputs is not None and name in inputs:
        return resolve(inputs[name], REPO)
    else:
        target = variables(directory).get(name, {}).get("default")
    for key in [p for p in path.split(".") if p]:
        target = target.get(key) if isinstance(target, dict) else None
    if target is None:  # a required variable or something this model does not evaluate: keep the reference
        return value
    return resolve(target, directory, inputs)


def render(value: str, directory: Path) -> str:
    """Replace the `${local...}` / `${var...}` references inside a string by their (string) values."""

    def substitute(match: re.Match[str]) -> str:
        resolved = resolve(match.group(0), directory)
        return resolved if isinstance(resolved, str) else match.group(0)

    return _EMBEDDED_REF.sub(substitute, value)


@dataclass(frozen=True)
class FunctionDef:
    name: str
    handler: Any
    environment: dict[str, Any]
    tracing_mode: Any
    body: dict[str, Any] = field(repr=False)


def function_definitions(name: str) -> list[FunctionDef]:
    """The function as each module call configures it (the restore stack is instantiated twice)."""
    directory, resource = FUNCTIONS[name]
    body = labelled(directory, "resource", "aws_lambda_function")[resource]
    calls = [None] if directory == REPO else list(module_calls(directory).values())
    defs = []
    for inputs in calls:
        environment = body.get("environment", [{}])[0].get("variables", {})
        tracing = body.get("tracing_config", [{}])[0].get("mode")
        defs.append(
            FunctionDef(
                name=name,
                handler=resolve(body.get("handler"), directory, inputs),
                environment=environment,
                tracing_mode=resolve(tracing, directory, inputs),
                body=body,
            )
        )
    return defs


@dataclass(frozen=True)
class Statement:
    document: str
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]
    principals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    effect: str = "Allow"

    def allows(self, action: str) -> bool:
        return self.effect == "Allow" and any(
            fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions
        )

    def condition_values(self, variable: str) -> tuple[str, ...] | None:
        for _test, var, values in self.conditions:
            if var == variable:
                return values
        return None


def _statements_of(
    document_name: str, body: dict[str, Any], directory: Path, documents: dict[str, dict[str, Any]]
) -> list[Statement]:
    """A document's statements: its `source_policy_documents`' first, under its name (Terraform merges them
    into it), then its own."""
    sources = [
        s
        for source in source_documents(body, document_name)
        for s in _statements_of(source, documents[source], directory, documents)
    ]
    statements = [_statement(document_name, raw, directory) for raw in body.get("statement", [])]
    for dynamic in body.get("dynamic", []):
        for block in dynamic.get("statement", {}).get("content", []):
            statements.append(_statement(document_name, block, directory))
    return merge_sources(document_name, sources, statements)


def _as_list(value: Any, directory: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    resolved = resolve(value, directory)
    items = resolved if isinstance(resolved, list) else [resolved]
    return tuple(render(str(v).lower() if isinstance(v, bool) else str(v), directory) for v in items)


def _statement(document_name: str, raw: dict[str, Any], directory: Path) -> Statement:
    conditions = tuple(
        (str(c.get("test")), render(str(c.get("variable")), directory), _as_list(c.get("values"), directory))
        for c in raw.get("condition", [])
    )
    principals = tuple(
        (str(p.get("type")), _as_list(p.get("identifiers"), directory)) for p in raw.get("principals", [])
    )
    return Statement(
        document=document_name,
        sid=str(raw.get("sid", "")),
        actions=_as_list(raw.get("actions"), directory),
        resources=_as_list(raw.get("resources"), directory),
        conditions=conditions,
        principals=principals,
        effect=str(raw.get("effect", "Allow")),
    )


def policy_documents(directory: Path) -> dict[str, list[Statement]]:
    """The policy documents of a directory. A document that is another's source is a part of that one, where
    its statements are checked, not a policy of its own."""
    documents = labelled(directory, "data", "aws_iam_policy_document")
    sources = {source for name, body in documents.items() for source in source_documents(body, name)}
    return {
        name: _statements_of(name, body, directory, documents)
        for name, body in documents.items()
        if name not in sources
    }


def key_policy_documents() -> set[str]:
    """Names of the policy documents used as KMS key policies (where Resource "*" means the key itself)."""
    names = set()
    keys = [
        *labelled(REPO, "resource", "aws_kms_key").values(),
        *labelled(VAULT_DIR, "resource", "aws_kms_key").values(),
    ]
    for key in keys:
        match = re.match(
            r"^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)(\[[^]]*\])?\.json\}$", key["policy"]
        )
        assert match, key["policy"]
        names.add(match.group(1))
    return names


def all_statements() -> list[Statement]:
    return [
        s
        for directory in (REPO, MODULE_DIR, DRILL_DIR, VAULT_DIR)
        for stmts in policy_documents(directory).values()
        for s in stmts
    ]


def role_statements(function: str) -> list[Statement]:
    """Every statement of the inline policies attached to the function's role."""
    directory, local_name = ROLE_POLICY_MAPS[function]
    documents = policy_documents(directory)
    for reference in locals_of(directory)[local_name].values():
        assert _DOC_REF.match(reference), f"{local_name} holds {reference!r}, not an aws_iam_policy_document"
    # The role's policies: the function module's own (its log group's) and the caller's map merged in.
    names = role_documents(directory, FUNCTIONS[function][1])
    assert f"local.{local_name}" in str(
        labelled(directory, "resource", "aws_iam_role_policy")[FUNCTIONS[function][1]]["for_each"]
    )
    return [s for name in names for s in documents[name]]


def role_managed_policies(function: str) -> list[str]:
    directory, _ = ROLE_POLICY_MAPS[function]
    role = {
        "backup": "backup",
        "restore_api": "restore_api",
        "restore_worker": "restore_worker",
        "drill": "drill",
        "vault": "vault",
    }[function]
    return [
        str(body.get("policy_arn"))
        for body in labelled(directory, "resource", "aws_iam_role_policy_attachment").values()
        if str(body.get("role")) == f"${{aws_iam_role.{role}.name}}"
    ]
