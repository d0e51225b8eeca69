"""Least privilege, read off the policy documents: EC2 mutations only on what carries ManagedBy=smart-vault."""

from __future__ import annotations

import fnmatch
import inspect
import re
from dataclasses import replace

import pytest
import tfmodel

from smart_vault.authz import terraform
from smart_vault.restore.engine import InstanceRestore, VolumeRestore, base

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
    for directory in (tfmodel.REPO, tfmodel.MODULE_DIR, tfmodel.DRILL_DIR):
        for name, statements in tfmodel.policy_documents(directory).items():
            sids = [s.sid for s in statements]
            assert all(re.match(r"^[A-Za-z0-9]+$", sid) for sid in sids), name
            assert len(sids) == len(set(sids)), name


def tags_registered_images_managed(document: str) -> bool:
    """The document authorizes the tags of RegisterImage on images only with ManagedBy=smart-vault."""
    return any(
        s.document == document
        and s.allows("ec2:CreateTags")
        and "RegisterImage" in (s.condition_values("ec2:CreateAction") or ())
        and s.condition_values("aws:RequestTag/ManagedBy") == MANAGED
        and "image" in resource_kinds(s)
        for s in STATEMENTS
    )


@pytest.mark.parametrize("statement", [s for s in STATEMENTS if ec2_mutations(s)], ids=lambda s: s.sid)
def test_every_ec2_mutation_carries_the_managed_by_condition(statement):
    if statement.actions == ("ec2:RunInstances",) and not statement.conditions:
        assert all(RUN_INSTANCES_READ_ONLY_RESOURCES.search(r) for r in statement.resources), statement
        return
    if statement.actions == ("ec2:CreateSnapshots",) and not statement.conditions:
        # The source instance and volumes: the reference lists no request-tag key for them (smart_vault.authz).
        assert all(re.search(r":(instance|volume)/\*$", r) for r in statement.resources), statement
        return
    if statement.actions == ("ec2:CopySnapshot",) and statement.condition_values("ec2:Owner") is not None:
        # The source snapshot: the reference lists no resource-tag key for it; its owner and region limit it
        # (the backup role's primary region; the vault module's one region, where the DR copies are shared).
        region = "var.region" if statement.document.startswith("vault_") else "var.primary_region"
        assert statement.resources == (f"arn:${{local.partition}}:ec2:${{{region}}}::snapshot/*",), statement
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
    # CopySnapshot authorizes the new snapshot (in the DR region: tagged managed at creation and encrypted)
    # and the source snapshot (in the primary region: the account's own; the reference lists no
    # resource-tag key for it, and it may be unencrypted).
    copies = {s.sid: s for s in by_action["ec2:CopySnapshot"]}
    assert set(copies) == {"CreateDrCopiesOnlyTaggedManagedAndEncrypted", "CopyOnlyOwnPrimarySnapshots"}
    new = copies["CreateDrCopiesOnlyTaggedManagedAndEncrypted"]
    assert new.condition_values("aws:RequestTag/ManagedBy") == MANAGED
    assert new.condition_values("ec2:Encrypted") == ("true",)
    assert new.resources == ("arn:${local.partition}:ec2:${var.dr_region}::snapshot/*",)
    source = copies["CopyOnlyOwnPrimarySnapshots"]
    assert source.condition_values("ec2:Owner") == ("${data.aws_caller_identity.current.account_id}",)
    assert source.resources == ("arn:${local.partition}:ec2:${var.primary_region}::snapshot/*",)
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


