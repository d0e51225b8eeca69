"""What the Lambda service does with each function's role (smart_vault.authz.lambda_service): the log
stream of every invocation, the environment's key, and the on-failure destination of asynchronous ones."""

from __future__ import annotations

import pytest
from fakes import FakeFacts

from smart_vault.authz.enforce import Enforcer

FUNCTIONS = {
    "backup": {"AWS_REGION": "eu-west-1", "DR_REGION": "eu-central-1"},
    "restore_api": {"AWS_REGION": "eu-west-1", "DR_REGION": "eu-central-1"},
    "restore_worker": {"AWS_REGION": "eu-central-1", "DR_REGION": "eu-west-1"},
    "drill": {"AWS_REGION": "eu-west-1"},
    # (v3) In the vault account, in the DR region; its environment names its key (the vault key).
    "vault": {
        "AWS_REGION": "eu-central-1",
        # The vault stack is applied in the workload's DR region (vault.tf `region = var.dr_region`): naming
        # it as DR_REGION renders the vault module in the function's own region.
        "DR_REGION": "eu-central-1",
        "VAULT_KMS_KEY_ID": "arn:aws:kms:eu-central-1:123456789012:key/vault",
    },
}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_invocation_writes_logs_and_decrypts_the_environment_with_the_role(function):
    outcomes = Enforcer(FakeFacts()).check_invocation(function, FUNCTIONS[function])
    assert [o.request.action for o in outcomes] == [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
    ]
    assert all(o.allowed for o in outcomes)
    assert (
        outcomes[2].request.context["kms:ViaService"]
        == f"lambda.{FUNCTIONS[function]['AWS_REGION']}.amazonaws.com"
    )


@pytest.mark.parametrize(
    ("function", "queue"),
    [
        ("backup", "smart-vault-backup-dlq"),
        ("restore_worker", "smart-vault-restore-worker-dlq"),
        # (v3) The vault key has no account statement: its key policy must name the role for SQS.
        ("vault", "smart-vault-vault-dlq"),
    ],
)
def test_a_failed_asynchronous_invocation_reaches_its_encrypted_destination(function, queue):
    outcomes = Enforcer(FakeFacts()).check_invocation(function, FUNCTIONS[function], failed_async=True)
    sends = [o for o in outcomes if o.request.action == "sqs:SendMessage"]
    assert [o.request.resource.rsplit(":", 1)[-1] for o in sends] == [queue]
    assert {o.request.action for o in outcomes if o.authorization.via == "sqs"} == {
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    assert all(o.allowed for o in outcomes)
