"""Least privilege, read off the policy documents: EC2 mutations only on what carries ManagedBy=smart-vault."""

from __future__ import annotations

import re

import pytest
import tfmodel

STATEMENTS = tfmodel.all_statements()
FUNCTION_ROLES = sorted(tfmodel.ROLE_POLICY_MAPS)

# Verbs of IAM actions that only read.
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List|Query|Scan|BatchGet)[A-Za-z*]*$")
MANAGED = ("smart-vault",)
TAG_CONDITIONS = ("aws:RequestTag/ManagedBy", "ec2:ResourceTag/ManagedBy")
CREATE_ACTIONS = {"CreateSnapshots", "CopySnapshot", "CreateVolume", "RunInstances", "RegisterImage"}
# RunInstances also authorizes what it only reads (the AMI, the subnet, the security group, the key pair);
# those cannot carry request tags, so they are scoped by ARN instead. Nothing else may go without the tag
# condition.
RUN_INSTANCES_READ_ONLY_RESOURCES = re.compile(
    r"local\.(image_arns|snapshot_arns|subnet_arns)|ec2_arns\[\"(security-group|key-pair)\"\]"
)
# Resources an action only reads or creates alongside a tagged one get no request tags of their own, so
# their condition may be ...IfExists; everything else needs the strict StringEquals.
IF_EXISTS_ALLOWED = {
    "ec2:CreateSnapshots": re.compile(r":(instance|volume)/\*$"),
    "ec2:RunInstances": re.compile(r"ec2_arns\[\"(volume|network-interface)\"\]"),
}


def is_mutation(action: str) -> bool:
    return not READ_ONLY.match(action)


def ec2_mutations(statement: tfmodel.Statement) -> list[str]:
    return [a for a in statement.actions if a.startswith("ec2:") and is_mutation(a)]


def test_policy_documents_were_found():
    assert len(STATEMENTS) > 30
    for function in FUNCTION_ROLES:
        assert tfmodel.role_statements(function), function


def test_every_statement_has_a_unique_sid_in_its_document():
    for directory in (tfmodel.REPO, tfmodel.MODULE_DIR):
        for name, statements in tfmodel.policy_documents(directory).items():
            sids = [s.sid for s in statements]
            assert all(re.match(r"^[A-Za-z0-9]+$", sid) for sid in sids), name
            assert len(sids) == len(set(sids)), name


@pytest.mark.parametrize("statement", [s for s in STATEMENTS if ec2_mutations(s)], ids=lambda s: s.sid)
def test_every_ec2_mutation_carries_the_managed_by_condition(statement):
    if statement.actions == ("ec2:RunInstances",) and not statement.conditions:
        assert all(RUN_INSTANCES_READ_ONLY_RESOURCES.search(r) for r in statement.resources), statement
        return
    tag_values = [statement.condition_values(v) for v in TAG_CONDITIONS]
    create_action = statement.condition_values("ec2:CreateAction")
    if create_action is not None:
        assert set(ec2_mutations(statement)) == {"ec2:CreateTags"}, statement.sid
        assert set(create_action) <= CREATE_ACTIONS
    else:
        assert MANAGED in tag_values, f"{statement.sid}: no ManagedBy=smart-vault condition"
        for test, variable, _ in statement.conditions:
            if variable in TAG_CONDITIONS and test != "StringEquals":
                assert test == "StringEqualsIfExists", statement.sid
                (action,) = statement.actions
                assert all(IF_EXISTS_ALLOWED[action].search(r) for r in statement.resources), statement.sid


def test_snapshot_rules_of_the_backup_role():
    statements = tfmodel.role_statements("backup")
    by_action: dict[str, list[tfmodel.Statement]] = {}
    for statement in statements:
        for action in statement.actions:
            by_action.setdefault(action, []).append(statement)
    snapshot_statements = [
        s for s in by_action["ec2:CreateSnapshots"] if any(":snapshot/" in r for r in s.resources)
    ]
    assert snapshot_statements
    for statement in snapshot_statements:
        assert ("StringEquals", "aws:RequestTag/ManagedBy", MANAGED) in statement.conditions
    # CopySnapshot authorizes only the new snapshot: it must be tagged managed at creation and encrypted
    # (a condition on the source's tags would guard nothing).
    copies = by_action["ec2:CopySnapshot"]
    assert copies
    for statement in copies:
        assert statement.condition_values("aws:RequestTag/ManagedBy") == MANAGED
        assert statement.condition_values("ec2:Encrypted") == ("true",)
        assert all(":snapshot/" in r for r in statement.resources)
    for statement in by_action["ec2:DeleteSnapshot"]:
        assert statement.condition_values("ec2:ResourceTag/ManagedBy") == MANAGED
        assert statement.actions == ("ec2:DeleteSnapshot",)
    for statement in by_action["ec2:CreateTags"]:
        assert (
            statement.condition_values("ec2:CreateAction") is not None
            or statement.condition_values("ec2:ResourceTag/ManagedBy") == MANAGED
        )


