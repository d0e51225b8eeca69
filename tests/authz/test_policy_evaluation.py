"""IAM's policy evaluation logic (smart_vault.authz.policy) on the examples of the IAM User Guide:
"Policy evaluation logic", "Condition operators", "Conditions with multiple context keys or values",
"Single-valued vs. multivalued context keys" (set operators)."""

from __future__ import annotations

import pytest

from smart_vault.authz.policy import (
    Condition,
    Request,
    Statement,
    condition_holds,
    evaluate,
    key_policy_allows,
    statements_from_json,
    wildcard_match,
)

SNAPSHOTS = "arn:aws:ec2:eu-west-1::snapshot/*"
SNAP = "arn:aws:ec2:eu-west-1::snapshot/snap-1"


def allow(
    *conditions: Condition, actions=("ec2:DeleteSnapshot",), resources=(SNAPSHOTS,), sid="A"
) -> Statement:
    return Statement(sid, "Allow", actions=actions, resources=resources, conditions=conditions)


def test_implicit_deny_when_no_statement_matches():
    decision = evaluate([allow(actions=("ec2:CreateTags",))], Request("ec2:DeleteSnapshot", SNAP))
    assert not decision.allowed and decision.allowed_by == () and decision.denied_by == ()


def test_an_explicit_deny_wins_over_any_allow():
    deny = Statement("D", "Deny", actions=("ec2:*",), resources=("*",))
    decision = evaluate([allow(), deny], Request("ec2:DeleteSnapshot", SNAP))
    assert not decision.allowed and [s.sid for s in decision.denied_by] == ["D"]


def test_actions_match_case_insensitively_with_wildcards_and_not_action():
    assert evaluate([allow(actions=("EC2:delete*",))], Request("ec2:DeleteSnapshot", SNAP)).allowed
    not_action = Statement("N", "Allow", not_actions=("ec2:Delete*",), resources=("*",))
    assert not evaluate([not_action], Request("ec2:DeleteSnapshot", SNAP)).allowed
    assert evaluate([not_action], Request("ec2:CreateTags", SNAP)).allowed


def test_resource_wildcards_span_colons_and_slashes_but_regions_must_match():
    assert wildcard_match("arn:aws:ec2:*::snapshot/*", SNAP)
    assert wildcard_match("arn:aws:ec2:eu-west-?::snapshot/snap-1", SNAP)
    assert not evaluate(
        [allow()], Request("ec2:DeleteSnapshot", "arn:aws:ec2:eu-central-1::snapshot/snap-1")
    ).allowed


def test_values_of_one_key_are_ored_and_keys_and_operators_anded():
    both = allow(
        Condition("StringEquals", "ec2:ResourceTag/ManagedBy", ("smart-vault", "other")),
        Condition("Bool", "ec2:Encrypted", ("true",)),
    )
    context = {"ec2:ResourceTag/ManagedBy": "other", "ec2:Encrypted": "true"}
    assert evaluate([both], Request("ec2:DeleteSnapshot", SNAP, context)).allowed
    assert not evaluate(
        [both], Request("ec2:DeleteSnapshot", SNAP, {**context, "ec2:Encrypted": "false"})
    ).allowed


@pytest.mark.parametrize(
    ("operator", "present", "absent"),
    [
        ("StringEquals", True, False),  # absent key: the values do not match
        ("StringEqualsIfExists", True, True),  # ...IfExists: true when the key is absent
        ("StringNotEquals", False, True),  # negated: true when the key is absent
        ("StringNotEqualsIfExists", False, True),
    ],
)
def test_a_missing_key_matches_nothing_except_negated_and_if_exists(operator, present, absent):
    condition = Condition(operator, "aws:RequestTag/ManagedBy", ("smart-vault",))
    assert condition_holds(condition, {"aws:RequestTag/ManagedBy": "smart-vault"}) is present
    assert condition_holds(condition, {}) is absent