def test_drill_role_creates_tears_down_and_launches_only_managed_things_in_the_drill_network():
    statements = tfmodel.role_statements("drill")
    for action in ("ec2:TerminateInstances", "ec2:DeleteVolume", "ec2:DeregisterImage", "ec2:DetachVolume"):
        granting = [s for s in statements if s.allows(action)]
        assert granting, action
        for statement in granting:
            assert statement.condition_values("ec2:ResourceTag/ManagedBy") == MANAGED, action
    for statement in [s for s in statements if s.allows("ec2:RegisterImage")]:
        assert MANAGED in (
            statement.condition_values("aws:RequestTag/ManagedBy"),
            statement.condition_values("ec2:ResourceTag/ManagedBy"),
        )
    # The only untagged resources RunInstances may use: the drill subnet, the drill groups, key pairs.
    [network] = [s for s in statements if s.allows("ec2:RunInstances") and not s.conditions]
    assert network.resources == (
        '${concat(local.subnet_arns, local.ec2_arns["key-pair"], local.ec2_arns["security-group"])}',
    )
    assert tfmodel.locals_of(tfmodel.DRILL_DIR)["subnet_arns"] == [
        "arn:${local.partition}:ec2:${var.region}:${local.account_id}:subnet/${local.subnet_id}"
    ]
    # No volume from a snapshot (a drill never uses the ami_id path), no instance profile to pass.
    actions = {a for s in statements for a in s.actions}
    assert not {"ec2:CreateVolume", "ec2:AttachVolume", "iam:PassRole"} & actions


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
        r"^\$\{(aws_kms_key\.(primary|dr|vault)\.arn"
        r"|var\.(kms_key_arn|ebs_kms_key_arns|source_volume_kms_key_arns|source_kms_key_arns))\}$"
    )
    for function in FUNCTION_ROLES:
        for statement in tfmodel.role_statements(function):
            if any(a.startswith("kms:") for a in statement.actions):
                assert all(allowed.match(r) for r in statement.resources), f"{function}: {statement.sid}"
                assert statement.condition_values("kms:ViaService"), f"{function}: {statement.sid}"


def test_kms_grants_only_for_aws_resources():
    """Key policies: only grants for AWS resources; roles: only grants EBS asks for (kms:ViaService ec2.*),
    which are for AWS resources by definition (the mutation check found the role's repeat of
    kms:GrantIsForAWSResource could never refuse a request that kms:ViaService lets through)."""
    key_policies = tfmodel.key_policy_documents()
    for statement in STATEMENTS:
        if statement.allows("kms:CreateGrant") and statement.actions != ("kms:*",):
            if statement.document in key_policies:
                assert statement.condition_values("kms:GrantIsForAWSResource") == ("true",), statement.sid
            else:
                via = statement.condition_values("kms:ViaService") or ()
                assert via and all("ec2." in v for v in via), statement.sid


@pytest.mark.parametrize("function", ["restore_worker", "drill"])
def test_temporary_images_come_only_from_managed_snapshots_and_are_tagged_managed(function):
    granting = {s.sid: s for s in tfmodel.role_statements(function) if s.allows("ec2:RegisterImage")}
    assert set(granting) == {"RegisterImagesOnlyTaggedManaged", "RegisterImagesOnlyFromManagedSnapshots"}
    for statement in granting.values():
        assert statement.actions == ("ec2:RegisterImage",)
    image = granting["RegisterImagesOnlyTaggedManaged"]
    assert resource_kinds(image) == {"image"}
    assert image.conditions == (("StringEquals", "aws:RequestTag/ManagedBy", MANAGED),)
    snapshots = granting["RegisterImagesOnlyFromManagedSnapshots"]
    assert resource_kinds(snapshots) == {"snapshot"}
    assert snapshots.conditions == (("StringEquals", "ec2:ResourceTag/ManagedBy", MANAGED),)
    # ... and the tags of the request are authorized (CreateTags at creation), only with ManagedBy.
    assert tags_registered_images_managed(image.document)


# The resource types each EC2 action of a restore or drill authorizes, and the condition keys (of those this
# project uses) each resource type evaluates for that action, after the Service Authorization Reference for
# Amazon EC2 (as bundled in parliament's iam_definition.json). A key a resource type does not evaluate makes
# an Allow statement on it never match: an AccessDenied in AWS that moto never shows. RegisterImage: image*
# evaluates aws:RequestTag and aws:TagKeys (not ec2:ResourceTag), its snapshot ec2:ResourceTag.
TAG_ON_CREATE = {"aws:RequestTag/ManagedBy", "ec2:CreateAction"}
RESOURCE_TAG = {"ec2:ResourceTag/ManagedBy"}
RESOURCE_CONDITION_KEYS = {
    "ec2:RunInstances": {
        "instance": {"aws:RequestTag/ManagedBy", "ec2:MetadataHttpTokens"},
        "volume": {"aws:RequestTag/ManagedBy"},
        "network-interface": {"aws:RequestTag/ManagedBy"},
        "image": RESOURCE_TAG,
        "snapshot": RESOURCE_TAG,
        "subnet": RESOURCE_TAG,
        "security-group": RESOURCE_TAG,
        "key-pair": RESOURCE_TAG,
    },
    "ec2:CreateVolume": {"volume": {"aws:RequestTag/ManagedBy"}, "snapshot": RESOURCE_TAG},
    "ec2:RegisterImage": {"image": {"aws:RequestTag/ManagedBy"}, "snapshot": RESOURCE_TAG},
    "ec2:CreateTags": {"instance": TAG_ON_CREATE, "volume": TAG_ON_CREATE, "image": TAG_ON_CREATE},
    "ec2:AttachVolume": {"instance": RESOURCE_TAG, "volume": RESOURCE_TAG},
    "ec2:DetachVolume": {"instance": RESOURCE_TAG, "volume": RESOURCE_TAG},
    "ec2:DeleteVolume": {"volume": RESOURCE_TAG},
    "ec2:TerminateInstances": {"instance": RESOURCE_TAG},
    "ec2:DeregisterImage": {"image": RESOURCE_TAG},
}
# `local.image_arns`, or a shared module's local as its caller sees it (`local.instance_restore_iam_image_arns`).
_KIND = re.compile(
    r"local\.(?:[a-z_]+_)?(image|snapshot|subnet)_arns|ec2_arns\[\"([a-z-]+)\"\]|::(image|snapshot)/"
)