def test_restore_cleanup_touches_only_managed_resources():
    statements = tfmodel.role_statements("restore_worker")
    for action in (
        "ec2:DeleteVolume",
        "ec2:TerminateInstances",
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:DeregisterImage",
    ):
        granting = [s for s in statements if s.allows(action)]
        assert granting, action
        for statement in granting:
            assert statement.condition_values("ec2:ResourceTag/ManagedBy") == MANAGED, action


def test_no_mutating_action_on_every_resource_without_a_condition():
    key_policies = tfmodel.key_policy_documents()
    for statement in STATEMENTS:
        if statement.document in key_policies:
            continue  # in a key policy, "*" is the key itself (checked below)
        if "*" in statement.resources and not statement.conditions:
            mutations = [a for a in statement.actions if is_mutation(a)]
            assert mutations == [], f"{statement.document}/{statement.sid}: {mutations} on *"


def test_function_roles_read_only_on_every_resource():
    for function in FUNCTION_ROLES:
        for statement in tfmodel.role_statements(function):
            if "*" in statement.resources:
                assert all(READ_ONLY.match(a) for a in statement.actions), f"{function}: {statement.sid}"


def test_kms_only_on_the_projects_keys():
    allowed = re.compile(
        r"^\$\{(aws_kms_key\.(primary|dr)\.arn|var\.(kms_key_arn|ebs_kms_key_arns|source_volume_kms_key_arns))\}$"
    )
    for function in FUNCTION_ROLES:
        for statement in tfmodel.role_statements(function):
            if any(a.startswith("kms:") for a in statement.actions):
                assert all(allowed.match(r) for r in statement.resources), f"{function}: {statement.sid}"
                assert statement.condition_values("kms:ViaService"), f"{function}: {statement.sid}"


def test_kms_grants_only_for_aws_resources():
    for statement in STATEMENTS:
        if statement.allows("kms:CreateGrant") and statement.actions != ("kms:*",):
            assert statement.condition_values("kms:GrantIsForAWSResource") == ("true",), statement.sid


def test_temporary_images_come_only_from_managed_snapshots_and_are_tagged_managed():
    granting = [s for s in tfmodel.role_statements("restore_worker") if s.allows("ec2:RegisterImage")]
    assert {s.sid for s in granting} == {
        "RegisterImagesOnlyTaggedManaged",
        "RegisterImagesOnlyFromManagedSnapshots",
    }
    for statement in granting:
        assert statement.actions == ("ec2:RegisterImage",)
        if all(":image/" in r for r in statement.resources):
            assert ("StringEquals", "aws:RequestTag/ManagedBy", MANAGED) in statement.conditions
        else:
            assert all(":snapshot/" in r for r in statement.resources), statement.resources
            assert ("StringEquals", "ec2:ResourceTag/ManagedBy", MANAGED) in statement.conditions
    tagging = [s for s in tfmodel.role_statements("restore_worker") if s.allows("ec2:CreateTags")]
    assert any("RegisterImage" in (s.condition_values("ec2:CreateAction") or ()) for s in tagging)


def test_only_the_worker_passes_roles_and_only_the_allowed_profiles_roles_to_ec2():
    for function in FUNCTION_ROLES:
        iam_statements = [
            s for s in tfmodel.role_statements(function) if any(a.startswith("iam:") for a in s.actions)
        ]
        if function != "restore_worker":
            assert iam_statements == [], function
            continue
        [statement] = iam_statements
        assert statement.actions == ("iam:PassRole",)
        # The roles of the allowed instance profiles, looked up by name (local.passable_role_arns).
        [resource] = statement.resources
        assert re.fullmatch(
            r"\$\{sort\(distinct\(\[for p in data\.aws_iam_instance_profile\.allowed : p\.role_arn\]\)\)\}",
            resource,
        )
        assert statement.condition_values("iam:PassedToService") == ("ec2.amazonaws.com",)
    local_values = tfmodel.locals_of(tfmodel.MODULE_DIR)
    assert "var.allowed_instance_profile_arns" in local_values["allowed_instance_profile_names"]
    lookup = tfmodel.labelled(tfmodel.MODULE_DIR, "data", "aws_iam_instance_profile")["allowed"]
    assert lookup["for_each"] == "${local.allowed_instance_profile_names}"


def test_run_instances_may_use_the_recorded_key_pair():
    granting = [s for s in tfmodel.role_statements("restore_worker") if s.allows("ec2:RunInstances")]
    assert any('local.ec2_arns["key-pair"]' in r for s in granting for r in s.resources)
    kinds = tfmodel.locals_of(tfmodel.MODULE_DIR)["ec2_arns"]
    assert '"key-pair"' in kinds
