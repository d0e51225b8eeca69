"""(v3) The tamper rules: the emulator's CloudTrail matches the same patterns Terraform deploys, and renders
the same notification as the input transformer."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from smart_vault import tamper
from smart_vault.local.cloudtrail import TamperRules, management_event
from smart_vault.local.deployment import DeploymentConfig

MODULE = Path(__file__).resolve().parents[2] / "modules" / "tamper_alarms" / "main.tf"
TRUSTED = "arn:aws:sts::123456789012:assumed-role/smart-vault-"
ACCOUNT = "123456789012"


def test_terraform_deploys_the_rules_of_smart_vault_tamper():
    text = MODULE.read_text(encoding="utf-8")
    rules_block = text[text.index("tamper_rules = {") : text.index('resource "aws_cloudwatch_event_rule"')]
    deployed = re.findall(r"^    ([a-z]+) = \{$", rules_block, flags=re.MULTILINE)
    assert deployed == list(tamper.patterns(TRUSTED, ["k"], ["f"], ["r"]))
    names = [re.findall(r'"([A-Za-z]+)"', m) for m in re.findall(r"eventName\s*=\s*\[(.*?)\]\n", rules_block)]
    assert names == [
        list(tamper.SNAPSHOT_CALLS),
        list(tamper.KEY_CALLS),
        list(tamper.FUNCTION_CALL_PREFIXES),  # as { prefix = ... } objects
        list(tamper.RULE_CALLS),
        list(tamper.TARGET_CALLS),
    ]
    template = re.search(r"input_template = <<-JSON\n\s*(\{.*\})\n", text).group(1)
    rendered = json.loads(re.sub(r"<([a-z]+)>", "x", template.replace("<resource>", '"x"')))
    assert set(rendered) == set(tamper.notification({"detail": {}}))


def test_only_principals_other_than_the_vaults_roles_are_reported():
    rules = TamperRules.of("123456789012", "eu-central-1", TRUSTED, ["key-1"], ["smart-vault-backup"], ["r"])

    def event(principal, operation="DeleteSnapshot", params=None, region="eu-central-1"):
        return management_event(
            "ec2", operation, params or {"SnapshotId": "snap-1"}, principal, "123456789012", region, ""
        )

    ours = event("arn:aws:sts::123456789012:assumed-role/smart-vault-backup/i-1")
    admin = event("arn:aws:sts::123456789012:assumed-role/Admin/alice")
    root = event("arn:aws:iam::123456789012:root")
    elsewhere = event("arn:aws:iam::123456789012:root", region="eu-west-1")
    harmless = event("arn:aws:iam::123456789012:root", operation="CreateSnapshot")
    sent = rules.notifications([ours, admin, root, elsewhere, harmless])
    assert [n["principal"] for n in sent] == [
        "arn:aws:sts::123456789012:assumed-role/Admin/alice",
        "arn:aws:iam::123456789012:root",
    ]
    assert (
        sent[0]["subject"]
        == "Smart Vault TAMPER DeleteSnapshot by arn:aws:sts::123456789012:assumed-role/Admin/alice"
    )
    assert sent[0]["resource"] == {"snapshotId": "snap-1"} and sent[0]["event_type"] == "vault.tamper"


def test_key_calls_are_reported_only_on_the_vaults_keys():
    rules = TamperRules.of("123456789012", "eu-central-1", TRUSTED, ["key-1"])
    on_ours = management_event(
        "kms",
        "ScheduleKeyDeletion",
        {"KeyId": "key-1"},
        "arn:aws:iam::123456789012:root",
        "123456789012",
        "eu-central-1",
        "",
    )
    on_other = management_event(
        "kms",
        "ScheduleKeyDeletion",
        {"KeyId": "key-2"},
        "arn:aws:iam::123456789012:root",
        "123456789012",
        "eu-central-1",
        "",
    )
    assert [n["resource"] for n in rules.notifications([on_ours, on_other])] == [{"keyId": "key-1"}]


def test_each_regions_rules_report_calls_on_the_functions_that_live_there():
    """The rules the ransomware day evaluates (`TamperRules.deployed`, vault.tf's inputs): the primary
    region's watch the backup function and the primary restore worker (not only the backup function), the DR
    region's the DR stacks' functions (not the backup function, which is not there), by name or by ARN."""
    config = DeploymentConfig()
    primary, dr = config.primary_region, config.dr_region
    admin = "arn:aws:iam::123456789012:root"

    def call(operation, function, region):
        return management_event("lambda", operation, {"FunctionName": function}, admin, ACCOUNT, region, "")

    worker_arn = f"arn:aws:lambda:{primary}:{ACCOUNT}:function:smart-vault-restore-worker"
    calls = [
        call("DeleteFunction", "smart-vault-backup", primary),
        call("UpdateFunctionConfiguration", worker_arn, primary),
        call("UpdateFunctionCode", "smart-vault-dr-restore-worker", dr),
        call("DeleteFunction", "smart-vault-dr-drill", dr),
        call("DeleteFunction", "smart-vault-backup", dr),  # no such function there
        call("DeleteFunction", "smart-vault-dr-drill", primary),  # nor there
    ]
    reported = {
        region: [(n["call"], n["resource"]["functionName"]) for n in rules.notifications(calls)]
        for region in (primary, dr)
        for rules in [TamperRules.deployed(config, ACCOUNT, region)]
    }
    assert reported == {
        primary: [
            ("DeleteFunction20150331", "smart-vault-backup"),
            ("UpdateFunctionConfiguration20150331v2", worker_arn),
        ],
        dr: [
            ("UpdateFunctionCode20150331v2", "smart-vault-dr-restore-worker"),
            ("DeleteFunction20150331", "smart-vault-dr-drill"),
        ],
    }
    # Without the DR stacks, the DR rule still has a name to match (an event pattern needs a value).
    bare = replace(config, restore_in_dr_region=False, drill_regions=(primary,))
    assert TamperRules.deployed(bare, ACCOUNT, dr).patterns["functions"]["detail"]["requestParameters"] == {
        "functionName": ["smart-vault-dr-no-function"]
    }
