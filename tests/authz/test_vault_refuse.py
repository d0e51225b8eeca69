"""(v3) What the vault function's role refuses, and what the owner's side of a cross-account request refuses.

The vault function runs in the vault account: its calls are evaluated with that account's facts, and a
request on a resource of another account (a workload account's shared DR copy, its DR key, the vault's
bus seen from the workload account) needs the caller's identity policy AND the owner's side (the
snapshot's createVolumePermission, the key policy, the bus policy). Each case of `CASES` is refused by one
narrowing condition of the vault role alone (the mutation check, `make iam-mutation`, counts them)."""

from __future__ import annotations

import pytest
from fakes import (
    ACCOUNT,
    BACKUP_ENV,
    DR,
    DR_KEY,
    MANAGED,
    PRIMARY,
    VAULT,
    VAULT_BUS,
    FakeFacts,
    put_events_policy,
)

from smart_vault.authz import terraform
from smart_vault.authz.enforce import Call, Enforcer
from smart_vault.authz.facts import Ec2Resource
from smart_vault.authz.policy import Decision, Request, resource_policy_allows
from support.vault_world import dr_key_statements

OTHER = "999999999999"
OTHER_KEY = f"arn:aws:kms:{DR}:{OTHER}:key/other"
VAULT_KEY = f"arn:aws:kms:{DR}:{VAULT}:key/vault"
BUS = VAULT_BUS
VAULT_ENV = {
    "AWS_REGION": DR,
    "SNS_TOPIC_ARN": f"arn:aws:sns:{DR}:{VAULT}:smart-vault-vault",
    "SOURCE_ACCOUNT_IDS": ACCOUNT,
    "VAULT_KMS_KEY_ID": VAULT_KEY,
    "VAULT_LEDGER_TABLE": "smart-vault-vault-ledger",
    "RETENTION_DAYS": "35",
    "LOCK_MODE": "compliance",
    "LOCK_COOL_OFF_HOURS": "24",
}


def dr_key_policy(account: str, vault: str) -> dict:
    """kms.tf's DR key policy for a vault account (the statements the vault account's requests meet)."""
    return {"Statement": dr_key_statements(account, vault)}


def vault_world() -> FakeFacts:
    """The vault account's view: its own copies, and the snapshots workload accounts shared with it."""
    facts = FakeFacts(account=VAULT)
    facts.policies = {DR_KEY: dr_key_policy(ACCOUNT, VAULT), OTHER_KEY: dr_key_policy(OTHER, VAULT)}
    for region in (PRIMARY, DR):
        facts.add(region, Ec2Resource("snap-src", MANAGED, True, DR_KEY, ACCOUNT, shared_with=(VAULT,)))
        facts.add(region, Ec2Resource("snap-plain", MANAGED, False, None, ACCOUNT, shared_with=(VAULT,)))
        facts.add(region, Ec2Resource("snap-other", MANAGED, True, OTHER_KEY, OTHER, shared_with=(VAULT,)))
        facts.add(region, Ec2Resource("snap-unshared", MANAGED, True, DR_KEY, ACCOUNT, shared_with=()))
        facts.add(region, Ec2Resource("snap-v", MANAGED, True, VAULT_KEY, VAULT))
        facts.add(region, Ec2Resource("snap-vu", {}, True, VAULT_KEY, VAULT))
    return facts


