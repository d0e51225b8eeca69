"""The IAM policies of each Lambda function and the KMS key policies, rendered from this repository's Terraform.

Not a hand copy: the `aws_iam_policy_document` data sources of the root module and of the restore and drill
stacks are read with python-hcl2 and their expressions evaluated (`hcl.py`) for one `Deployment`: the
account, the regions, the module instance of the function's region (restore_primary / restore_dr ...), and
the attributes of the resources it names. A resource attribute the deployment does not bind (for example
`aws_kms_key.primary.arn` when a test names no primary key) renders as the widest ARN of its type in the
account (`arn:aws:kms:*:<account>:key/*`): the policy is then judged by its other elements (actions,
conditions), never by a guess of a name. A function's environment binds what its Terraform `environment`
block derives from resources (`COPY_LEDGER_TABLE = aws_dynamodb_table.copy_ledger.name` binds the ledger
table), so a test world that sets those variables gets exact ARNs (`deployment.environment_bindings`).

Only the checkout has the Terraform: this module is part of the never-packaged authorization layer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smart_vault.authz.hcl import Evaluator
from smart_vault.authz.policy import Condition, Statement
from smart_vault.authz.tf_parse import (
    DRILL_DIR,
    REPO,
    RESTORE_DIR,
    VAULT_DIR,
    _Lazy,
    _merged,
    labelled,
    serialized,
)

# function -> (directory, module calls by region role, resource name of its function and role)
FUNCTIONS = {
    "backup": (REPO, None, "backup"),
    "restore_api": (RESTORE_DIR, ("restore_primary", "restore_dr"), "restore_api"),
    "restore_worker": (RESTORE_DIR, ("restore_primary", "restore_dr"), "restore_worker"),
    "drill": (DRILL_DIR, ("drill_primary", "drill_dr"), "drill"),
    # (v3) The vault account's function: one module instance, in the DR region, applied with the vault
    # account's provider (vault.tf); its deployment's account is the vault account.
    "vault": (VAULT_DIR, ("vault_account", "vault_account"), "vault"),
}
# The widest ARN of each resource type, for attributes the deployment does not bind.
_WIDEST = {
    "aws_kms_key": "arn:aws:kms:*:{account}:key/*",
    "aws_dynamodb_table": "arn:aws:dynamodb:*:{account}:table/*",
    "aws_sns_topic": "arn:aws:sns:*:{account}:*",
    "aws_sqs_queue": "arn:aws:sqs:*:{account}:*",
    "aws_cloudwatch_log_group": "arn:aws:logs:*:{account}:log-group:*",
    "aws_lambda_function": "arn:aws:lambda:*:{account}:function:*",
    "aws_cloudwatch_event_rule": "arn:aws:events:*:{account}:rule/*",
    "aws_iam_instance_profile": "arn:aws:iam::{account}:role/*",
}


@dataclass(frozen=True)
class Deployment:
    """What the Terraform is applied with: account, regions, and the resource attributes known."""

    account: str = "123456789012"
    primary_region: str = "eu-west-1"
    dr_region: str = "eu-central-1"
    variables: tuple[tuple[str, Any], ...] = ()  # root variables besides the regions (lists as tuples)
    attributes: tuple[tuple[str, Any], ...] = ()  # ("aws_kms_key.dr.arn", value); lists as tuples

    def bound(self, path: str) -> Any:
        return dict(self.attributes).get(path)

    def root_variables(self) -> dict[str, Any]:
        values = {name: body.get("default") for name, body in _merged(REPO, "variable").items()}
        values.update({"primary_region": self.primary_region, "dr_region": self.dr_region})
        values.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.variables})
        return values


def _bind(variables: dict[str, Any], path: list[str], value: Any) -> None:
    """`variables` with `var.<path>` set to `value`: a variable, or an attribute of an object variable
    (`var.settings.allowed_subnet_ids`), the object copied, not changed. An attribute of a variable that is
    not an object (unset, or an input this evaluator could not compute) binds nothing."""
    name, *attributes = path
    if not attributes:
        variables[name] = value
        return
    target = variables.get(name)
    if isinstance(target, dict):
        variables[name] = copied = dict(target)
        _bind(copied, attributes, value)


class ModuleScope:
    """One module instance: its locals, its variables (inputs or defaults), its resource attributes."""

    def __init__(
        self,
        deployment: Deployment,
        directory: Path,
        inputs: Mapping[str, Any] | None,
        region: str | None = None,
    ) -> None:
        self.deployment = deployment
        self.directory = directory
        # The region of the module instance's `aws` provider (the root's default provider: the primary region).
        self.region = region or deployment.primary_region
        self._raw_locals = _merged(directory, "locals")
        defaults = {n: b.get("default") for n, b in _merged(directory, "variable").items()}
        variables = deployment.root_variables() if inputs is None else {**defaults, **inputs}
        for path, value in deployment.attributes:  # variables the function's environment binds
            if path.startswith("var."):
                _bind(variables, path[4:].split("."), list(value) if isinstance(value, tuple) else value)
        self.evaluator = Evaluator({}, self.attribute)
        self.evaluator.names.update(
            {
                "local": _Lazy(self._local),
                "var": _Lazy(lambda name: variables[name]),
                "path": {"module": str(directory)},
            }
        )

    def _local(self, name: str) -> Any:
        """A local: its value as the function's environment gives it (root module only), else evaluated."""
        if self.directory == REPO and (bound := self.deployment.bound(f"local.{name}")) is not None:
            return bound
        return self.evaluator.value(self._raw_locals[name])

    def _instance_profiles(self, path: str) -> dict[str, Any]:
        return _profiles_of(self, path)

    def attribute(self, path: str) -> Any:
        """A resource or data attribute: the deployment's binding, else the widest ARN of its type."""
        account = self.deployment.account
        fixed = {
            "data.aws_caller_identity.current.account_id": account,
            "data.aws_partition.current.partition": "aws",
            # The region's name: `id` in AWS provider 5.x and 6.x alike (6.x deprecates `name`).
            "data.aws_region.current.id": self.region,
        }
        if path in fixed:
            return fixed[path]
        if (value := self.deployment.bound(path)) is not None:
            return value
        kind = path.removeprefix("data.").split(".")[0]
        if path.startswith("data.aws_iam_instance_profile."):
            return self._instance_profiles(path)
        if path.startswith("module.") and path.endswith("table_arn"):
            return _WIDEST["aws_dynamodb_table"].format(account=account)
        if kind in _WIDEST:
            return _WIDEST[kind].format(account=account)
        return "*"