def resource_kinds(statement: tfmodel.Statement) -> set[str]:
    kinds = {"".join(groups) for r in statement.resources for groups in _KIND.findall(r)}
    assert kinds, f"{statement.sid}: resources {statement.resources} name no known EC2 resource type"
    return kinds


RESTORE_EC2_WRITES = [
    s
    for function in ("restore_worker", "drill")
    for s in tfmodel.role_statements(function)
    if ec2_mutations(s)
]


@pytest.mark.parametrize("statement", RESTORE_EC2_WRITES, ids=lambda s: f"{s.document}.{s.sid}")
def test_every_condition_key_is_evaluated_by_every_resource_type_of_its_statement(statement):
    keys = {variable for _, variable, _ in statement.conditions}
    for action in statement.actions:
        supported = RESOURCE_CONDITION_KEYS[action]
        for kind in resource_kinds(statement):
            assert kind in supported, f"{statement.sid}: {action} does not authorize {kind}"
            missing = keys - supported[kind]
            if missing and all(
                test.endswith("IfExists") for test, v, _ in statement.conditions if v in missing
            ):
                continue  # an absent key matches ...IfExists (the volume or interface the request leaves untagged)
            assert not missing, (
                f"{statement.sid}: {action} on {kind} never matches: it does not evaluate {missing}"
            )


@pytest.mark.parametrize("function", ["restore_worker", "drill"])
def test_tags_only_at_creation_only_managed_and_never_on_interfaces(function):
    tagging = [s for s in tfmodel.role_statements(function) if s.allows("ec2:CreateTags")]
    assert tagging
    for statement in tagging:
        assert statement.condition_values("ec2:CreateAction"), statement.sid
        assert statement.condition_values("aws:RequestTag/ManagedBy") == MANAGED, statement.sid
        assert resource_kinds(statement) <= {"instance", "volume", "image"}, statement.sid


@pytest.mark.parametrize("function", ["restore_worker", "drill"])
def test_instances_are_launched_tagged_and_with_imdsv2_required(function):
    [statement] = [
        s
        for s in tfmodel.role_statements(function)
        if s.allows("ec2:RunInstances") and resource_kinds(s) == {"instance"}
    ]
    assert ("StringEquals", "aws:RequestTag/ManagedBy", MANAGED) in statement.conditions
    assert ("StringEquals", "ec2:MetadataHttpTokens", ("required",)) in statement.conditions
    # ... which is what both launches (full instance, and the volume restore's instance) ask for: both
    # forms launch through the engine's one RunInstances call.
    assert '"HttpTokens": "required"' in inspect.getsource(base)
    for form in (InstanceRestore, VolumeRestore):
        assert form.launch is base.RestoreAttempt.launch, form.__name__


@pytest.mark.parametrize("function", ["restore_worker", "drill"])
def test_ebs_may_use_the_snapshot_keys_through_ec2_only(function):
    statements = [s for s in tfmodel.role_statements(function) if "${var.ebs_kms_key_arns}" in s.resources]
    granted = {a for s in statements for a in s.actions}
    assert granted == {
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:DescribeKey",
        "kms:CreateGrant",
    }
    for statement in statements:
        via = statement.condition_values("kms:ViaService")
        # ec2.<region>.amazonaws.com for this stack's region(s), nothing else.
        assert via and all(re.search(r"\bec2\.\$\{[^}]+\}\.amazonaws\.com", v) for v in via), via
        assert not any(re.search(r"(dynamodb|sns|sqs|lambda)\.", v) for v in via), via


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
    assert "var.settings.allowed_instance_profile_arns" in local_values["allowed_instance_profile_names"]
    lookup = tfmodel.labelled(tfmodel.MODULE_DIR, "data", "aws_iam_instance_profile")["allowed"]
    assert lookup["for_each"] == "${local.allowed_instance_profile_names}"


