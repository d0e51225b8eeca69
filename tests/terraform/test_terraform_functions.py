"""Each Lambda function as Terraform deploys it matches the contract: entry point, runtime, tracing, environment."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import replace

import pytest
import tfmodel

from smart_vault.authz import terraform
from smart_vault.authz.tf_parse import parse_dir
from support.contract_env import CONTRACT_ENVIRONMENT

REPO = tfmodel.REPO
CONFIG = REPO / "src" / "smart_vault" / "config.py"

CONTRACT_HANDLERS = {
    "backup": "smart_vault.backup.handler",
    "restore_api": "smart_vault.restore_api.handler",
    "restore_worker": "smart_vault.restore_worker.handler",
    "drill": "smart_vault.drill.handler",
    "vault": "smart_vault.vault.handler",  # (v3)
}

SETTINGS_CLASS = {
    "backup": "BackupSettings",
    "restore_api": "RestoreApiSettings",
    "restore_worker": "RestoreWorkerSettings",
    "drill": "DrillSettings",
    "vault": "VaultSettings",
}
# Set by the Lambda runtime itself; Terraform must not set them.
RUNTIME_VARIABLES = {"AWS_REGION", "AWS_DEFAULT_REGION"}
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")

DEFINITIONS = [d for name in tfmodel.FUNCTIONS for d in tfmodel.function_definitions(name)]
IDS = [f"{d.name}-{i}" for i, d in enumerate(DEFINITIONS)]


def environment_read_by(settings_class: str) -> set[str]:
    """Variable names `<Settings>.from_env` reads, following config.py's helpers (`_required(env, "X")`...)."""
    tree = ast.parse(CONFIG.read_text(encoding="utf-8"))
    functions: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    functions[f"{node.name}.{item.name}"] = item
        elif isinstance(node, ast.FunctionDef) and node.col_offset == 0:
            functions[node.name] = node

    def reads(name: str, seen: set[str]) -> set[str]:
        if name in seen or name not in functions:
            return set()
        seen.add(name)
        found: set[str] = set()
        for call in (n for n in ast.walk(functions[name]) if isinstance(n, ast.Call)):
            callee = call.func.id if isinstance(call.func, ast.Name) else None
            if callee:
                found |= reads(callee, seen)
            for arg in call.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and ENV_NAME.match(arg.value):
                    found.add(arg.value)
        return found

    return reads(f"{settings_class}.from_env", set())


def test_the_package_reads_its_environment_only_through_config():
    # Anything reading os.environ outside config.py would escape the check below.
    offenders = []
    for path in (REPO / "src" / "smart_vault").rglob("*.py"):
        parts = path.relative_to(REPO / "src" / "smart_vault").parts
        if parts[0] in ("local", "cli", "authz") or path.name == "config.py":
            continue
        for match in re.finditer(
            r"os\.environ(?:\.get)?\W+\"([A-Z0-9_]+)\"", path.read_text(encoding="utf-8")
        ):
            if match.group(1) not in RUNTIME_VARIABLES and not match.group(1).startswith("POWERTOOLS_"):
                offenders.append(f"{path.name}: {match.group(1)}")
    assert offenders == []