class _Unreadable(str):
    """A module input this evaluator could not compute: an error if a policy ever reads it."""


def _profiles_of(scope: ModuleScope, path: str) -> dict[str, Any]:
    """`data.aws_iam_instance_profile.<name>`: one entry per for_each key, each with the role ARN the
    deployment binds (`<path>[<key>].role_arn`) or the widest role ARN."""
    body = labelled(scope.directory, "data", "aws_iam_instance_profile").get(path.split(".")[2], {})
    keys = scope.evaluator.value(body.get("for_each", "${[]}")) or []
    widest = _WIDEST["aws_iam_instance_profile"].format(account=scope.deployment.account)
    return {k: {"role_arn": scope.deployment.bound(f"{path}[{k}].role_arn") or widest} for k in keys}


def _module_inputs(deployment: Deployment, call: str) -> dict[str, Any] | None:
    body = _merged(REPO, "module").get(call)
    if body is None:
        return None
    root = ModuleScope(deployment, REPO, None)
    skip = {"source", "providers", "count", "depends_on"}
    inputs = {}
    for name, raw in body.items():
        if name not in skip:
            try:
                inputs[name] = root.evaluator.value(raw)
            except (
                KeyError,
                ValueError,
                TypeError,
            ) as error:  # an input the policies never read (a zip path...)
                inputs[name] = _Unreadable(f"module {call} input {name}: {error}")
    return inputs


