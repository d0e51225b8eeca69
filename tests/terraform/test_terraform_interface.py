"""Variables, outputs and the restore API's edge, read off the .tf files and openapi.yaml."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import tfmodel
import yaml

from support.logs import emf_metrics

DIRECTORIES = {"root": tfmodel.REPO, "restore_stack": tfmodel.MODULE_DIR}
ALL_VARIABLES = [
    (where, name, body) for where, d in DIRECTORIES.items() for name, body in tfmodel.variables(d).items()
]
ALL_OUTPUTS = [
    (where, name, body) for where, d in DIRECTORIES.items() for name, body in tfmodel.outputs(d).items()
]
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def test_every_tf_file_parses():
    files = tfmodel.tf_files()
    assert len(files) >= 10
    for path in files:
        assert tfmodel.parse_dir(path.parent), path


@pytest.mark.parametrize("where,name,body", ALL_VARIABLES, ids=[f"{w}.{n}" for w, n, _ in ALL_VARIABLES])
def test_every_variable_has_type_and_description(where, name, body):
    assert body.get("type"), f"{where}.{name} has no type"
    assert len(body.get("description", "")) >= 20, f"{where}.{name} has no real description"


def test_only_the_regions_are_required_at_the_root():
    required = {name for name, body in tfmodel.variables(tfmodel.REPO).items() if "default" not in body}
    assert required == {"primary_region", "dr_region"}


@pytest.mark.parametrize(
    "name,needle",
    [
        ("primary_region", "regex"),
        ("dr_region", "var.dr_region != var.primary_region"),
        ("retention_days", "3650"),
        ("dr_retention_days", "3650"),
        ("max_concurrent_copies", "20"),
        ("min_snapshots_kept", "1000"),
        ("backup_schedule", "cron"),
        ("log_retention_days", "contains"),
        ("notification_email", "regex"),
        ("allowed_subnet_ids", "subnet-"),
    ],
)
def test_narrow_variables_are_validated(name, needle):
    validations = tfmodel.variables(tfmodel.REPO)[name].get("validation", [])
    assert any(needle in str(v.get("condition")) for v in validations), name


@pytest.mark.parametrize("where,name,body", ALL_OUTPUTS, ids=[f"{w}.{n}" for w, n, _ in ALL_OUTPUTS])
def test_every_output_is_described(where, name, body):
    assert len(body.get("description", "")) >= 20, f"{where}.{name}"


def test_api_key_outputs_are_sensitive():
    keys = [(w, n, b) for w, n, b in ALL_OUTPUTS if "key" in n and "kms" not in n]
    assert {n for _, n, _ in keys} == {"api_key", "restore_api_key", "dr_restore_api_key"}
    for where, name, body in keys:
        assert body.get("sensitive") is True, f"{where}.{name}"


def test_tags_come_from_one_variable_on_every_provider():
    providers = tfmodel.parse_dir(tfmodel.REPO)["provider"]
    assert len(providers) == 4
    for provider in providers:
        (body,) = provider.values()
        assert body["default_tags"][0]["tags"] == "${local.tags}"
    assert tfmodel.locals_of(tfmodel.REPO)["tags"].startswith("${merge(var.tags")
    aliases = {body.get("alias") for p in providers for body in p.values()}
    assert aliases == {None, "dr", "us_east_1", "vault"}  # (v3) vault: the vault account's credentials


def test_state_backend_is_s3_without_a_hard_coded_bucket():
    (terraform,) = tfmodel.parse_dir(tfmodel.REPO)["terraform"]
    assert terraform["backend"] == [{"s3": {}}]
    assert set(terraform["required_providers"][0]) == {"aws", "archive"}


def test_billing_alarm_reads_us_east_1():
    alarm = tfmodel.labelled(tfmodel.REPO, "resource", "aws_cloudwatch_metric_alarm")["billing"]
    assert alarm["provider"] == "${aws.us_east_1}"
    assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/Billing", "EstimatedCharges")


def test_deleted_managed_snapshots_stay_in_the_recycle_bin_of_each_region_and_of_the_vault():
    """One rule per region and one in the vault account (locked there), each an instance of
    modules/recycle_bin, for `recycle_bin_retention_days`, none when it is 0: in the workload account's regions
    the managed snapshots (a tag-level rule); in the vault account every snapshot of its region, because AWS
    locks only Region-level rules without exclusion tags."""
    rules = tfmodel.labelled(tfmodel.REPO, "resource", "aws_rbin_rule")
    (vault,) = tfmodel.labelled(tfmodel.VAULT_DIR, "resource", "aws_rbin_rule").values()
    assert set(rules) == {"recycle_bin", "dr_recycle_bin"}
    assert "provider" not in rules["recycle_bin"] and rules["dr_recycle_bin"]["provider"] == "${aws.dr}"
    for rule in (*rules.values(), vault):
        assert rule["count"] == "${var.recycle_bin_retention_days > 0 ? 1 : 0}"
        assert rule["resource_type"] == "EBS_SNAPSHOT"
        assert rule["retention_period"] == [
            {"retention_period_value": "${var.recycle_bin_retention_days}", "retention_period_unit": "DAYS"}
        ]
    for rule in rules.values():
        assert "lock_configuration" not in rule
        assert rule["resource_tags"] == [
            {"resource_tag_key": "ManagedBy", "resource_tag_value": "smart-vault"}
        ]
    assert vault["lock_configuration"] == [
        {"unlock_delay": [{"unlock_delay_value": 7, "unlock_delay_unit": "DAYS"}]}
    ]
    assert "resource_tags" not in vault and "exclude_resource_tags" not in vault


def test_a_locked_recycle_bin_rule_is_one_aws_accepts():
    """CreateRule and LockRule refuse a lock on a tag-level rule or on a Region-level rule with exclusion tags
    (Recycle Bin API Reference, LockRule), and a locked rule cannot be modified: its description must not
    follow a setting, or changing that setting would be refused."""
    (vault,) = tfmodel.labelled(tfmodel.VAULT_DIR, "resource", "aws_rbin_rule").values()
    locked = [
        r
        for r in (*tfmodel.labelled(tfmodel.REPO, "resource", "aws_rbin_rule").values(), vault)
        if "lock_configuration" in r
    ]
    assert locked
    for rule in locked:
        assert not rule.get("resource_tags") and not rule.get("exclude_resource_tags")
        assert "${" not in rule["description"]


def test_backup_alarms_cover_failures_rpo_errors_throttles_and_dlq():
    alarms = tfmodel.labelled(tfmodel.REPO, "resource", "aws_cloudwatch_metric_alarm")
    metrics = {(a["namespace"], a["metric_name"]) for a in alarms.values()}
    assert {
        ("SmartVault", "BackupFailures"),
        ("SmartVault", "RecoveryPointAgeSeconds"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= metrics
    assert alarms['rpo_breaches["rpo-breach"]']["threshold"] == "${var.rpo_threshold_hours * 3600}"


def test_each_region_has_its_rpo_alarm_on_its_own_objective():
    """One for_each call of modules/alarm over the two regions: each instance gets its region's objective;
    the primary's clears with the latest run (1 of 1 datapoint, hours without a run ignored), the DR's treats
    an hour without data as missing."""
    alarms = tfmodel.labelled(tfmodel.REPO, "resource", "aws_cloudwatch_metric_alarm")
    primary, dr = alarms['rpo_breaches["rpo-breach"]'], alarms['rpo_breaches["dr-rpo-breach"]']
    assert (primary["alarm_name"], dr["alarm_name"]) == (
        "${var.name_prefix}-rpo-breach",
        "${var.name_prefix}-dr-rpo-breach",
    )
    assert (primary["threshold"], dr["threshold"]) == (
        "${var.rpo_threshold_hours * 3600}",
        "${var.dr_rpo_threshold_hours * 3600}",
    )
    assert (primary["datapoints_to_alarm"], primary["treat_missing_data"]) == (1, "ignore")
    assert ("datapoints_to_alarm" not in dr, dr["treat_missing_data"]) == (True, "missing")
    for alarm in (primary, dr):
        assert (alarm["metric_name"], alarm["statistic"], alarm["period"]) == (
            "RecoveryPointAgeSeconds",
            "Maximum",
            3600,
        )


def test_alarm_dimensions_match_what_the_backup_handler_emits(capsys, monkeypatch):
    # An alarm whose dimensions differ from the emitted ones watches a metric that never gets any data.

    from smart_vault.backup import entry as backup
    from smart_vault.backup.run import RunResult
    from smart_vault.config import BackupSettings

    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    settings = BackupSettings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "DR_REGION": "eu-central-1",
            "DR_KMS_KEY_ID": "alias/smart-vault-dr",
            "SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:smart-vault-notifications",
            "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
        }
    )
    backup.metrics.clear_metrics()  # the Metrics object is shared: start from an empty buffer
    capsys.readouterr()
    report = {
        "snapshots_created": [],
        "deleted": [],
        "copies_started": [],
        "copies_deferred": 0,
        "failures": [],
    }
    backup.emit_metrics(
        RunResult(
            report=report,
            instances_protected=1,
            recovery_point_age=60.0,
            dr_recovery_point_age=120.0,
            oldest_owed_copy_age=0.0,
        ),
        settings,
        True,
    )
    backup.metrics.flush_metrics()
    emitted = {
        name: [dims for _, dims in found] for name, found in emf_metrics(capsys.readouterr().out).items()
    }

    alarms = tfmodel.labelled(tfmodel.REPO, "resource", "aws_cloudwatch_metric_alarm")
    failures = tfmodel.resolve(alarms['backup_counts["backup-failures"]']["dimensions"], tfmodel.REPO)
    assert emitted["BackupFailures"] == [failures] == [{"service": "smart-vault"}]
    assert emitted["RecoveryPointAgeSeconds"] == [{"Region": "eu-west-1"}, {"Region": "eu-central-1"}]
    assert alarms['rpo_breaches["rpo-breach"]']["dimensions"] == {"Region": "${var.primary_region}"}
    assert alarms['rpo_breaches["dr-rpo-breach"]']["dimensions"] == {"Region": "${var.dr_region}"}
    owed = tfmodel.resolve(alarms["owed_copy_age"]["dimensions"], tfmodel.REPO)
    assert emitted["OldestOwedCopySeconds"] == [owed]


# ---------------------------------------------------------------- the restore API


@pytest.fixture(scope="module")
def openapi():
    text = tfmodel.OPENAPI.read_text(encoding="utf-8")
    # The template's only placeholder is the integration URI that Terraform fills in.
    assert set(re.findall(r"\$\{([^}]*)\}", text)) == {"restore_api_invoke_arn"}
    assert "%{" not in text
    return yaml.safe_load(text)


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_api_method_requires_the_api_key(openapi):
    schemes = openapi["components"]["securitySchemes"]
    key_schemes = {
        n for n, s in schemes.items() if s == {**s, "type": "apiKey", "in": "header", "name": "x-api-key"}
    }
    assert key_schemes
    assert openapi["x-amazon-apigateway-api-key-source"] == "HEADER"
    found = list(operations(openapi))
    assert {(p, m) for p, m, _ in found} >= {("/restore", "post"), ("/restore/{restore_id}", "get")}
    for path, method, operation in found:
        security = operation.get("security", openapi.get("security"))
        assert security, f"{method} {path} has no security"
        assert all(set(requirement) & key_schemes for requirement in security), f"{method} {path}"


def test_every_api_method_is_the_lambda_proxy_and_validated(openapi):
    validators = openapi["x-amazon-apigateway-request-validators"]
    for path, method, operation in operations(openapi):
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy" and integration["httpMethod"] == "POST"
        assert integration["uri"] == "${restore_api_invoke_arn}"
        validator = operation.get(
            "x-amazon-apigateway-request-validator", openapi.get("x-amazon-apigateway-request-validator")
        )
        assert validator in validators, f"{method} {path} is not validated at the edge"
    assert validators[openapi["paths"]["/restore"]["post"]["x-amazon-apigateway-request-validator"]][
        "validateRequestBody"
    ]


def test_bad_requests_answer_in_the_contract_shape(openapi):
    responses = openapi["x-amazon-apigateway-gateway-responses"]
    for name in ("BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS"):
        assert responses[name]["statusCode"] == "400"
        assert '"error":"ValidationError"' in responses[name]["responseTemplates"]["application/json"]


def test_stage_usage_plan_and_key():
    module = tfmodel.MODULE_DIR
    stage = tfmodel.labelled(module, "resource", "aws_api_gateway_stage")["v1"]
    assert stage["stage_name"] == "v1"
    assert stage["xray_tracing_enabled"] is True
    assert stage["access_log_settings"][0]["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    api = tfmodel.labelled(module, "resource", "aws_api_gateway_rest_api")["restore"]
    assert api["body"] == "${local.openapi_body}"
    assert "templatefile(var.openapi_template_path" in tfmodel.locals_of(module)["openapi_body"]
    plan = tfmodel.labelled(module, "resource", "aws_api_gateway_usage_plan")["restore"]
    assert plan["throttle_settings"][0]["rate_limit"] == "${var.settings.api_throttle_rate_limit}"
    settings = tfmodel.locals_of(tfmodel.REPO)["restore_settings"]
    assert settings["api_throttle_rate_limit"] == "${var.api_throttle_rate_limit}"
    assert plan["quota_settings"][0]["period"] == "DAY"
    assert plan["api_stages"][0]["stage"] == "${aws_api_gateway_stage.v1.stage_name}"
    key = tfmodel.labelled(module, "resource", "aws_api_gateway_usage_plan_key")["restore"]
    assert key["key_id"] == "${aws_api_gateway_api_key.restore.id}"
    assert key["usage_plan_id"] == "${aws_api_gateway_usage_plan.restore.id}"


def test_terraform_fmt():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip(
            "terraform binary not found: `terraform fmt -check` not run (every .tf file is still parsed)"
        )
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(tfmodel.REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_document_uses_only_what_the_api_gateway_importer_supports(openapi):
    # API Gateway's OpenAPI import ignores (with a warning) `example`, `examples`, `nullable` and
    # `components/responses` references; its gateway-response extension takes statusCode as a string.
    text = (tfmodel.REPO / "openapi.yaml").read_text(encoding="utf-8")
    for construct in ("example:", "examples:", "nullable:", "#/components/responses/"):
        assert construct not in text, construct
    assert "responses" not in openapi.get("components", {})
    for name, response in openapi["x-amazon-apigateway-gateway-responses"].items():
        if "statusCode" in response:
            assert isinstance(response["statusCode"], str), name


def test_the_rest_api_import_fails_on_warnings():
    api = tfmodel.labelled(tfmodel.MODULE_DIR, "resource", "aws_api_gateway_rest_api")["restore"]
    assert api["fail_on_warnings"] is True
