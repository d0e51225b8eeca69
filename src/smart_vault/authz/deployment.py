"""The deployment a function's environment describes (account, its region and the peer region, the
Terraform attributes its variables bind: `environment_bindings`), from which its role's policies are
rendered; cached on the variables that matter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from smart_vault.authz import terraform
from smart_vault.authz.facts import Facts
from smart_vault.authz.tf_parse import serialized

_DEPLOYMENTS: dict[tuple, terraform.Deployment] = {}
# A module input, or an attribute of an object input (`var.settings.allowed_subnet_ids`).
_VARIABLE = r"var\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*"


def function_region(environment: Mapping[str, str]) -> str:
    return environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION") or "eu-west-1"


def deployment_for(
    function: str, environment: Mapping[str, str], account: str, facts: Facts | None = None
) -> terraform.Deployment:
    """The deployment the function's environment describes (cached on the variables that matter)."""
    names = environment_names(function) | {"AWS_REGION", "AWS_DEFAULT_REGION", "DR_REGION"}
    key = (function, account, id(facts), tuple(sorted((n, environment.get(n)) for n in names)))
    if key not in _DEPLOYMENTS:
        _DEPLOYMENTS[key] = _deployment(function, environment, account, facts)
    return _DEPLOYMENTS[key]


def _deployment(
    function: str, environment: Mapping[str, str], account: str, facts: Facts | None
) -> terraform.Deployment:
    region = function_region(environment)
    default = terraform.Deployment()
    # Without DR_REGION (a test that passes settings directly), the Terraform's other default region.
    other = default.dr_region if region == default.primary_region else default.primary_region
    peer = environment.get("DR_REGION") or other
    base = terraform.Deployment(account=account, primary_region=region, dr_region=peer)
    # A restore or drill stack of the DR region (restore_dr, drill_dr): known by the function's name.
    name = environment.get("AWS_LAMBDA_FUNCTION_NAME")
    mirrored = terraform.Deployment(account=account, primary_region=peer, dr_region=region)
    if (
        name
        and peer != region
        and terraform.function_name(function, region, base) != name
        and terraform.function_name(function, region, mirrored) == name
    ):
        base = mirrored
    bound = environment_bindings(function, environment, base)
    # ALLOWED_INSTANCE_PROFILE_ARNS: the restore stack's `var.settings.allowed_instance_profile_arns`.
    profiles = next((v for k, v in bound.items() if k.endswith(".allowed_instance_profile_arns")), ())
    for profile in profiles if facts is not None else ():
        role = facts.instance_profile_role(profile) if facts is not None else None
        if role:  # the role Terraform's data source would find
            bound[f"data.aws_iam_instance_profile.allowed[{profile.rsplit('/', 1)[-1]}].role_arn"] = role
    return replace(base, attributes=tuple(sorted(bound.items())))


@serialized
def environment_names(function: str) -> frozenset[str]:
    """The environment variables Terraform gives the function."""
    directory, resource = terraform.FUNCTIONS[function][0], terraform.FUNCTIONS[function][-1]
    body = terraform.labelled(directory, "resource", "aws_lambda_function")[resource]
    return frozenset(body.get("environment", [{}])[0].get("variables", {}))


def environment_bindings(
    function: str, environment: Mapping[str, str], deployment: terraform.Deployment
) -> dict:
    """Resource attributes bound by the function's environment (`VAR = aws_x.y.name` in its Terraform)."""
    directory, resource = terraform.FUNCTIONS[function][0], terraform.FUNCTIONS[function][-1]
    body = terraform.labelled(directory, "resource", "aws_lambda_function")[resource]
    variables = body.get("environment", [{}])[0].get("variables", {})
    bound: dict[str, Any] = {}
    for name, raw in variables.items():
        joined = re.fullmatch(r'\$\{join\(",", (' + _VARIABLE + r")\)\}", str(raw))
        if joined and name in environment:
            bound[joined.group(1)] = tuple(v for v in environment[name].split(",") if v)
            continue
        # `var.t == null ? "" : element(split("/", var.t), 1)` (the restore API's DRILL_RESULTS_TABLE and
        # COPY_LEDGER_TABLE): a table's name, the last part of its ARN, and "" exactly when the variable is
        # null. A name binds the variable to that table's ARN; "" binds it to null, so that the statements
        # Terraform only writes for a table (`for_each = var.t == null ? [] : [var.t]`) are not rendered.
        # (Unbound, such a variable is a module output of the root and renders as any table of the account:
        # then every table's Query statement allows every table, and none of them is the one that grants.)
        named = re.fullmatch(
            r"\$\{(" + _VARIABLE + r') == null \? "" : element\(split\("/", \1\), 1\)\}', str(raw)
        )
        if named:  # unset is "" to the function too (config._optional_table_name): no table, no statement
            region = environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")
            region = region or deployment.primary_region
            table = environment.get(name, "")
            bound[named.group(1)] = (
                f"arn:aws:dynamodb:{region}:{deployment.account}:table/{table}" if table else None
            )
            continue
        # `VAR = var.x`, `VAR = tostring(var.x)`, `VAR = local.x` (the environment tells what it evaluated to)
        match = re.fullmatch(
            r"\$\{(?:tostring\()?((?:aws_[a-z0-9_]+|var|local)\.[A-Za-z0-9_]+(?:\.[a-z_]+)?)\)?\}", str(raw)
        )
        if not match or not environment.get(name):
            continue
        path, value = match.group(1), environment[name]
        bound[path] = value
        if path.startswith("aws_dynamodb_table.") and path.endswith(".name"):
            region = environment.get("AWS_REGION", deployment.primary_region)
            bound[path.removesuffix(".name") + ".arn"] = (
                f"arn:aws:dynamodb:{region}:{deployment.account}:table/{value}"
            )
    return bound
