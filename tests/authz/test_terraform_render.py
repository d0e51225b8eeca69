"""The policies the authorization layer evaluates are the Terraform's, rendered (smart_vault.authz.terraform
and its expression evaluator hcl.py), not a hand copy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smart_vault.authz import terraform
from smart_vault.authz.deployment import environment_bindings
from smart_vault.authz.hcl import Evaluator, HclError
from smart_vault.authz.policy import Statement

DEPLOYMENT = terraform.Deployment()


def sids(function, region="eu-west-1", deployment=DEPLOYMENT):
    return [s.sid for s in terraform.role_statements(function, region, deployment)]


def statement(function, sid, region="eu-west-1", deployment=DEPLOYMENT):
    return next(s for s in terraform.role_statements(function, region, deployment) if s.sid == sid)


def test_expressions_the_policies_use_evaluate_as_terraform_does():
    ev = Evaluator(
        {"var": {"regions": ["a", "b"], "n": None, "list": []}, "local": {}}, lambda path: f"<{path}>"
    )
    assert ev.template('${[for r in var.regions : "ec2.${r}.amazonaws.com"]}', {}) == [
        "ec2.a.amazonaws.com",
        "ec2.b.amazonaws.com",
    ]
    assert ev.template("${var.n == null ? [] : [var.n]}", {}) == []
    assert ev.template("${length(var.list) > 0 ? length(var.n) : 0}", {}) == 0  # only the branch taken runs
    assert ev.template("${concat([aws_kms_key.dr.arn], var.list)}", {}) == ["<aws_kms_key.dr.arn>"]
    assert ev.template('${{ for k in ["x"] : k => "v-${k}" }}', {}) == {"x": "v-x"}
    # The tamper alarms' function names (vault.tf) and where the drills run (drill.tf).
    assert ev.template('${coalescelist(var.list, [], ["none"])}', {}) == ["none"]
    assert ev.template('${coalescelist(var.regions, ["none"])}', {}) == ["a", "b"]
    with pytest.raises(HclError, match="no non-empty list"):
        ev.template("${coalescelist(var.list, [])}", {})
    assert ev.template('${[contains(var.regions, "b"), contains(var.list, "b")]}', {}) == [True, False]
    with pytest.raises(HclError, match="not modelled"):
        ev.template("${formatdate(var.n)}", {})
    assert ev.template('${coalesce(var.n, "", "x")}', {}) == "x"
    with pytest.raises(HclError, match="no non-null, non-empty-string arguments"):  # Terraform's plan error
        ev.template('${coalesce(var.n, "")}', {})


@pytest.mark.parametrize("function", sorted(terraform.FUNCTIONS))
@pytest.mark.parametrize("region", ["eu-west-1", "eu-central-1"])
def test_every_function_environment_evaluates_for_a_deployment_of_defaults(function, region):
    """Each function's environment as Terraform plans it for a deployment that sets only the required
    variables: no function call fails (a `coalesce(null, "")` once failed the plan of every default drill
    stack), and every value is a string, as Lambda takes them."""
    directory, _, resource = terraform.FUNCTIONS[function]
    scope = terraform.scope_for(function, region, DEPLOYMENT)
    body = terraform.labelled(directory, "resource", "aws_lambda_function")[resource]
    [environment] = scope.evaluator.value(body["environment"])
    assert environment["variables"]
    assert all(isinstance(v, str) for v in environment["variables"].values()), environment


def test_the_backup_role_renders_with_concrete_regions_and_account():
    copy = statement("backup", "CreateDrCopiesOnlyTaggedManagedAndEncrypted")
    assert copy.resources == ("arn:aws:ec2:eu-central-1::snapshot/*",)
    source = statement("backup", "CopyOnlyOwnPrimarySnapshots")
    assert source.resources == ("arn:aws:ec2:eu-west-1::snapshot/*",)
    assert [(c.key, c.values) for c in source.conditions] == [("ec2:Owner", ("123456789012",))]


def test_dynamic_statements_follow_their_for_each():
    assert "ReadSourceSnapshotsForCopy" not in sids("backup")  # no source_volume_kms_key_arns by default
    keys = terraform.Deployment(
        variables=(("source_volume_kms_key_arns", ("arn:aws:kms:eu-west-1:123456789012:key/src",)),)
    )
    assert statement("backup", "ReadSourceSnapshotsForCopy", deployment=keys).resources == (
        "arn:aws:kms:eu-west-1:123456789012:key/src",
    )
    assert "PassOnlyAllowedInstanceProfileRolesToEc2" not in sids("restore_worker")


def test_module_instances_follow_the_functions_region():
    primary = statement("restore_worker", "UseOwnKeyThroughItsServices")
    dr = statement("restore_worker", "UseOwnKeyThroughItsServices", region="eu-central-1")
    assert "dynamodb.eu-west-1.amazonaws.com" in primary.conditions[0].values
    assert "dynamodb.eu-central-1.amazonaws.com" in dr.conditions[0].values
    assert terraform.role_arn("restore_api", "eu-central-1", DEPLOYMENT).endswith(
        ":role/smart-vault-dr-restore-api"
    )


@pytest.mark.parametrize(
    ("function", "services"),
    [
        ("restore_api", ("dynamodb", "lambda")),
        ("restore_worker", ("dynamodb", "sns", "sqs", "lambda")),  # its dead-letter queue adds sqs
        ("drill", ("dynamodb", "sns", "lambda")),
    ],
)
def test_the_function_module_lets_the_role_use_its_key_through_the_services_its_call_names(
    function, services
):
    """modules/function's `kms` document: the call's key_services, sqs with a dead-letter queue, and lambda,
    each in the region of the module instance (`data.aws_region.current`), on the function's own key only."""
    for region in ("eu-west-1", "eu-central-1"):
        key = f"arn:aws:kms:{region}:123456789012:key/stack"
        attribute = "aws_kms_key.primary.arn" if region == "eu-west-1" else "aws_kms_key.dr.arn"
        deployment = terraform.Deployment(attributes=((attribute, key),))
        granted = [
            s for s in terraform.role_statements(function, region, deployment) if s.document.endswith("_kms")
        ]
        assert [(s.sid, s.resources) for s in granted] == [("UseOwnKeyThroughItsServices", (key,))]
        assert [(c.operator, c.key, c.values) for c in granted[0].conditions] == [
            ("StringEquals", "kms:ViaService", tuple(f"{s}.{region}.amazonaws.com" for s in services))
        ]


