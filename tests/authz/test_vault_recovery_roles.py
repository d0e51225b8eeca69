"""(v3) Restoring in the vault account: the vault key's policy and the recovery roles.

The vault key's policy has no account statement, so an IAM policy alone never lets a role of the vault
account use the key: the restore worker and the drill of stacks deployed there (docs/vault.md) can create a
volume or launch an instance from a vault copy only where the key policy names them (`recovery_role_arns`,
the root's `vault_recovery_role_arns`). The KMS requests are the ones EBS makes with the caller's permissions
for each call (smart_vault.authz.requests), evaluated against the key policy Terraform renders."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import DR, MANAGED, VAULT, FakeFacts

from smart_vault.authz import requests, terraform
from smart_vault.authz.facts import Ec2Resource
from smart_vault.authz.policy import Decision, resource_policy_allows

VAULT_KEY = f"arn:aws:kms:{DR}:{VAULT}:key/vault"
RESTORER = f"arn:aws:iam::{VAULT}:role/smart-vault-dr-restore-worker"
STRANGER = f"arn:aws:iam::{VAULT}:role/someone-else"
ADMIN = f"arn:aws:iam::{VAULT}:role/smart-vault-deployer"

CALLS = {
    "CreateVolume": {
        "SnapshotId": "snap-vault",
        "AvailabilityZone": f"{DR}a",
        "Encrypted": True,
        "KmsKeyId": VAULT_KEY,
        "TagSpecifications": [
            {"ResourceType": "volume", "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]}
        ],
    },
}


def vault_key_policy(recovery_roles: tuple[str, ...]) -> tuple[terraform.Statement, ...]:
    variables = (
        ("vault_account_id", VAULT),
        ("vault_key_administrator_arns", (ADMIN,)),
        ("vault_recovery_role_arns", recovery_roles),
    )
    return terraform.vault_key_policy(terraform.Deployment(dr_region=DR, variables=variables))


def key_requests(operation: str) -> list:
    facts = FakeFacts(account=VAULT)
    facts.add(DR, Ec2Resource("snap-vault", MANAGED, True, VAULT_KEY, VAULT))
    found = [
        request
        for authorization in requests.ec2_authorizations(operation, CALLS[operation], DR, facts)
        if authorization.key_arn == VAULT_KEY
        for request in authorization.requests
    ]
    assert {r.action for r in found} >= {
        "kms:Decrypt",
        "kms:CreateGrant",
        "kms:GenerateDataKeyWithoutPlaintext",
    }
    return found


def allowed(statements, request, principal: str) -> bool:
    return resource_policy_allows(Decision(True), statements, replace(request, principal=principal), VAULT)[0]


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_a_named_recovery_role_may_use_the_vault_key_through_ebs(operation):
    statements = vault_key_policy((RESTORER,))
    for request in key_requests(operation):
        assert allowed(statements, request, RESTORER), request.action
        assert not allowed(statements, request, STRANGER), request.action


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_without_recovery_roles_no_role_of_the_vault_account_may_restore(operation):
    statements = vault_key_policy(())
    assert not [s for s in statements if s.sid.startswith("RecoveryRoles")]
    for request in key_requests(operation):
        assert not allowed(statements, request, RESTORER), request.action


def test_recovery_roles_use_the_key_only_through_ebs_of_the_vault_region():
    statements = vault_key_policy((RESTORER,))
    (request, *_) = [r for r in key_requests("CreateVolume") if r.action == "kms:Decrypt"]
    for via in ("ec2.eu-west-1.amazonaws.com", f"s3.{DR}.amazonaws.com"):
        direct = replace(request, context={**request.context, "kms:ViaService": via})
        assert not allowed(statements, direct, RESTORER), via
    grant = next(r for r in key_requests("CreateVolume") if r.action == "kms:CreateGrant")
    not_for_aws = replace(grant, context={**grant.context, "kms:GrantIsForAWSResource": "false"})
    assert not allowed(statements, not_for_aws, RESTORER)