def copy(source: str, *, tagged: bool = True, encrypted: bool = True) -> dict:
    params = {"SourceSnapshotId": source, "SourceRegion": DR, "KmsKeyId": VAULT_KEY}
    if encrypted:
        params["Encrypted"] = True
    if tagged:
        params["TagSpecifications"] = [
            {"ResourceType": "snapshot", "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]}
        ]
    return params


def decide(operation: str, params: dict, service: str = "ec2", region: str = DR, facts=None):
    outcomes, _, _ = Enforcer(facts or vault_world()).decide(
        Call("vault", service, operation, params, region, VAULT_ENV)
    )
    return outcomes


def refused(outcomes) -> set[str]:
    return {o.request.action for o in outcomes if not o.allowed}


CASES = [
    # CopyOnlySnapshotsOfTheSourceAccounts: a snapshot of an account that is not a source (shared all the same).
    ("copies-a-snapshot-of-another-account", "CopySnapshot", copy("snap-other"), DR, "ec2:CopySnapshot"),
    # CopyIntoTheVaultOnlyTaggedManagedAndEncrypted: the copy untagged, or unencrypted.
    (
        "copies-without-the-managed-tag",
        "CopySnapshot",
        copy("snap-src", tagged=False),
        DR,
        "ec2:CopySnapshot",
    ),
    ("copies-unencrypted", "CopySnapshot", copy("snap-plain", encrypted=False), DR, "ec2:CopySnapshot"),
    # TagCopiesAtCreation: tags outside a copy.
    (
        "tags-outside-a-copy",
        "CreateTags",
        {"Resources": ["snap-v"], "Tags": [{"Key": "ManagedBy", "Value": "smart-vault"}]},
        DR,
        "ec2:CreateTags",
    ),
    # LockOwnCopiesWithinRetention: an unmanaged snapshot, beyond ten years, a longer cooling-off.
    (
        "locks-an-unmanaged-snapshot",
        "LockSnapshot",
        {"SnapshotId": "snap-vu", "LockMode": "compliance", "LockDuration": 35},
        DR,
        "ec2:LockSnapshot",
    ),
    (
        "locks-beyond-ten-years",
        "LockSnapshot",
        {"SnapshotId": "snap-v", "LockMode": "compliance", "LockDuration": 3651},
        DR,
        "ec2:LockSnapshot",
    ),
    (
        "locks-with-a-longer-cooling-off",
        "LockSnapshot",
        {"SnapshotId": "snap-v", "LockMode": "compliance", "LockDuration": 35, "CoolOffPeriod": 72},
        DR,
        "ec2:LockSnapshot",
    ),
    # DeleteOnlyOwnManagedCopies: an unmanaged snapshot of the vault account.
    ("deletes-an-unmanaged-snapshot", "DeleteSnapshot", {"SnapshotId": "snap-vu"}, DR, "ec2:DeleteSnapshot"),
    # ReadSharedSnapshotsWithTheSourceKeys and GrantEbsTheSourceKeys: EBS of another region (the copy made in
    # the primary region from the DR region's shared snapshot) uses the DR key through ec2.<primary>.
    ("reads-a-source-key-through-another-region", "CopySnapshot", copy("snap-src"), PRIMARY, "kms:Decrypt"),
    (
        "grants-on-a-source-key-through-another-region",
        "CopySnapshot",
        copy("snap-src"),
        PRIMARY,
        "kms:CreateGrant",
    ),
]


@pytest.mark.parametrize(
    ("operation", "params", "region", "action"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_vault_role_refuses(operation, params, region, action):
    assert action in refused(decide(operation, params, region=region))


def test_the_vault_role_copies_a_shared_dr_copy_with_both_accounts_allowing():
    """The copy the vault makes: the vault role allows it, the DR copy's createVolumePermission names the
    vault account, the DR key's policy (the workload account's) allows the vault account, the vault key's
    policy (the vault account's) names the vault role."""
    outcomes = decide("CopySnapshot", copy("snap-src"))
    assert refused(outcomes) == set()
    by_action = {(o.request.action, o.request.resource): o for o in outcomes}
    source = by_action[("ec2:CopySnapshot", f"arn:aws:ec2:{DR}::snapshot/snap-src")]
    assert (source.allowed_by, source.resource_policy) == (
        ("CopyOnlySnapshotsOfTheSourceAccounts",),
        "allows",
    )
    assert {a for a, r in by_action if r == DR_KEY} == {
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:ReEncryptFrom",
        "kms:CreateGrant",
    }
    assert by_action[("kms:CreateGrant", DR_KEY)].key_policy_by == ("VaultAccountGrantsEbs",)
    assert by_action[("kms:CreateGrant", VAULT_KEY)].key_policy == "direct"


def test_a_snapshot_not_shared_with_the_vault_is_refused_by_its_owner():
    """The role allows a copy of a source account's snapshot; its owner did not share it: refused."""
    outcomes = decide("CopySnapshot", copy("snap-unshared"))
    source = next(o for o in outcomes if o.request.resource.endswith("snap-unshared"))
    assert source.allowed_by == ("CopyOnlySnapshotsOfTheSourceAccounts",)
    assert (source.allowed, source.resource_policy) == (False, "denies")


def test_a_key_of_another_account_needs_its_policy_and_the_role():
    """The DR key's policy allows the vault account, but the role names only its source accounts' keys: a
    shared snapshot of another account cannot be read (nor its key used), whatever that key's policy says."""
    outcomes = decide("CopySnapshot", copy("snap-other"))
    other = [o for o in outcomes if o.request.resource == OTHER_KEY]
    assert other and all(not o.allowed and o.key_policy == "account" for o in other)
    # And the other way round: the role allows the DR key, its policy without the vault account refuses.
    facts = vault_world()
    facts.policies[DR_KEY] = {"Statement": dr_key_policy(ACCOUNT, VAULT)["Statement"][:1]}
    dr = [o for o in decide("CopySnapshot", copy("snap-src"), facts=facts) if o.request.resource == DR_KEY]
    assert dr and all(not o.allowed and o.key_policy == "denies" for o in dr)


def test_the_vault_key_is_used_only_as_its_policy_says():
    """The vault key's policy (modules/vault_account) names the vault role for EBS, its ledger and topic;
    the role uses it directly nowhere else (no identity statement repeats the key policy)."""
    for action in ("Decrypt", "GenerateDataKey", "CreateGrant"):
        outcomes = decide(action, {"KeyId": VAULT_KEY}, service="kms")
        assert [o.key_policy for o in outcomes] == ["denies"], action


def backup_announces(entry: dict, facts: FakeFacts) -> list:
    params = {"Entries": [{"Detail": "{}", "EventBusName": BUS, **entry}]}
    outcomes, _, _ = Enforcer(facts).decide(Call("backup", "events", "PutEvents", params, DR, BACKUP_ENV))
    return outcomes


SHARED = {"Source": "smart-vault", "DetailType": "Smart Vault Snapshot Shared"}


def test_the_vault_bus_policy_admits_only_the_workload_accounts_announcements():
    """The vault's bus as Terraform deploys it (modules/vault_account `vault_bus`, the facts knowing no
    policy): the announcement passes both sides; another detail type is refused by the bus alone."""
    facts = FakeFacts()
    (ok,) = backup_announces(SHARED, facts)
    assert (ok.allowed, ok.allowed_by, ok.resource_policy_by) == (
        True,
        ("AnnounceOnTheVaultBus",),
        ("WorkloadAccountsAnnounceSharedSnapshots",),
    )
    (other,) = backup_announces({**SHARED, "DetailType": "Something Else"}, facts)
    assert (other.allowed, other.allowed_by, other.resource_policy) == (
        False,
        ("AnnounceOnTheVaultBus",),
        "denies",
    )
    # The bus policy's own conditions, each alone (the role's own refuses another source too).
    statements = terraform.vault_bus_policy(BUS, ACCOUNT)
    principal = f"arn:aws:iam::{ACCOUNT}:role/smart-vault-backup"
    allowed = Decision(True)
    for context, expected in (
        ({"events:source": "smart-vault", "events:detail-type": "Smart Vault Snapshot Shared"}, True),
        ({"events:source": "aws.ec2", "events:detail-type": "Smart Vault Snapshot Shared"}, False),
        ({"events:source": "smart-vault", "events:detail-type": "x"}, False),
    ):
        request = Request("events:PutEvents", BUS, context, principal)
        assert resource_policy_allows(allowed, statements, request, ACCOUNT)[0] is expected, context
    # An account that is not among the bus's source accounts.
    stranger = Request(
        "events:PutEvents",
        BUS,
        {"events:source": "smart-vault", "events:detail-type": "Smart Vault Snapshot Shared"},
        f"arn:aws:iam::{OTHER}:role/x",
    )
    assert resource_policy_allows(allowed, statements, stranger, OTHER)[0] is False
    # The identity side: a bus policy that allows never overrides a role that refuses.
    assert resource_policy_allows(Decision(False), statements, request, ACCOUNT)[0] is False


def test_a_bus_policy_the_bus_has_decides_when_known():
    """The facts know the bus's policy (the emulator's PutPermission): that policy decides the owner's side."""
    facts = FakeFacts()
    facts.buses[BUS] = put_events_policy(BUS, OTHER, "someone-else")
    (refused_by_bus,) = backup_announces(SHARED, facts)
    assert (refused_by_bus.allowed, refused_by_bus.allowed_by, refused_by_bus.resource_policy) == (
        False,
        ("AnnounceOnTheVaultBus",),
        "denies",
    )


# What the EBS user guide says a user of a shared snapshot's key must be allowed ("Share the KMS key used to
# encrypt a shared Amazon EBS snapshot").
SHARED_KEY_ACTIONS = {
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncrypt*",
    "kms:Decrypt",
}


def test_both_sides_of_a_shared_copy_grant_what_the_ebs_guide_lists_for_a_shared_key():
    """The DR key's policy (kms.tf) lets the vault account, and the vault role (modules/vault_account) asks,
    every action of the guide's list; CreateGrant only for an AWS resource on the key's side."""
    deployment = terraform.Deployment(account=ACCOUNT, dr_region=DR, variables=(("vault_account_id", VAULT),))
    vault_account = f"arn:aws:iam::{VAULT}:root"
    key_side = [
        s for s in terraform.key_policy("dr", deployment) if ("AWS", (vault_account,)) in s.principals
    ]
    role = terraform.role_statements("vault", DR, deployment)
    role_side = [
        s for s in role if any(a.startswith("kms:") for a in s.actions) and "key/*" in s.resources[0]
    ]
    for side in (key_side, role_side):
        assert {a for s in side for a in s.actions} == SHARED_KEY_ACTIONS
    (grant,) = [s for s in key_side if "kms:CreateGrant" in s.actions]
    assert [(c.operator, c.key, c.values) for c in grant.conditions] == [
        ("Bool", "kms:GrantIsForAWSResource", ("true",))
    ]


def test_the_vault_worlds_dr_key_policy_is_the_terraforms():
    """tests/support/vault_world writes the DR key's policy for moto's KMS by hand: its vault statements are
    the ones kms.tf renders, so the vault tests run against the policy a deployment gets."""
    deployment = terraform.Deployment(account=ACCOUNT, dr_region=DR, variables=(("vault_account_id", VAULT),))
    rendered = {s.sid: s for s in terraform.key_policy("dr", deployment) if s.sid.startswith("VaultAccount")}
    by_hand = {s["Sid"]: s for s in dr_key_statements(ACCOUNT, VAULT) if s["Sid"].startswith("VaultAccount")}
    assert set(rendered) == set(by_hand)
    for sid, statement in by_hand.items():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert set(actions) == set(rendered[sid].actions), sid
        assert rendered[sid].principals == (("AWS", (statement["Principal"]["AWS"],)),), sid
        conditions = {
            (operator, key, (value,))
            for operator, keys in statement.get("Condition", {}).items()
            for key, value in keys.items()
        }
        assert conditions == {(c.operator, c.key, c.values) for c in rendered[sid].conditions}, sid
