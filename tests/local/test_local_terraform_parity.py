"""The local stack provisions what the Terraform deploys: fails when names, keys or environments drift."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from smart_vault import tamper
from smart_vault.authz import terraform
from smart_vault.authz.tf_parse import parse_dir
from smart_vault.local.cloudtrail import TamperRules
from smart_vault.local.dashboard_body import dashboard_widgets
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
from smart_vault.local.monitoring import (
    AlarmSpec,
    backup_alarms,
    drill_alarms,
    log_groups,
    restore_alarms,
    roles,
)
from smart_vault.local.provision import INVOKE_ARN_PLACEHOLDER
from smart_vault.local.rules import rules

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO_ROOT / "modules" / "restore_stack"
DRILL_DIR = REPO_ROOT / "modules" / "drill_stack"
# Rendering the local names with the Terraform expression as the prefix gives the Terraform strings.
ROOT_PREFIX = "${var.name_prefix}"
MODULE_STACK = RestoreStack(ROOT_PREFIX, "${var.region}", "${var.peer_region}", is_dr=False)


def load(directory: Path) -> dict[str, Any]:
    """Resources by (type, name), locals, variables and modules of every *.tf file in `directory`, the calls
    of modules/function expanded (smart_vault.authz.tf_inline: `module "backup"`'s function is
    `aws_lambda_function.backup`)."""
    model: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "module": {}}
    document = parse_dir(directory)
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


# ---------------------------------------------------------------- alarms, rules, log groups, roles, dashboard

TF_CONFIG = DeploymentConfig(
    name_prefix=ROOT_PREFIX, primary_region="${var.primary_region}", dr_region="${var.dr_region}"
)


def hcl_object_to_json(text: str) -> Any:
    """`jsonencode({a = ["x"], b-c = {d = [var.e]}})`'s argument as data (the subset the rules use)."""
    body = text.removeprefix("${jsonencode(").removesuffix(")}")
    body = re.sub(r"\bvar\.(\w+)", r'"${var.\1}"', body)
    body = re.sub(r"([A-Za-z_][\w-]*) = ", r'"\1": ', body)
    return json.loads(body.replace("true", "true"))


def evaluate(value: Any, variables: dict[str, Any]) -> Any:
    """A number, or `${var.x}` / `${var.x * n}` with the variables' defaults."""
    if isinstance(value, (int, float)):
        return value
    match = re.fullmatch(r"\$\{var\.([\w.]+)(?: \* (\d+))?\}", value)
    assert match, f"unexpected expression {value}"
    return variables[match.group(1)]["default"] * int(match.group(2) or 1)


def tf_alarm(body: dict[str, Any], variables: dict[str, Any], locals_: dict[str, Any]) -> dict[str, Any]:
    dimensions = body["dimensions"]
    if isinstance(dimensions, str):  # a reference to a local map
        dimensions = locals_[dimensions.removeprefix("${local.").removesuffix("}")]
    known = {"${aws_api_gateway_stage.v1.stage_name}": API_STAGE}  # resolved: the stage is checked above
    dimensions = {k: known.get(v, v) for k, v in dimensions.items()}
    return {
        "name": named(body["alarm_name"]),
        "namespace": body["namespace"],
        "metric": body["metric_name"],
        "statistic": body["statistic"],
        "period": body["period"],
        "evaluation_periods": body["evaluation_periods"],
        "datapoints_to_alarm": body.get("datapoints_to_alarm"),
        "threshold": evaluate(body["threshold"], variables),
        "comparison": body["comparison_operator"],
        "treat_missing_data": body["treat_missing_data"],
        "dimension_keys": sorted(dimensions),
        "literal_dimensions": {k: v for k, v in dimensions.items() if "${" not in str(v)},
        "ok_actions": bool(body.get("ok_actions")),
        "insufficient_data_actions": bool(body.get("insufficient_data_actions")),
    }


# The functions' names as the Terraform's locals write them: the function module names a function's role,
# log group and alarms after it.
FUNCTION_NAME_LOCALS = {
    "${local.backup_function_name}": DeploymentConfig(name_prefix=ROOT_PREFIX).backup_function_name,
    "${local.api_function_name}": MODULE_STACK.api_function_name,
    "${local.worker_function_name}": MODULE_STACK.worker_function_name,
    "${local.function_name}": "${var.name_prefix}-drill",
}


def named(text: str) -> str:
    for reference, name in FUNCTION_NAME_LOCALS.items():
        text = text.replace(reference, name)
    return text