def test_negated_operators_with_several_values_are_a_nor():
    condition = Condition("StringNotEquals", "aws:PrincipalTag/role", ("audit", "security"))
    assert not condition_holds(condition, {"aws:PrincipalTag/role": "audit"})
    assert condition_holds(condition, {"aws:PrincipalTag/role": "dev"})


def test_null_tests_presence():
    absent = Condition("Null", "aws:TokenIssueTime", ("true",))
    assert condition_holds(absent, {}) and not condition_holds(absent, {"aws:TokenIssueTime": "x"})
    present = Condition("Null", "aws:TokenIssueTime", ("false",))
    assert condition_holds(present, {"aws:TokenIssueTime": "x"}) and not condition_holds(present, {})


def test_for_all_values_needs_every_request_value_allowed_and_holds_for_none():
    keys = Condition("ForAllValues:StringLike", "aws:TagKeys", ("smart-vault:*", "Name"))
    assert condition_holds(keys, {"aws:TagKeys": ("smart-vault:a", "Name")})
    assert not condition_holds(keys, {"aws:TagKeys": ("smart-vault:a", "Owner")})
    assert condition_holds(keys, {})  # no keys at all: vacuously true, as the guide warns


def test_for_any_value_needs_one_match_and_fails_for_an_absent_key():
    keys = Condition("ForAnyValue:StringEquals", "aws:TagKeys", ("ManagedBy",))
    assert condition_holds(keys, {"aws:TagKeys": ("Name", "ManagedBy")})
    assert not condition_holds(keys, {"aws:TagKeys": ("Name",)})
    assert not condition_holds(keys, {})


def test_condition_keys_are_case_insensitive_and_values_case_sensitive():
    condition = Condition("StringEquals", "EC2:ResourceTag/ManagedBy", ("smart-vault",))
    assert condition_holds(condition, {"ec2:resourcetag/managedby": "smart-vault"})
    assert not condition_holds(condition, {"ec2:ResourceTag/ManagedBy": "Smart-Vault"})


def test_numeric_date_arn_and_bool_operators():
    assert condition_holds(
        Condition("NumericLessThanEquals", "ec2:VolumeSize", ("100",)), {"ec2:VolumeSize": "8"}
    )
    assert not condition_holds(
        Condition("NumericGreaterThan", "ec2:VolumeSize", ("100",)), {"ec2:VolumeSize": "8"}
    )
    assert condition_holds(
        Condition("DateLessThan", "aws:CurrentTime", ("2027-01-01T00:00:00Z",)),
        {"aws:CurrentTime": "2026-12-07T00:00:00Z"},
    )
    assert condition_holds(
        Condition("ArnLike", "aws:PrincipalArn", ("arn:aws:iam::1:role/sv-*",)),
        {"aws:PrincipalArn": "arn:aws:iam::1:role/sv-backup"},
    )
    assert condition_holds(
        Condition("Bool", "kms:GrantIsForAWSResource", ("true",)), {"kms:GrantIsForAWSResource": "true"}
    )
    with pytest.raises(ValueError, match="unsupported condition operator"):
        condition_holds(Condition("StringSortOf", "k", ("v",)), {"k": "v"})


def test_a_key_policy_that_names_the_account_leaves_the_decision_to_iam():
    key_policy = statements_from_json(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::1:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        }
    )
    request = Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k", {}, principal="arn:aws:iam::1:role/r")
    iam_allows = evaluate([allow(actions=("kms:Decrypt",), resources=("*",))], request)
    iam_silent = evaluate([], request)
    assert key_policy_allows(iam_allows, key_policy, request, "1")[0]
    assert not key_policy_allows(iam_silent, key_policy, request, "1")[0]


def test_a_key_policy_that_names_the_role_suffices_and_its_deny_wins():
    role = "arn:aws:iam::1:role/r"
    request = Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k", {}, principal=role)
    direct = statements_from_json(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": role},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        }
    )
    assert key_policy_allows(evaluate([], request), direct, request, "1")[0]
    deny = statements_from_json(
        {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
    )
    assert not key_policy_allows(
        evaluate([allow(actions=("kms:*",), resources=("*",))], request), direct + deny, request, "1"
    )[0]