@serialized
def scope_for(function: str, region: str, deployment: Deployment) -> ModuleScope:
    """The module instance that runs `function` in `region` (the root module for the backup function)."""
    directory, calls, _ = FUNCTIONS[function]
    if calls is None:
        return ModuleScope(deployment, REPO, None)
    call = calls[0] if region == deployment.primary_region else calls[1]
    root = deployment
    if function == "vault" and (sources := deployment.bound("var.source_account_ids")):
        # The root module that applies the vault stack runs in the (first) source account: its inputs
        # (the DR key's ARN) are that account's, while the vault function's own resources are the vault's.
        # The vault function runs in the root's DR region (vault.tf: region = var.dr_region).
        root = replace(
            deployment,
            account=str(sources[0]),
            primary_region=deployment.dr_region,
            dr_region=deployment.primary_region,
            attributes=(),
        )
    return ModuleScope(deployment, directory, _module_inputs(root, call), region)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(("true" if v else "false") if isinstance(v, bool) else str(v) for v in items)


def _statement(document: str, raw: dict[str, Any], ev: Evaluator) -> Statement:
    conditions = tuple(
        Condition(str(ev.value(c["test"])), str(ev.value(c["variable"])), _as_tuple(ev.value(c["values"])))
        for c in raw.get("condition", [])
    )
    principals = tuple(
        (str(p["type"]), _as_tuple(ev.value(p["identifiers"]))) for p in raw.get("principals", [])
    )
    return Statement(
        sid=str(raw.get("sid", "")),
        effect=str(raw.get("effect", "Allow")),
        actions=_as_tuple(ev.value(raw.get("actions"))),
        not_actions=_as_tuple(ev.value(raw.get("not_actions"))),
        resources=_as_tuple(ev.value(raw.get("resources"))),
        not_resources=_as_tuple(ev.value(raw.get("not_resources"))),
        conditions=conditions,
        principals=principals,
        document=document,
    )


_DOC_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)(?:\[[^]]*\])?\.json\}$")


def source_documents(body: Mapping[str, Any], name: str) -> list[str]:
    """The aws_iam_policy_document names a document's `source_policy_documents` lists (each
    `data.aws_iam_policy_document.<name>.json`)."""
    names = []
    for reference in body.get("source_policy_documents") or []:
        match = _DOC_REF.match(str(reference))
        if not match:
            raise ValueError(f"{name}: source {reference!r} is not an aws_iam_policy_document")
        names.append(match.group(1))
    return names


def render_document(scope: ModuleScope, name: str, each: Any = None) -> list[Statement]:
    """The statements of one aws_iam_policy_document: those of its `source_policy_documents` first, under its
    own name (Terraform merges them into it), then its own, dynamic blocks expanded by their for_each."""
    body = labelled(scope.directory, "data", "aws_iam_policy_document")[name]
    sources = [s for source in source_documents(body, name) for s in render_document(scope, source)]
    ev = scope.evaluator
    ev.names["each"] = {"value": each, "key": each}
    if each is not None and "for_each" in body:  # a map's instance: `each` names its key
        instances = ev.value(body["for_each"])
        if isinstance(instances, dict) and each in instances:
            ev.names["each"] = {"value": instances[each], "key": each}
    statements = [_statement(name, raw, ev) for raw in body.get("statement", [])]
    for dynamic in body.get("dynamic", []):
        block = dynamic["statement"]
        for_each = ev.value(block["for_each"])
        for item in for_each.values() if isinstance(for_each, dict) else for_each:
            ev.names["statement"] = {"value": item, "key": item}
            statements.extend(_statement(name, raw, ev) for raw in block["content"])
        ev.names.pop("statement", None)
    return merge_sources(name, sources, statements)


def merge_sources(name: str, sources: list[Statement], own: list[Statement]) -> list[Statement]:
    """A document's statements as the provider merges `source_policy_documents` into it: the sources'
    statements first, in order, a Sid repeated among them an error; then its own, each replacing in place a
    source statement with the same Sid, or else appended."""
    merged = [replace(s, document=name) for s in sources]
    sids = [s.sid for s in merged if s.sid]
    if len(sids) != len(set(sids)):
        raise ValueError(f"{name}: a Sid repeats among its source_policy_documents: {sorted(sids)}")
    for statement in own:
        index = next((i for i, s in enumerate(merged) if statement.sid and s.sid == statement.sid), None)
        if index is None:
            merged.append(statement)
        else:
            merged[index] = statement
    return merged


