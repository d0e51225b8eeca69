"""The local stack provisions what the Terraform deploys: fails when names, keys or environments drift."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import hcl2
import pytest

from smart_vault.local.deployment import (
    API_STAGE,
    LAMBDA_HANDLERS,
    DeploymentConfig,
    DrillStack,
    RestoreStack,
    backup_environment,
    drill_environment,
    restore_api_environment,
    restore_worker_environment,
    table_definitions,
)
from smart_vault.local.provision import INVOKE_ARN_PLACEHOLDER

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO_ROOT / "modules" / "restore_stack"
DRILL_DIR = REPO_ROOT / "modules" / "drill_stack"
# Rendering the local names with the Terraform expression as the prefix gives the Terraform strings.
ROOT_PREFIX = "${var.name_prefix}"
MODULE_STACK = RestoreStack(ROOT_PREFIX, "${var.region}", "${var.peer_region}", is_dr=False)


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def load(directory: Path) -> dict[str, Any]:
    """Resources by (type, name), locals, variables and modules of every *.tf file in `directory`."""
    model: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "module": {}}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            document = unquote(hcl2.load(handle))
        for block in document.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    model["resource"][(kind, name)] = body
        for block in document.get("locals", []):
            model["locals"].update(block)
        for block in document.get("variable", []):
            model["variable"].update(block)
        for block in document.get("module", []):
            model["module"].update(block)
    return model


@pytest.fixture(scope="module")
def root():
    return load(REPO_ROOT)


@pytest.fixture(scope="module")
def module():
    return load(MODULE_DIR)


@pytest.fixture(scope="module")
def drill_module():
    return load(DRILL_DIR)


def variables_of(function: dict[str, Any]) -> dict[str, Any]:
    return function["environment"][0]["variables"]


def test_variable_defaults_are_the_local_stacks_defaults(root):
    config = DeploymentConfig()
    variables = root["variable"]
    for field in fields(DeploymentConfig):
        if field.name in ("primary_region", "dr_region", "backup_memory_mb"):
            continue  # regions have no default in Terraform; the memory size is not a variable
        expected = getattr(config, field.name)
        default = variables[field.name].get("default")
        if isinstance(default, dict):
            default = tuple(sorted(default.items()))
        assert (tuple(default) if isinstance(default, list) else default) == expected, field.name


def test_backup_function_environment_name_and_handler(root):
    config = DeploymentConfig(name_prefix=ROOT_PREFIX)
    function = root["resource"][("aws_lambda_function", "backup")]
    assert root["locals"]["backup_function_name"] == config.backup_function_name
    assert root["locals"]["handlers"] == LAMBDA_HANDLERS
    assert int(function["memory_size"]) == DeploymentConfig().backup_memory_mb
    assert set(variables_of(function)) == set(backup_environment(config, "topic", "key"))


def test_restore_functions_environment_and_names(module):
    functions = module["resource"]
    api, worker = (
        functions[("aws_lambda_function", "restore_api")],
        functions[("aws_lambda_function", "restore_worker")],
    )
    assert module["locals"]["api_function_name"] == MODULE_STACK.api_function_name
    assert module["locals"]["worker_function_name"] == MODULE_STACK.worker_function_name
    assert set(variables_of(api)) == set(restore_api_environment(DeploymentConfig(), MODULE_STACK))
    assert set(variables_of(worker)) == set(restore_worker_environment(MODULE_STACK, "topic"))
    assert variables_of(api)["RESTORE_WORKER_FUNCTION"] == "${local.worker_function_name}"
    assert int(api["timeout"]) == MODULE_STACK.api_timeout_seconds
    assert int(worker["timeout"]) == MODULE_STACK.worker_timeout_seconds


def test_tables_have_the_same_names_keys_and_ttl(module):
    tables = {
        body["name"]: body for (kind, _), body in module["resource"].items() if kind == "aws_dynamodb_table"
    }
    local = {definition["TableName"]: definition for definition in table_definitions(MODULE_STACK)}
    assert set(tables) == set(local)
    for name, definition in local.items():
        table = tables[name]
        assert table["hash_key"] == definition["KeySchema"][0]["AttributeName"]
        assert [(a["name"], a["type"]) for a in table["attribute"]] == [
            (a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]
        ]
        assert table["ttl"][0]["attribute_name"] == definition["ttl_attribute"]
        assert table["billing_mode"] == definition["BillingMode"]


def test_api_stage_key_and_usage_plan_names(module):
    resources = module["resource"]
    assert resources[("aws_api_gateway_stage", "v1")]["stage_name"] == API_STAGE
    assert resources[("aws_api_gateway_rest_api", "restore")]["name"] == MODULE_STACK.api_name
    assert resources[("aws_api_gateway_api_key", "restore")]["name"] == MODULE_STACK.api_name
    assert resources[("aws_api_gateway_usage_plan", "restore")]["name"] == MODULE_STACK.api_name


def test_topics_keys_and_restore_stacks_per_region(root):
    config = DeploymentConfig(name_prefix=ROOT_PREFIX)
    resources = root["resource"]
    primary, dr = config.primary_region, config.dr_region
    assert resources[("aws_sns_topic", "notifications")]["name"] == config.topic_name(primary)
    assert resources[("aws_sns_topic", "dr_notifications")]["name"] == config.topic_name(dr)
    assert resources[("aws_kms_alias", "primary")]["name"] == config.kms_alias(primary)
    assert resources[("aws_kms_alias", "dr")]["name"] == config.kms_alias(dr)
    modules = root["module"]
    local_stacks = config.restore_stacks()
    assert [modules["restore_primary"]["name_prefix"], modules["restore_dr"]["name_prefix"]] == [
        stack.name_prefix for stack in local_stacks
    ]
    assert modules["restore_dr"]["sns_topic_arn"] == "${aws_sns_topic.dr_notifications.arn}"
    assert modules["restore_primary"]["peer_region"] == "${var.dr_region}"
    assert modules["restore_dr"]["peer_region"] == "${var.primary_region}"


def test_the_api_body_is_openapi_yaml_with_only_the_invoke_arn_filled_in(module):
    body = module["locals"]["openapi_body"]
    assert "templatefile(var.openapi_template_path" in body and "merge(" not in body
    assert "restore_api_invoke_arn = aws_lambda_function.restore_api.invoke_arn" in " ".join(body.split())
    placeholders = set(re.findall(r"\$\{[^}]*\}", (REPO_ROOT / "openapi.yaml").read_text()))
    assert placeholders == {INVOKE_ARN_PLACEHOLDER}


def test_drill_stacks_function_table_and_environment(root, drill_module):
    resources = drill_module["resource"]
    function = resources[("aws_lambda_function", "drill")]
    stack = DrillStack("${var.name_prefix}", "${var.region}")
    assert drill_module["locals"]["function_name"] == stack.function_name
    assert int(function["timeout"]) == stack.timeout_seconds
    assert int(function["memory_size"]) == stack.memory_mb
    assert set(variables_of(function)) == set(drill_environment(DeploymentConfig(), stack, "t", "s", ["g"]))
    table = resources[("aws_dynamodb_table", "results")]
    definition = stack.table_definition()
    assert table["name"] == definition["TableName"]
    assert [table["hash_key"], table["range_key"]] == [k["AttributeName"] for k in definition["KeySchema"]]
    assert table["ttl"][0]["attribute_name"] == definition["ttl_attribute"]
    # Where the drills run: the DR region by default, the primary too with drill_regions.
    config = DeploymentConfig(name_prefix=ROOT_PREFIX)
    modules = root["module"]
    assert [s.name_prefix for s in config.drill_stacks()] == [modules["drill_dr"]["name_prefix"]]
    both = DeploymentConfig(name_prefix=ROOT_PREFIX, drill_regions=(config.dr_region, config.primary_region))
    assert [s.name_prefix for s in both.drill_stacks()] == [
        modules["drill_dr"]["name_prefix"],
        modules["drill_primary"]["name_prefix"],
    ]
    assert DeploymentConfig(drill_regions=()).drill_stacks() == []


def test_drill_network_is_the_terraform_one(drill_module):
    resources = drill_module["resource"]
    assert ("aws_vpc", "drill") in resources and ("aws_subnet", "drill") in resources
    group = resources[("aws_security_group", "drill")]
    assert "ingress" not in group and "egress" not in group  # the local stack revokes EC2's default egress
    assert group["name"] == "${var.name_prefix}-drill-instances"