def local_alarm(alarm: AlarmSpec) -> dict[str, Any]:
    return {
        "name": alarm.name,
        "namespace": alarm.namespace,
        "metric": alarm.metric,
        "statistic": alarm.statistic,
        "period": alarm.period,
        "evaluation_periods": alarm.evaluation_periods,
        "datapoints_to_alarm": alarm.datapoints_to_alarm,
        "threshold": alarm.threshold,
        "comparison": alarm.comparison,
        "treat_missing_data": alarm.treat_missing_data,
        "dimension_keys": sorted(alarm.dimensions),
        "literal_dimensions": {k: v for k, v in alarm.dimensions.items() if "${" not in v},
        "ok_actions": alarm.ok_actions,
        "insufficient_data_actions": alarm.insufficient_data_actions,
    }


def tf_alarms(model: dict[str, Any], variables: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for (kind, name), body in model["resource"].items():
        if kind == "aws_cloudwatch_metric_alarm":  # the function module's for_each is written out per metric
            found.append(tf_alarm(body, variables, model["locals"]))
    return sorted(found, key=lambda a: a["name"])


def test_alarms_are_the_terraforms(root, module, drill_module):
    variables = root["variable"]
    # The modules' thresholds are the root variables they are given.
    assert root["module"]["drill_dr"]["settings"] == "${local.drill_settings}"
    assert root["locals"]["drill_settings"]["rto_threshold_seconds"] == "${var.drill_rto_threshold_seconds}"
    module_variables = {
        **variables,
        "settings.rto_threshold_seconds": variables["drill_rto_threshold_seconds"],
    }
    drill_config = replace(TF_CONFIG, drill_regions=(TF_CONFIG.primary_region,))

    assert tf_alarms(root, variables) == sorted(
        map(local_alarm, backup_alarms(TF_CONFIG)), key=lambda a: a["name"]
    )
    primary_restore = [a for a in restore_alarms(TF_CONFIG) if a.region == TF_CONFIG.primary_region]
    assert tf_alarms(module, module_variables) == sorted(
        map(local_alarm, primary_restore), key=lambda a: a["name"]
    )
    assert tf_alarms(drill_module, module_variables) == sorted(
        map(local_alarm, drill_alarms(drill_config)), key=lambda a: a["name"]
    )


def test_alarm_comparison_detects_a_drift(root):
    drifted = [replace(backup_alarms(TF_CONFIG)[1], threshold=25 * 3600)]
    assert [local_alarm(a) for a in drifted] != [
        a for a in tf_alarms(root, root["variable"]) if "rpo-breach" in a["name"]
    ][:1]


def test_rules_targets_and_permissions_are_the_terraforms(root, drill_module):
    variables = {name: body.get("default") for name, body in root["variable"].items()}
    resources = root["resource"]
    tf_rules = {b["name"]: b for (k, _), b in resources.items() if k == "aws_cloudwatch_event_rule"}
    local_rules = {r.name: r for r in rules(TF_CONFIG) if r.region != "${var.region}"}
    drill_rule = local_rules.pop(f"{ROOT_PREFIX}-dr-drill-schedule")
    assert set(tf_rules) == set(local_rules)
    for name, body in tf_rules.items():
        rule = local_rules[name]
        assert body["description"] == rule.description, name
        schedule = body.get("schedule_expression")
        if schedule:
            rendered = re.sub(r"\$\{var\.(\w+)\}", lambda m: str(variables[m.group(1)]), schedule)
            assert rendered == rule.schedule, name
        else:
            assert hcl_object_to_json(body["event_pattern"]) == rule.pattern, name
    targets = {b["rule"]: b for b in instances(root, "aws_cloudwatch_event_target")}
    for key, target in targets.items():
        rule_resource = key.removeprefix("${aws_cloudwatch_event_rule.").removesuffix(".name}")
        rule = local_rules[resources[("aws_cloudwatch_event_rule", rule_resource)]["name"]]
        if rule.target_function:
            assert target["arn"] == "${aws_lambda_function.backup.arn}"
        else:
            assert "event-bus/default" in target["arn"] and "role_arn" in target
        assert (hcl_object_to_json(target["input"]) if "input" in target else None) == rule.target_input
    permissions = {
        b["source_arn"].removeprefix("${aws_cloudwatch_event_rule.").removesuffix(".arn}"): b["statement_id"]
        for b in instances(root, "aws_lambda_permission")
    }
    for resource, statement in permissions.items():
        assert (
            local_rules[resources[("aws_cloudwatch_event_rule", resource)]["name"]].statement_id == statement
        )
    drill = drill_module["resource"]
    assert drill[("aws_cloudwatch_event_rule", "schedule")]["name"] == "${var.name_prefix}-drill-schedule"
    assert drill[("aws_lambda_permission", "schedule")]["statement_id"] == drill_rule.statement_id
    assert root["module"]["drill_dr"]["settings"] == "${local.drill_settings}"
    assert root["locals"]["drill_settings"]["schedule_expression"] == "${var.drill_schedule}"
    assert drill_rule.schedule == DeploymentConfig().drill_schedule


_EACH_VALUE = re.compile(r"\$\{each\.value\.(\w+)((?:\.\w+)*)\}")


def instances(model: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The blocks of `kind`, one written out per entry where it has `for_each = local.<map>` (the backup
    function's triggers): `${each.value.<a>}` as the entry's value (an attribute set to null is not set),
    `${each.value.<a>.<b>}` as attribute `<b>` of the resource the entry names."""

    def written(body: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in body.items():
            match = _EACH_VALUE.fullmatch(value) if isinstance(value, str) else None
            if match:
                value = entry[match.group(1)]
                if match.group(2):
                    value = value.removesuffix("}") + match.group(2) + "}"
            if value is not None:
                out[name] = value
        return out

    found = []
    for (k, _), body in model["resource"].items():
        if k != kind:
            continue
        if "for_each" not in body:
            found.append(body)
            continue
        entries = model["locals"][body["for_each"].removeprefix("${local.").removesuffix("}")]
        rest = {name: value for name, value in body.items() if name != "for_each"}
        found.extend(written(rest, entry) for entry in entries.values())
    return found


def names_of(model: dict[str, Any], kind: str) -> set[str]:
    return {body["name"] for (k, _), body in model["resource"].items() if k == kind}


def test_log_groups_and_roles_are_the_terraforms(root, module, drill_module):
    module_config = DeploymentConfig(
        name_prefix=ROOT_PREFIX, restore_in_dr_region=False, drill_regions=("p",), primary_region="p"
    )
    module_groups = {
        named(n)
        for n in names_of(module, "aws_cloudwatch_log_group")
        | names_of(drill_module, "aws_cloudwatch_log_group")
    }
    root_groups = {named(n) for n in names_of(root, "aws_cloudwatch_log_group")}

    assert root_groups | module_groups == {g for groups in log_groups(module_config).values() for g in groups}
    tf_roles = {
        named(n)
        for n in names_of(root, "aws_iam_role")
        | names_of(module, "aws_iam_role")
        | names_of(drill_module, "aws_iam_role")
    }
    assert tf_roles == {r.name for r in roles(module_config)}


def test_the_dashboard_is_the_terraforms(root):
    body = root["locals"]["dashboard_widgets"]
    config = DeploymentConfig(name_prefix=ROOT_PREFIX, primary_region="p", dr_region="${r}")
    widgets = dashboard_widgets(config)
    tf_titles = re.findall(r'title *= "([^"]+)"', body)
    assert tf_titles == [w["properties"]["title"] for w in widgets]
    tf_metrics = re.findall(r'\["SmartVault", "(\w+)"', body)
    local_metrics = [m[1] for w in widgets for m in w["properties"]["metrics"] if m and m[0] == "SmartVault"]
    assert sorted(set(tf_metrics)) == sorted(set(local_metrics))
    assert (
        root["resource"][("aws_cloudwatch_dashboard", "health")]["dashboard_name"] == f"{ROOT_PREFIX}-health"
    )


# ---------------------------------------------------------------- tamper alarms (vault.tf)

# The stack outputs vault.tf's `<side>_function_names` name, as the function each is.
OUTPUT_FUNCTIONS = {
    "restore_api_function_name": "restore_api",
    "restore_worker_function_name": "restore_worker",
    "function_name": "drill",
}
_FUNCTION_REFERENCE = re.compile(r"module\.(\w+)(\[\*\])?\.(\w+)|aws_lambda_function\.backup\.function_name")


def tf_tamper_function_names(root: dict[str, Any], deployment: terraform.Deployment) -> dict[str, Any]:
    """vault.tf's `local.tamper_function_names` for `deployment`, evaluated: each function its
    `<side>_function_names` names is the one its stack renders (smart_vault.authz.terraform), a counted
    stack's `[*]` that one, or none where the stack's `count` is 0."""
    scope = terraform.ModuleScope(deployment, terraform.REPO, None)

    def function(match: re.Match[str]) -> str:
        call_name, splat, output = match.groups()
        if call_name is None:  # the backup function (modules/function, written out by the inliner)
            return json.dumps(terraform.function_name("backup", deployment.primary_region, deployment))
        call = root["module"][call_name]
        region = deployment.dr_region if call.get("providers") else deployment.primary_region
        name = json.dumps(terraform.function_name(OUTPUT_FUNCTIONS[output], region, deployment))
        if not splat:
            return name
        return f"[{name}]" if scope.evaluator.value(call["count"]) else "[]"

    names = tuple(
        (
            f"local.{side}_function_names",
            tuple(
                scope.evaluator.value(
                    _FUNCTION_REFERENCE.sub(function, root["locals"][f"{side}_function_names"])
                )
            ),
        )
        for side in ("primary", "dr")
    )
    bound = terraform.ModuleScope(replace(deployment, attributes=names), terraform.REPO, None)
    return bound.evaluator.names["local"]["tamper_function_names"]


TRAILS = (
    "arn:aws:cloudtrail:eu-west-1:123456789012:trail/management",
    "arn:aws:cloudtrail:eu-central-1:123456789012:trail/dr-region",
)


@pytest.mark.parametrize(
    ("restore_in_dr_region", "drill_regions", "trails"),
    [
        (True, None, ()),
        (False, (), TRAILS[:1]),
        (True, ("eu-central-1", "eu-west-1"), TRAILS),
        (False, ("eu-west-1",), ()),
    ],
)
def test_the_tamper_rules_are_the_terraforms_in_each_region(
    root, drill_module, restore_in_dr_region, drill_regions, trails
):
    """The local stack's tamper rules (`TamperRules.deployed`, which the ransomware day evaluates) are
    tamper_primary's and tamper_dr's: the same trusted roles, the region's key alias, the functions deployed
    in the region (each where its stack is), the rules of the region (the drill's schedule where its stack
    is), and the trails of `tamper_trail_arns` homed there, by ARN and by name."""
    schedule = drill_module["resource"][("aws_cloudwatch_event_rule", "schedule")]["name"]
    assert schedule == "${var.name_prefix}-drill-schedule"
    config = DeploymentConfig(
        restore_in_dr_region=restore_in_dr_region, drill_regions=drill_regions, tamper_trail_arns=trails
    )
    deployment = terraform.Deployment(
        variables=(
            ("restore_in_dr_region", restore_in_dr_region),
            ("drill_regions", drill_regions),
            ("tamper_trail_arns", trails),
        )
    )
    evaluate_tf = terraform.ModuleScope(deployment, terraform.REPO, None).evaluator.value
    functions = tf_tamper_function_names(root, deployment)
    for side, region in (("primary", config.primary_region), ("dr", config.dr_region)):
        call = root["module"][f"tamper_{side}"]
        assert f"${{aws_kms_alias.{side}.name}}" in call["key_ids"]
        alias = evaluate_tf(root["resource"][("aws_kms_alias", side)]["name"])
        rule_names = []
        for rule, drill in re.findall(
            r"aws_cloudwatch_event_rule\.(\w+)\.name|module\.(drill_\w+)\[\*\]\.schedule_rule_name",
            str(call["rule_names"]),
        ):
            if rule:
                rule_names.append(evaluate_tf(root["resource"][("aws_cloudwatch_event_rule", rule)]["name"]))
            elif evaluate_tf(root["module"][drill]["count"]):
                rule_names.append(f"{evaluate_tf(root['module'][drill]['name_prefix'])}-drill-schedule")
        # No vault account here: tests/terraform checks the DR region's grant roles with one.
        assert evaluate_tf(call.get("grant_role_arns", "${[]}")) == []
        deployed = tamper.patterns(
            tamper.Watched(
                deployment.account,
                region,
                evaluate_tf(call["trusted_arn_prefix"]),
                ("key-1", alias),
                tuple(functions[side]),
                tuple(rule_names),
                trail_names=tuple(evaluate_tf(call["trail_names"])),
            )
        )
        assert TamperRules.deployed(config, deployment.account, region, ["key-1"]).patterns == deployed, side
        assert ("trails" in deployed) == any(f":{region}:" in arn for arn in trails), side