def test_a_function_whose_call_names_no_key_services_gets_no_key_policy_from_the_module():
    """The backup role's key use is its own `kms` document (kms.tf's keys); the vault key's policy names the
    vault role. Neither gets the module's statement, and the backup role keeps its own document."""
    assert "UseOwnKeyThroughItsServices" not in sids("backup")
    assert "UseOwnKeyThroughItsServices" not in sids("vault", region="eu-central-1")
    assert terraform.role_documents(terraform.REPO, "backup").count("backup_kms") == 1


def test_the_environment_binds_the_resources_it_names():
    env = {
        "COPY_LEDGER_TABLE": "ledger",
        "DR_KMS_KEY_ID": "arn:aws:kms:eu-central-1:1:key/dr",
        "AWS_REGION": "eu-west-1",
    }
    bound = environment_bindings("backup", env, DEPLOYMENT)
    assert (
        bound["aws_dynamodb_table.copy_ledger.arn"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/ledger"
    )
    assert bound["aws_kms_key.dr.arn"] == "arn:aws:kms:eu-central-1:1:key/dr"
    deployment = terraform.Deployment(attributes=tuple(sorted(bound.items())))
    ledger = statement("backup", "UsePrimaryKeyForCopyLedger", deployment=deployment)
    assert ledger.conditions[1].values == ("ledger",)
    assert statement("backup", "UsePrimaryKeyForCopyLedger").resources == (
        "arn:aws:kms:*:123456789012:key/*",
    )


def test_the_key_policy_is_rendered_per_region():
    policy = terraform.key_policy("eu-central-1", DEPLOYMENT)
    ec2 = next(s for s in policy if s.sid == "VaultFunctionsUseKeyThroughEc2")
    assert ec2.conditions[0].values == ("ec2.eu-central-1.amazonaws.com",)
    assert ec2.principals == (("AWS", ("arn:aws:iam::123456789012:root",)),)


def test_a_table_named_by_the_last_part_of_an_arn_variable_binds_that_variable():
    """(v3) The restore API's `COPY_LEDGER_TABLE` / `DRILL_RESULTS_TABLE` are
    `var.t == null ? "" : element(split("/", var.t), 1)`: a name binds the variable's ARN, so each Query
    statement names its own table; "" binds it to null, so the statement is not rendered (as Terraform
    writes none). Before, each rendered as any table of the account and each allowed the other's reads."""
    environment = {
        "AWS_REGION": "eu-west-1",
        "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
        "DRILL_RESULTS_TABLE": "smart-vault-drill-results",
    }
    bound = environment_bindings("restore_api", environment, DEPLOYMENT)
    deployment = terraform.Deployment(attributes=tuple(sorted(bound.items())))
    assert statement("restore_api", "ReadChangeMeasurements", deployment=deployment).resources == (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/smart-vault-copy-ledger",
    )
    assert statement("restore_api", "ReadDrillResults", deployment=deployment).resources == (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/smart-vault-drill-results",
    )
    # The DR region's API: no ledger there, no drill in that region.
    environment = {"AWS_REGION": "eu-central-1", "COPY_LEDGER_TABLE": "", "DRILL_RESULTS_TABLE": ""}
    bound = environment_bindings("restore_api", environment, DEPLOYMENT)
    assert bound["var.change_ledger_table_arn"] is None
    assert bound["var.drill_results_table_arn"] is None
    deployment = terraform.Deployment(attributes=tuple(sorted(bound.items())))
    rendered = sids("restore_api", deployment=deployment)
    assert "ReadChangeMeasurements" not in rendered and "ReadDrillResults" not in rendered
    assert {"NoChangeLedgerOtherwise", "NoDrillTableOtherwise"} <= set(rendered)


def test_the_environment_binds_an_attribute_of_an_object_input():
    """The restore stacks' shared settings are one object (`var.settings`): the worker's
    `ALLOWED_INSTANCE_PROFILE_ARNS = join(",", var.settings.allowed_instance_profile_arns)` binds that
    attribute, so the PassRole statement Terraform writes for the allowed profiles is rendered, and the rest
    of the object keeps the values the root module gives it."""
    profile = "arn:aws:iam::123456789012:instance-profile/app"
    environment = {"AWS_REGION": "eu-west-1", "ALLOWED_INSTANCE_PROFILE_ARNS": profile}
    bound = environment_bindings("restore_worker", environment, DEPLOYMENT)
    assert bound == {"var.settings.allowed_instance_profile_arns": (profile,)}
    deployment = terraform.Deployment(attributes=tuple(sorted(bound.items())))
    pass_role = statement("restore_worker", "PassOnlyAllowedInstanceProfileRolesToEc2", deployment=deployment)
    assert pass_role.actions == ("iam:PassRole",)

    def settings(deployment):
        return terraform.scope_for("restore_worker", "eu-west-1", deployment).evaluator.value(
            "${var.settings}"
        )

    assert settings(deployment) == {**settings(DEPLOYMENT), "allowed_instance_profile_arns": [profile]}
    assert settings(DEPLOYMENT)["allowed_instance_profile_arns"] == []


def test_rendering_from_many_threads_at_once_gives_each_the_same_statements():
    """A drill's parallel threads evaluate their first calls at once: the shared evaluator of a module
    instance bound one thread's `statement.value` in another's dynamic block (the local demo's drill failed
    in register_image with "string indices must be integers, not 'str'"). Fresh deployments, so nothing is
    cached yet; before the lock most rounds raised or rendered differently."""
    import threading

    failures: list[str] = []
    for round_ in range(10):
        deployment = terraform.Deployment(account=f"2{round_:011d}")
        barrier = threading.Barrier(4)
        rendered: list[tuple] = []

        def render(deployment=deployment, barrier=barrier, rendered=rendered) -> None:
            barrier.wait()
            try:
                rendered.append(terraform.role_statements("drill", "eu-central-1", deployment))
            except Exception as error:  # collected, asserted below
                failures.append(repr(error))

        threads = [threading.Thread(target=render) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(rendered)) <= 1, round_
    assert failures == []


def test_source_documents_merge_as_the_provider_merges_them():
    """`source_policy_documents`: the sources' statements first, in order; an own statement with a source's
    Sid takes that statement's place; a Sid repeated among the sources is an error, as the provider says."""
    first = Statement(sid="A", effect="Allow", actions=("kms:*",), document="src1")
    unnamed = Statement(sid="", effect="Allow", actions=("kms:Decrypt",), document="src1")
    second = Statement(sid="B", effect="Allow", actions=("kms:Encrypt",), document="src2")
    own_b = Statement(sid="B", effect="Deny", actions=("kms:Encrypt",), document="doc")
    own_c = Statement(sid="C", effect="Allow", actions=("kms:DescribeKey",), document="doc")
    merged = terraform.merge_sources("doc", [first, unnamed, second], [own_c, own_b])
    assert [(s.sid, s.effect, s.document) for s in merged] == [
        ("A", "Allow", "doc"),
        ("", "Allow", "doc"),
        ("B", "Deny", "doc"),
        ("C", "Allow", "doc"),
    ]
    with pytest.raises(ValueError, match="a Sid repeats"):
        terraform.merge_sources("doc", [first, replace(second, sid="A")], [])
