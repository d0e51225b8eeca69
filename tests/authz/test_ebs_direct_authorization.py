"""(v3) The EBS direct read APIs the backup measures change rates with, as the layer authorizes them: the
snapshot resource of each snapshot named (Service Authorization Reference, Amazon Elastic Block Store) with
its tags as `aws:ResourceTag/*`, and `kms:Decrypt` through EBS on the key of an encrypted one."""

from __future__ import annotations

from fakes import ACCOUNT, FakeFacts

from smart_vault.authz import policy, terraform
from smart_vault.authz.facts import Ec2Resource
from smart_vault.authz.requests import authorizations

PRIMARY = "eu-west-1"
SOURCE_KEY = f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/src"
MANAGED = {"ManagedBy": "smart-vault"}


def facts() -> FakeFacts:
    world = FakeFacts()
    world.add(PRIMARY, Ec2Resource("snap-old", MANAGED, False, None, ACCOUNT))
    world.add(PRIMARY, Ec2Resource("snap-new", MANAGED, True, SOURCE_KEY, ACCOUNT))
    return world


def test_list_changed_blocks_authorizes_both_snapshots_and_the_key_of_the_encrypted_one():
    found = authorizations(
        "ebs",
        "ListChangedBlocks",
        {"FirstSnapshotId": "snap-old", "SecondSnapshotId": "snap-new"},
        PRIMARY,
        facts(),
    )
    assert [a.action for a in found] == ["ebs:ListChangedBlocks", "kms:Decrypt"]
    assert [(r.resource, dict(r.context)) for r in found[0].requests] == [
        (f"arn:aws:ec2:{PRIMARY}::snapshot/snap-old", {"aws:ResourceTag/ManagedBy": "smart-vault"}),
        (f"arn:aws:ec2:{PRIMARY}::snapshot/snap-new", {"aws:ResourceTag/ManagedBy": "smart-vault"}),
    ]
    decrypt = found[1].requests[0]
    assert decrypt.resource == SOURCE_KEY
    assert decrypt.context["kms:ViaService"] == f"ebs.{PRIMARY}.amazonaws.com"


def test_a_snapshot_that_does_not_exist_is_answered_before_authorizing():
    assert authorizations("ebs", "ListSnapshotBlocks", {"SnapshotId": "snap-gone"}, PRIMARY, facts()) == []


def test_reading_an_encrypted_snapshot_needs_the_source_key_through_ebs_only():
    """ReadEncryptedSnapshotBlocksThroughEbs exists when source_volume_kms_key_arns is set: it allows the
    Decrypt EBS makes for the measurement, and refuses the same Decrypt made directly or through EC2."""
    deployment = terraform.Deployment(variables=(("source_volume_kms_key_arns", (SOURCE_KEY,)),))
    statements = terraform.role_statements("backup", PRIMARY, deployment)
    assert "ReadEncryptedSnapshotBlocksThroughEbs" in [s.sid for s in statements]
    found = authorizations("ebs", "ListSnapshotBlocks", {"SnapshotId": "snap-new"}, PRIMARY, facts())
    decrypt = found[1].requests[0]
    decision = policy.evaluate(statements, decrypt)
    assert decision.allowed
    assert [s.sid for s in decision.allowed_by] == ["ReadEncryptedSnapshotBlocksThroughEbs"]
    direct = policy.Request("kms:Decrypt", SOURCE_KEY, {"kms:CallerAccount": ACCOUNT})
    assert "ReadEncryptedSnapshotBlocksThroughEbs" not in [
        s.sid for s in policy.evaluate(statements, direct).allowed_by
    ]
    default = terraform.role_statements("backup", PRIMARY, terraform.Deployment())
    assert not policy.evaluate(default, decrypt).allowed  # without the variable the key is not the role's