@pytest.mark.parametrize("definition", DEFINITIONS, ids=IDS)
def test_handler_is_the_contract_entry_point(definition):
    assert definition.handler == CONTRACT_HANDLERS[definition.name]
    module, _, attribute = definition.handler.rpartition(".")
    # A handler module may be a package whose __init__ exports the handler (contract: "Package and entry points").
    base = REPO / "src" / module.replace(".", "/")
    source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    assert source.is_file(), f"{definition.handler}: {source} does not exist"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = (
        {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        | {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        | {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
        # PEP 562: a package may import its handler on first use, in a module-level __getattr__ (the Lambda
        # runtime resolves `module.handler` with getattr, which calls it).
        | {
            a.asname or a.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
            for i in ast.walk(n)
            if isinstance(i, ast.ImportFrom)
            for a in i.names
        }
    )
    assert attribute in names, f"{source.name} defines no top-level {attribute}"


@pytest.mark.parametrize("definition", DEFINITIONS, ids=IDS)
def test_tracing(definition):
    assert definition.tracing_mode == "Active"


@pytest.mark.parametrize("definition", DEFINITIONS, ids=IDS)
def test_environment_sets_exactly_the_contract_variables(definition):
    assert set(definition.environment) == CONTRACT_ENVIRONMENT[definition.name]
    assert not RUNTIME_VARIABLES & set(definition.environment)


@pytest.mark.parametrize("function", sorted(SETTINGS_CLASS))
def test_code_reads_exactly_the_variables_terraform_sets(function):
    read = environment_read_by(SETTINGS_CLASS[function]) - RUNTIME_VARIABLES
    assert read == CONTRACT_ENVIRONMENT[function]


@pytest.mark.parametrize("function", sorted(terraform.FUNCTIONS))
def test_functions_run_the_package_zip_on_python_with_their_regions_powertools_layer(function):
    # modules/function's `code`, as the root gives it to each stack: evaluated, with the zip's attributes bound.
    deployment = terraform.Deployment(
        attributes=(
            ("data.archive_file.lambda.output_path", "<zip>"),
            ("data.archive_file.lambda.output_base64sha256", "<hash>"),
        )
    )
    layer = tfmodel.variables(REPO)["powertools_layer_arn"]["default"]
    assert "AWSLambdaPowertoolsPythonV3-python312-x86_64" in layer
    assert "{region}" in layer
    directory, _, resource = terraform.FUNCTIONS[function]
    body = terraform.labelled(directory, "resource", "aws_lambda_function")[resource]
    for region in (deployment.primary_region, deployment.dr_region):
        # The backup function runs in the primary region, the vault's in the DR region.
        runs_in = {"backup": deployment.primary_region, "vault": deployment.dr_region}.get(function, region)
        value = terraform.scope_for(function, region, deployment).evaluator.value
        assert value(body["filename"]) == "<zip>"
        assert value(body["source_code_hash"]) == "<hash>"
        assert value(body["runtime"]) == "python3.12"
        assert value(body["layers"]) == [layer.replace("{region}", runs_in)]


def test_the_zip_leaves_out_the_local_stack_and_the_cli():
    archive = tfmodel.labelled(REPO, "data", "archive_file")["lambda"]
    assert archive["source_dir"].endswith("/src")
    excludes = set(archive["excludes"])
    assert {
        "smart_vault/local/**",
        "smart_vault/cli/**",
        "smart_vault/sim/**",
        "smart_vault/authz/**",
        "**/__pycache__/**",
    } <= excludes


def test_backup_is_scheduled_and_hears_snapshot_completion_events():
    rules = tfmodel.labelled(REPO, "resource", "aws_cloudwatch_event_rule")
    assert rules["backup_schedule"]["schedule_expression"] == "${var.backup_schedule}"
    pattern = rules["snapshot_completion"]["event_pattern"]
    for needle in ("aws.ec2", "EBS Multi-Volume Snapshots Completion Status", "EBS Snapshot Notification"):
        assert needle in pattern
    assert "createSnapshots" in pattern and "createSnapshot" in pattern
    # One target and one permission per rule that invokes the function (for_each over backup_triggers).
    triggers = tfmodel.locals_of(REPO)["backup_triggers"]
    assert set(triggers) == {
        "backup_schedule",
        "snapshot_completion",
        "copy_completion",
        "copy_reconciliation",
    }
    for name, trigger in triggers.items():
        assert trigger["rule"] == f"${{aws_cloudwatch_event_rule.{name}}}"
    target = tfmodel.labelled(REPO, "resource", "aws_cloudwatch_event_target")["backup"]
    assert target["for_each"] == "${local.backup_triggers}"
    assert target["rule"] == "${each.value.rule.name}"
    assert target["arn"] == "${aws_lambda_function.backup.arn}"
    permission = tfmodel.labelled(REPO, "resource", "aws_lambda_permission")["backup"]
    assert permission["for_each"] == "${local.backup_triggers}"
    assert permission["source_arn"] == "${each.value.rule.arn}"


def test_dr_copy_events_reach_the_backup_function_and_reconciliation_is_scheduled():
    rules = tfmodel.labelled(REPO, "resource", "aws_cloudwatch_event_rule")
    targets = tfmodel.labelled(REPO, "resource", "aws_cloudwatch_event_target")
    # In the DR region: copySnapshot results go to the primary region's default bus, through a role.
    assert rules["dr_copy_completion"]["provider"] == "${aws.dr}"
    assert "copySnapshot" in rules["dr_copy_completion"]["event_pattern"]
    forward = targets["dr_copy_completion"]
    assert forward["provider"] == "${aws.dr}"
    assert forward["arn"].endswith(":event-bus/default") and "${var.primary_region}" in forward["arn"]
    assert forward["role_arn"] == "${aws_iam_role.copy_event_forwarder.arn}"
    # In the primary region: those of the DR region go to the function.
    pattern = rules["copy_completion"]["event_pattern"]
    assert "copySnapshot" in pattern and "region = [var.dr_region]" in pattern
    assert (
        rules["copy_reconciliation"]["schedule_expression"] == "rate(${var.copy_reconcile_minutes} minutes)"
    )
    assert (
        "reconcile_copies = true"
        in tfmodel.locals_of(REPO)["backup_triggers"]["copy_reconciliation"]["input"]
    )
    ledger = tfmodel.labelled(REPO, "resource", "aws_dynamodb_table")["copy_ledger"]
    assert (ledger["hash_key"], ledger["range_key"]) == ("pk", "sk")
    assert "expires_at" in str(ledger["ttl"])
    assert "aws_kms_key.primary.arn" in str(ledger["server_side_encryption"])
    assert "True" in str(ledger["point_in_time_recovery"]) or "true" in str(ledger["point_in_time_recovery"])


def test_asynchronous_failures_go_to_an_encrypted_queue():
    for directory, name, queue in (
        (REPO, "backup", "backup_dlq"),
        (tfmodel.MODULE_DIR, "restore_worker", "restore_worker_dlq"),
    ):
        # The function module's queue and invoke config (count = 1 where the function has a queue).
        config = tfmodel.labelled(directory, "resource", "aws_lambda_function_event_invoke_config")[name]
        destination = config["destination_config"][0]["on_failure"][0]["destination"]
        assert destination == f"${{aws_sqs_queue.{queue}[0].arn}}"
        assert config["maximum_retry_attempts"] <= 2
        assert tfmodel.labelled(directory, "resource", "aws_sqs_queue")[queue]["kms_master_key_id"]


def test_every_function_log_group_has_retention_and_encryption():
    for directory in (REPO, tfmodel.MODULE_DIR):
        for name, group in tfmodel.labelled(directory, "resource", "aws_cloudwatch_log_group").items():
            retention = (
                "${var.log_retention_days}" if directory == REPO else "${var.settings.log_retention_days}"
            )
            assert group["retention_in_days"] == retention, name
            assert group["kms_key_id"], name


def test_tables_match_the_contract_keys():
    tables = tfmodel.labelled(tfmodel.MODULE_DIR, "resource", "aws_dynamodb_table")
    expected = {"restore_jobs": ("restore_id", "expires_at"), "idempotency": ("id", "expiration")}
    for name, (key, ttl) in expected.items():
        table = tables[name]
        assert table["hash_key"] == key
        assert table["attribute"] == [{"name": key, "type": "S"}]
        assert table["ttl"][0] == {"attribute_name": ttl, "enabled": True}
        assert table["billing_mode"] == "PAY_PER_REQUEST"
        assert table["point_in_time_recovery"][0]["enabled"] is True
        assert table["server_side_encryption"][0]["kms_key_arn"] == "${var.kms_key_arn}"


def test_restore_stack_is_deployed_in_both_regions_by_default():
    calls = tfmodel.module_calls()
    assert set(calls) == {"restore_primary", "restore_dr"}
    assert calls["restore_dr"]["count"] == "${var.restore_in_dr_region ? 1 : 0}"
    assert calls["restore_dr"]["providers"] == {"aws": "${aws.dr}"}
    assert tfmodel.variables(REPO)["restore_in_dr_region"]["default"] is True
    # Each stack's DR_REGION is the other region.
    assert calls["restore_primary"]["peer_region"] == "${var.dr_region}"
    assert calls["restore_dr"]["peer_region"] == "${var.primary_region}"


def test_environment_values_point_at_the_right_resources():
    (backup,) = tfmodel.function_definitions("backup")
    env = backup.environment
    assert env["DR_KMS_KEY_ID"] == "${aws_kms_key.dr.arn}"
    assert env["DR_REGION"] == "${var.dr_region}"
    assert env["SNS_TOPIC_ARN"] == "${aws_sns_topic.notifications.arn}"
    assert env["BACKUP_TAG_VALUE"] == '${join(",", var.backup_tag_values)}'
    # config.py accepts "true"/"false", which is what tostring() of a bool gives.
    assert env["DRY_RUN"] == "${tostring(var.dry_run)}"
    api = tfmodel.labelled(tfmodel.MODULE_DIR, "resource", "aws_lambda_function")["restore_api"]
    api_env = api["environment"][0]["variables"]
    assert api_env["RESTORE_WORKER_FUNCTION"] == "${local.worker_function_name}"
    assert api_env["DR_REGION"] == "${var.peer_region}"
    assert api_env["RESTORE_JOBS_TABLE"] == "${aws_dynamodb_table.restore_jobs.name}"
    assert api_env["IDEMPOTENCY_TABLE"] == "${aws_dynamodb_table.idempotency.name}"
    # Each restore stack notifies through the topic of its own region.
    calls = tfmodel.module_calls()
    assert calls["restore_primary"]["sns_topic_arn"] == "${aws_sns_topic.notifications.arn}"
    assert calls["restore_dr"]["sns_topic_arn"] == "${aws_sns_topic.dr_notifications.arn}"
    assert calls["restore_dr"]["kms_key_arn"] == "${aws_kms_key.dr.arn}"


# What the Lambda environment provides besides the zip: the runtime (boto3, botocore) and the Powertools
# layer, which is built with Powertools' extras (aws-xray-sdk, fastjsonschema, pydantic).
LAMBDA_PROVIDED = {"boto3", "botocore", "aws_lambda_powertools", "aws_xray_sdk", "fastjsonschema", "pydantic"}


def test_the_zipped_code_imports_only_what_lambda_and_the_layer_provide():
    package = REPO / "src" / "smart_vault"
    zipped = [
        p
        for p in package.rglob("*.py")
        if p.relative_to(package).parts[0] not in ("local", "cli", "sim", "authz")  # main.tf's excludes
    ]
    assert any(p.relative_to(package).parts[0] == "backup" for p in zipped)
    outside = {}
    for path in zipped:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Imports under `if TYPE_CHECKING:` never run (the type stubs are for mypy only): not the zip's.
        type_only = {
            id(inner)
            for block in ast.walk(tree)
            if isinstance(block, ast.If)
            and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for inner in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                left_out = name.startswith(("smart_vault.local", "smart_vault.cli", "smart_vault.authz"))
                if left_out or top not in sys.stdlib_module_names | LAMBDA_PROVIDED | {"smart_vault"}:
                    outside.setdefault(path.name, []).append(name)
    assert outside == {}, f"the Lambda zip would import what it does not carry: {outside}"


def test_the_standard_alarms_are_one_per_metric_the_caller_names():
    # modules/function's `lambda_metric` runs over var.alarms (metric => description); authz.tf_inline writes
    # out each instance, `each.key` and `each.value` in place.
    def standard(directory, function):
        alarms = terraform.labelled(directory, "resource", "aws_cloudwatch_metric_alarm")
        prefix = f"{function}_lambda_metric["
        return {
            label.removeprefix(prefix): body for label, body in alarms.items() if label.startswith(prefix)
        }

    backup = standard(REPO, "backup")
    assert set(backup) == {'"Errors"]', '"Throttles"]'}
    errors = backup['"Errors"]']
    assert errors["alarm_name"] == "${local.backup_function_name}-errors"
    assert errors["metric_name"] == "Errors"
    assert errors["alarm_description"].startswith("The backup function raised an error")
    assert errors["dimensions"] == {"FunctionName": "${aws_lambda_function.backup.function_name}"}
    assert set(standard(tfmodel.DRILL_DIR, "drill")) == {'"Errors"]'}
    assert standard(tfmodel.VAULT_DIR, "vault") == {}  # the vault's alarms are its own metrics'


def _module_call(directory, name):
    (call,) = [block[name] for block in parse_dir(directory)["module"] if name in block]
    return call


def _backup_trigger_rules():
    """The rules of `local.backup_triggers`, each as its entry names it (`aws_cloudwatch_event_rule.<label>`)."""
    triggers = tfmodel.locals_of(REPO)["backup_triggers"]
    return {re.fullmatch(r"\$\{(aws_cloudwatch_event_rule\.\w+)\}", t["rule"])[1] for t in triggers.values()}


def test_every_rule_that_dead_letters_to_the_backup_queue_may_send_to_it():
    """EventBridge sends a target's failed deliveries to its dead-letter queue only if the queue's policy lets
    that rule (aws:SourceArn) send; a rule left out of the policy loses its failed events without a trace."""
    target = tfmodel.labelled(REPO, "resource", "aws_cloudwatch_event_target")["backup"]
    assert target["for_each"] == "${local.backup_triggers}" and target["dead_letter_config"]
    sending = _backup_trigger_rules()
    allowed = _module_call(REPO, "backup")["async_invocation"]["dead_letter_event_rule_arns"]
    assert {f"${{{rule}.arn}}" for rule in sending} == set(allowed)
    assert len(sending) == 4


def test_the_tamper_alarms_watch_every_rule_that_invokes_the_backup_function_or_a_drill():
    """Deleting or disabling any of them, or removing its target, stops backups, DR copies or drills: each is
    watched, the drill's schedule in its own region where the drill runs."""
    rules = _backup_trigger_rules()
    watched = str(_module_call(REPO, "tamper_primary")["rule_names"])
    assert set(re.findall(r"aws_cloudwatch_event_rule\.\w+", watched)) == set(rules)
    for side in ("primary", "dr"):
        watched = str(_module_call(REPO, f"tamper_{side}")["rule_names"])
        assert f"module.drill_{side}[*].schedule_rule_name" in watched, side
    schedule = tfmodel.outputs(tfmodel.DRILL_DIR)["schedule_rule_name"]
    assert schedule["value"] == "${aws_cloudwatch_event_rule.schedule.name}"


def test_every_vault_rule_may_send_to_the_vault_queue():
    vault = tfmodel.VAULT_DIR
    rules = tfmodel.labelled(vault, "resource", "aws_cloudwatch_event_rule")["vault"]
    target = tfmodel.labelled(vault, "resource", "aws_cloudwatch_event_target")["vault"]
    # The targets and the rules are one for_each over the same map, and the policy names every rule of it.
    assert rules["for_each"] == target["for_each"] == "${local.vault_rules}" and target["dead_letter_config"]
    allowed = _module_call(vault, "vault")["async_invocation"]["dead_letter_event_rule_arns"]
    assert allowed == "${[for r in aws_cloudwatch_event_rule.vault : r.arn]}"


# Each region's tamper alarms (module call, the key of `local.tamper_function_names`), the provider its stacks are
# applied with (the DR region's name `aws.dr`), and those stacks.
TAMPER_REGIONS = [
    ("tamper_primary", "primary", None, {"restore_primary", "drill_primary"}),
    ("tamper_dr", "dr", "${aws.dr}", {"restore_dr", "drill_dr"}),
]


@pytest.mark.parametrize(("call", "side", "provider", "stacks"), TAMPER_REGIONS)
def test_the_tamper_alarms_of_each_region_watch_the_functions_that_live_there(call, side, provider, stacks):
    """The backup function lives in the primary region only; the restore API and worker and the drill live in
    the stacks applied in each region. Each region's 'functions' rule watches that region's functions, each
    where it is deployed (`module.<call>[*]` for a counted stack): the DR rule once watched the backup
    function, which is not there, and the primary rule the backup function alone, not the primary restore
    worker an attacker could delete or reconfigure."""
    region_stacks = {
        name: body
        for item in parse_dir(REPO)["module"]
        for name, body in item.items()
        if (body.get("providers") or {}).get("aws") == provider
        and body["source"] in {"./modules/restore_stack", "./modules/drill_stack"}
    }
    assert set(region_stacks) == stacks
    expected = {
        f"module.{name}{'[*]' if 'count' in body else ''}.{output}"
        for name, body in region_stacks.items()
        for output in tfmodel.outputs(REPO / body["source"].removeprefix("./"))
        if output.endswith("function_name")
    }
    assert len(expected) == 3
    names = tfmodel.locals_of(REPO).get(f"{side}_function_names", "")
    assert {ref for ref in expected if ref in names} == expected
    # The backup function's call of modules/function, written out by the inliner (aws_lambda_function.backup).
    assert ("aws_lambda_function.backup.function_name" in names) == (side == "primary")
    assert ("backup" in names) == (side == "primary")
    assert _module_call(REPO, call)["function_names"] == f'${{local.tamper_function_names["{side}"]}}'


def test_each_regions_tamper_alarms_name_its_functions_by_name():
    """modules/tamper_alarms matches every form the Lambda API takes for a name (tests/vault); an event
    pattern needs a value, so a region without functions watches a name none has."""
    deployment = terraform.Deployment(
        attributes=(
            ("local.primary_function_names", ("p-backup", "p-restore-worker")),
            ("local.dr_function_names", ()),
        )
    )
    local = terraform.ModuleScope(deployment, REPO, None).evaluator.names["local"]
    assert local["tamper_function_names"] == {
        "primary": ["p-backup", "p-restore-worker"],
        "dr": ["smart-vault-dr-no-function"],
    }
    dr_only = replace(deployment, attributes=(("local.dr_function_names", ("d-drill",)),))
    local = terraform.ModuleScope(dr_only, REPO, None).evaluator.names["local"]
    assert local["tamper_function_names"]["dr"] == ["d-drill"]


VAULT_BUS = "arn:aws:events:eu-central-1:222222222222:event-bus/smart-vault-vault"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ((), []),  # no vault account: no grant is anyone's but the workload's own roles'
        (  # applied separately: its role is named as its bus
            (
                ("vault_account_id", "222222222222"),
                ("deploy_vault_stack", False),
                ("vault_event_bus_arn", VAULT_BUS),
            ),
            ["arn:aws:iam::222222222222:role/smart-vault-vault"],
        ),
        (  # deployed from here: the module's output
            (("vault_account_id", "222222222222"),),
            ["arn:aws:iam::222222222222:role/smart-vault-vault"],
        ),
    ],
)
def test_the_dr_regions_tamper_alarms_let_the_vault_role_create_grants_on_the_dr_key(variables, expected):
    """Each vault copy makes EBS create a grant on the DR key with the vault role's permissions, logged in the
    DR key's account too: tamper_dr trusts that role for CreateGrant (modules/tamper_alarms, grant_role_arns),
    tamper_primary trusts no grant role (no vault copy reads the primary key)."""
    output = "module.vault_account[0].vault_role_arn"
    deployment = terraform.Deployment(
        variables=variables, attributes=((output, "arn:aws:iam::222222222222:role/smart-vault-vault"),)
    )
    evaluate = terraform.ModuleScope(deployment, REPO, None).evaluator.value
    assert evaluate(_module_call(REPO, "tamper_dr")["grant_role_arns"]) == expected
    assert "grant_role_arns" not in _module_call(REPO, "tamper_primary")


def test_the_vault_stacks_bus_and_role_are_named_alike():
    """The workload side applied separately finds the vault role from the bus ARN (vault.tf); the vault's
    tamper rules let the recovery roles create grants on the vault key, and watch its bus."""
    vault = tfmodel.VAULT_DIR
    bus = tfmodel.labelled(vault, "resource", "aws_cloudwatch_event_bus")["vault"]
    assert bus["name"] == "${local.function_name}"
    assert _module_call(vault, "vault")["function_name"] == "${local.function_name}"
    function = tfmodel.labelled(vault.parent / "function", "resource", "aws_iam_role")["this"]
    assert function["name"] == "${var.function_name}"
    tamper_call = _module_call(vault, "tamper")
    assert tamper_call["grant_role_arns"] == "${var.recovery_role_arns}"
    assert tamper_call["bus_names"] == [
        "${aws_cloudwatch_event_bus.vault.name}",
        "${aws_cloudwatch_event_bus.vault.arn}",
    ]


def test_the_workload_tamper_rules_trust_every_function_role_they_watch_in_both_regions():
    """The rules report every principal but the `<prefix>-` roles' sessions (docs/vault.md, known gaps): the
    functions they now watch make watched calls themselves (the restore worker's and the drill's CreateGrant
    on a restored volume, the backup's pruning DeleteSnapshot), so each one's role must carry the prefix."""
    deployment = terraform.Deployment()
    evaluate = terraform.ModuleScope(deployment, REPO, None).evaluator.value
    (trusted,) = {evaluate(_module_call(REPO, call)["trusted_arn_prefix"]) for call, *_ in TAMPER_REGIONS}
    assert trusted == f"arn:aws:sts::{deployment.account}:assumed-role/smart-vault-"
    for function in ("backup", "restore_api", "restore_worker", "drill"):
        for region in (deployment.primary_region, deployment.dr_region):
            role = terraform.role_arn(function, region, deployment).split(":role/", 1)[1]
            assert f"arn:aws:sts::{deployment.account}:assumed-role/{role}/session".startswith(trusted), role