_DOC_PATH = re.compile(r"^data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)(?:\[[^]]*\])?\.json$")


def _document_name(path: str) -> str:
    match = _DOC_PATH.match(path)
    if not match:
        raise ValueError(f"a role policy is {path!r}, not an aws_iam_policy_document's json")
    return match.group(1)


def role_documents(directory: Path, resource: str) -> list[str]:
    """The aws_iam_policy_document names of the inline policies `aws_iam_role_policy.<resource>` attaches, in
    the order of its for_each evaluated as Terraform would: the function module's own documents (`logs`, and
    `kms` where the call names key_services), then the caller's map (`local.<function>_policies`). Each value
    must be one document's json."""
    for_each = labelled(directory, "resource", "aws_iam_role_policy")[resource]["for_each"]
    raw_locals = _merged(directory, "locals")
    evaluator = Evaluator({}, _document_name)
    evaluator.names["local"] = _Lazy(lambda name: evaluator.value(raw_locals[name]))
    return list(evaluator.value(for_each).values())


@serialized
def role_statements(function: str, region: str, deployment: Deployment) -> tuple[Statement, ...]:
    """Every statement of the inline policies Terraform attaches to the function's role."""
    directory, _, resource = FUNCTIONS[function]
    scope = scope_for(function, region, deployment)
    return tuple(s for name in role_documents(directory, resource) for s in render_document(scope, name))


@serialized
def key_policy(region: str, deployment: Deployment) -> tuple[Statement, ...]:
    """The key policy Terraform gives the vault's key of `region` (kms.tf, one document per region)."""
    scope = ModuleScope(deployment, REPO, None)
    return tuple(render_document(scope, "kms_key", each=region))


@serialized
def vault_key_policy(deployment: Deployment) -> tuple[Statement, ...]:
    """(v3) The vault key's policy (modules/vault_account `vault_key`) in the vault function's deployment, its
    role named by its rendered ARN (the key policy names the role itself)."""
    region = deployment.primary_region
    role = role_arn("vault", region, deployment)
    bound = replace(deployment, attributes=(*deployment.attributes, ("aws_iam_role.vault.arn", role)))
    return tuple(render_document(scope_for("vault", region, bound), "vault_key"))


def vault_bus_policy(bus_arn: str, source_account: str) -> tuple[Statement, ...]:
    """(v3) The vault stack's event bus policy (modules/vault_account `vault_bus`) for the bus `bus_arn`,
    applied in the bus's account and region with `source_account` among its source accounts."""
    _, _, _, region, owner, _ = bus_arn.split(":", 5)
    return _vault_bus_policy(bus_arn, region, owner, source_account)


@serialized
def _vault_bus_policy(bus_arn: str, region: str, owner: str, source_account: str) -> tuple[Statement, ...]:
    deployment = Deployment(
        account=owner,
        primary_region=region,
        dr_region=region,
        attributes=(("aws_cloudwatch_event_bus.vault.arn", bus_arn),),
    )
    scope = ModuleScope(
        deployment, VAULT_DIR, {"region": region, "source_account_ids": [source_account]}, region
    )
    return tuple(render_document(scope, "vault_bus"))


@serialized
def role_arn(function: str, region: str, deployment: Deployment) -> str:
    """The ARN of the function's role, its name rendered from the Terraform (`aws_iam_role.<function>`)."""
    directory, _, resource = FUNCTIONS[function]
    scope = scope_for(function, region, deployment)
    body = labelled(directory, "resource", "aws_iam_role")[resource]
    return f"arn:aws:iam::{deployment.account}:role/{scope.evaluator.value(body['name'])}"


@serialized
def function_name(function: str, region: str, deployment: Deployment) -> str:
    """The function's name as the module instance of `region` renders it."""
    directory, _, resource = FUNCTIONS[function]
    body = labelled(directory, "resource", "aws_lambda_function")[resource]
    return str(scope_for(function, region, deployment).evaluator.value(body["function_name"]))