def test_run_instances_may_use_the_recorded_key_pair():
    granting = [s for s in tfmodel.role_statements("restore_worker") if s.allows("ec2:RunInstances")]
    assert any('local.ec2_arns["key-pair"]' in r for s in granting for r in s.resources)
    kinds = tfmodel.locals_of(tfmodel.MODULE_DIR)["ec2_arns"]
    assert '"key-pair"' in kinds


def test_lambda_invocations_are_scoped_to_one_function():
    # The backup function continues large runs by invoking itself; the API starts the worker; the drill may
    # invoke its validation function, and only that, only when one is set (a dynamic statement over it).
    expected = {"backup": "-backup", "restore_api": "-restore-worker"}
    for function in FUNCTION_ROLES:
        granting = [s for s in tfmodel.role_statements(function) if s.allows("lambda:InvokeFunction")]
        if function == "drill":
            [statement] = granting
            assert statement.resources == ("${statement.value}",)
            [dynamic] = tfmodel.labelled(tfmodel.DRILL_DIR, "data", "aws_iam_policy_document")["drill_data"][
                "dynamic"
            ]
            assert dynamic["statement"]["for_each"] == (
                "${local.validation_function_arn == null ? [] : [local.validation_function_arn]}"
            )
        elif function in expected:
            assert len(granting) == 1, function
            for resource in granting[0].resources:
                arn = tfmodel.render(resource, tfmodel.ROLE_POLICY_MAPS[function][0]).removesuffix(":*")
                assert ":function:" in arn and arn.endswith(expected[function]), arn
        else:
            assert granting == []


def test_every_role_may_write_traces():
    for function in FUNCTION_ROLES:
        assert any(
            p.endswith(":policy/AWSXRayDaemonWriteAccess") for p in tfmodel.role_managed_policies(function)
        )


def test_kms_keys_rotate():
    for directory in (tfmodel.REPO,):
        for name, key in tfmodel.labelled(directory, "resource", "aws_kms_key").items():
            assert key["enable_key_rotation"] is True, name
            assert key["policy"], name


def test_key_policies_give_unconditional_use_only_to_the_account():
    key_policies = tfmodel.key_policy_documents()
    assert key_policies == {"kms_key", "kms_billing", "vault_key"}
    for statement in STATEMENTS:
        if statement.document == "vault_key" and not statement.conditions:
            # (v3) The vault key: only its named administrators, never an account root (the workload's least).
            [(kind, identifiers)] = statement.principals
            assert (kind, identifiers) == ("AWS", ("${var.key_administrator_arns}",)), statement.sid
            continue
        if statement.document in key_policies and not statement.conditions:
            [(kind, identifiers)] = statement.principals
            assert (
                kind == "AWS" and len(identifiers) == 1 and re.match(r"^arn:.*:iam::.*:root$", identifiers[0])
            )


def _allows(statements, action, principal=None, via=None):
    """Whether an Allow statement grants `action` (to `principal`, through `via` when a ViaService applies)."""
    for s in statements:
        if s.effect != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in s.actions):
            continue
        if principal is not None and not any(principal in ids for _, ids in s.principals):
            continue
        services = [c.values for c in s.conditions if c.key == "kms:ViaService"]
        if via is None or not services or via in services[0]:
            return True
    return False


@pytest.mark.parametrize(
    "function, region, key",
    [
        ("backup", "eu-west-1", "kms_key"),
        ("restore_worker", "eu-west-1", "kms_key"),
        ("restore_worker", "eu-central-1", "kms_key"),
        ("vault", "eu-central-1", "vault_key"),  # the vault account's stack, in the DR region
    ],
)
def test_a_function_may_put_its_failed_invocations_in_its_encrypted_dead_letter_queue(function, region, key):
    """Lambda sends a failed asynchronous invocation's record to the on-failure destination (an SQS queue
    encrypted with the stack's key) as the function's role: the role needs sqs:SendMessage, and the key must
    let the role use it through SQS (a role statement where the key policy lets IAM grant it, else the key
    policy itself). Nothing the tests run sends these records: only this check sees the permission."""
    deployment = (
        terraform.Deployment(primary_region=region) if function == "vault" else terraform.Deployment()
    )
    role = terraform.role_arn(function, region, deployment)
    statements = terraform.role_statements(function, region, deployment)
    assert _allows(statements, "sqs:SendMessage")
    via = f"sqs.{region}.amazonaws.com"
    if key == "vault_key":  # no account statement: only the key policy can grant it
        policy = terraform.vault_key_policy(deployment)
        assert not _allows(policy, "kms:GenerateDataKey", principal=f"arn:aws:iam::{deployment.account}:root")
        assert _allows(policy, "kms:GenerateDataKey", principal=role, via=via)
        assert _allows(policy, "kms:Decrypt", principal=role, via=via)
    else:
        policy = terraform.key_policy(region, deployment)
        assert _allows(policy, "kms:*", principal=f"arn:aws:iam::{deployment.account}:root")
        assert _allows(statements, "kms:GenerateDataKey", via=via)


@pytest.mark.parametrize(
    "log_group", ["/aws/lambda/smart-vault-vault", "/aws/events/smart-vault-vault-tamper"]
)
def test_the_vault_key_lets_cloudwatch_logs_encrypt_the_vaults_log_groups_by_their_arn(log_group):
    """CloudWatch Logs uses a log group's key in the log group's name (kms:EncryptionContext:aws:logs:arn),
    the condition its guide documents for a key policy; a condition it does not send fails CreateLogGroup."""
    deployment = terraform.Deployment()
    arn = f"arn:aws:logs:{deployment.dr_region}:{deployment.account}:log-group:{log_group}"
    (statement,) = [
        s
        for s in terraform.vault_key_policy(deployment)
        if ("Service", (f"logs.{deployment.dr_region}.amazonaws.com",)) in s.principals
    ]
    (condition,) = statement.conditions
    assert (condition.operator, condition.key) == ("ArnLike", "kms:EncryptionContext:aws:logs:arn")
    assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in condition.values)
    assert {"kms:GenerateDataKey*", "kms:Decrypt*"} <= set(statement.actions)


@pytest.mark.parametrize(
    "trusted, service, operator",
    [
        ("EventBridge", "events.amazonaws.com", "StringEquals"),
        # API Gateway's own example trust policy has no condition, and no AWS page says it sends the key.
        ("ApiGateway", "apigateway.amazonaws.com", "StringEqualsIfExists"),
    ],
)
def test_services_assume_the_vaults_roles_on_behalf_of_this_account_only(trusted, service, operator):
    deployment = terraform.Deployment()
    scope = terraform.ModuleScope(deployment, tfmodel.REPO, None)
    (statement,) = terraform.render_document(scope, "service_assume", each=trusted)
    assert statement.principals == (("Service", (service,)),) and statement.actions == ("sts:AssumeRole",)
    (condition,) = statement.conditions
    assert (condition.operator, condition.key, condition.values) == (
        operator,
        "aws:SourceAccount",
        (deployment.account,),
    )


def test_key_policies_take_the_account_statement_from_its_one_document():
    """`source_policy_documents`: Terraform merges a source's statements into the document, before its own.
    The evaluator (`render_document`) and the static model (`tfmodel`) read both key policies of the root
    module that way: KMS's default account statement first, written once."""
    scope = terraform.ModuleScope(terraform.Deployment(), tfmodel.REPO, None)
    billing = terraform.render_document(scope, "kms_billing")
    assert [(s.sid, s.document) for s in billing] == [
        ("AccountAdministersKeyThroughIam", "kms_billing"),
        ("BillingAlarmPublishesToEncryptedTopic", "kms_billing"),
    ]
    account = billing[0]
    assert account.actions == ("kms:*",) and account.principals == (
        ("AWS", ("arn:aws:iam::123456789012:root",)),
    )
    for region in ("primary", "dr"):
        assert terraform.render_document(scope, "kms_key", each=region)[0] == replace(
            account, document="kms_key"
        )
    documents = tfmodel.policy_documents(tfmodel.REPO)
    assert "account_administers_key" not in documents  # a part of the key policies, checked in them
    for name in ("kms_key", "kms_billing"):
        assert [(s.sid, s.document, s.actions) for s in documents[name][:1]] == [
            ("AccountAdministersKeyThroughIam", name, ("kms:*",))
        ]
