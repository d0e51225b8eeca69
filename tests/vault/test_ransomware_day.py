"""(v3) The attack, end to end on the emulator (`local.ransomware`): after three nights of backups an attacker
with the workload account's administrator rights destroys what AWS lets an administrator destroy; the
vault account still holds a complete, immutable recovery point of every instance, and web-1 comes back
whole in the vault account's recovery network."""

from __future__ import annotations

import pytest

from smart_vault.cli.demo_attack import emulated_accounts
from smart_vault.local.ransomware import run_ransomware_day
from smart_vault.local.vault_setup import VAULT


@pytest.fixture(scope="module")
def day():
    with emulated_accounts():  # as the demo's last act runs it
        yield run_ransomware_day(nights=3)


def outcomes(day, call):
    return [c for c in day.calls if c.call == call]


def test_three_nights_put_every_dr_copy_in_the_vault(day):
    assert [n["snapshots"] for n in day.nights] == [3, 3, 3]
    assert sum(n["vault_copies"] for n in day.nights) == 9


def test_aws_refuses_the_administrator_only_what_locks_and_key_policies_forbid(day):
    deletes = outcomes(day, "DeleteSnapshot")
    locked = [c for c in deletes if not c.allowed and "SnapshotLocked" in c.why]
    assert len(locked) == 9  # every DR copy, on the first try
    in_use = [c for c in deletes if not c.allowed and c not in locked]
    assert all("InvalidSnapshot.InUse" in c.why for c in in_use)  # the fleet image's own snapshots
    # Governance locks give way to an administrator: unlocked, unshared, deleted.
    assert all(c.allowed for c in outcomes(day, "UnlockSnapshot"))
    assert all(c.allowed for c in outcomes(day, "ModifySnapshotAttribute"))
    assert day.workload_snapshots_left == len(in_use)  # no managed snapshot is left in the workload account
    for call in ("ScheduleKeyDeletion", "DisableKey"):
        (attempt,) = outcomes(day, call)
        assert (
            not attempt.allowed and "AccessDeniedException" in attempt.why and "explicit deny" in attempt.why
        )
    assert all(c.allowed for c in outcomes(day, "DeleteFunction") + outcomes(day, "DeleteRule"))
    (peek,) = [c for c in outcomes(day, "DescribeSnapshots") if "eu-central-1" in c.target]
    assert peek.why == "sees 0 of them" and VAULT in peek.target


def test_every_destructive_call_raises_a_tamper_notification(day):
    calls = {n["call"] for n in day.tamper}
    assert {
        "DeleteSnapshot",
        "UnlockSnapshot",
        "ModifySnapshotAttribute",
        "ScheduleKeyDeletion",
        "DisableKey",
        "DeleteFunction20150331",
        "RemoveTargets",
        "DeleteRule",
    } <= calls
    for note in day.tamper:
        assert note["subject"].startswith("Smart Vault TAMPER ") and note["event_type"] == "vault.tamper"
        assert "ransomware-admin" in note["principal"] and note["time"] and note["resource"]
    refused = [n for n in day.tamper if n["call"] == "ScheduleKeyDeletion"]
    assert refused and refused[0]["error"] == "AccessDeniedException"


def test_the_vault_still_holds_a_complete_immutable_recovery_point_of_every_instance(day):
    assert set(day.vault_points) == {"web-1", "db-1"}
    for label, point in day.vault_points.items():
        assert point["points"] == 3 and point["newest_complete"], label
        assert point["immutable"] is True, label
    assert day.vault_points["web-1"]["volumes"] == 2


def test_web_1_comes_back_whole_in_the_vault_accounts_recovery_network(day):
    restore = day.restore
    assert restore["state"] == "running"
    assert restore["volumes"] == ["/dev/sdf", "/dev/xvda"]
    assert restore["backup_set_id"] == day.vault_points["web-1"]["newest_complete"]
    assert restore["rto_seconds"] >= 0


def test_the_demo_act_tells_the_story(day):
    from smart_vault.cli.demo_attack import story

    text = "\n".join(story(day))
    assert "ScheduleKeyDeletion" in text and "REFUSED (AccessDeniedException)" in text
    assert "REFUSED (SnapshotLocked)" in text and "Smart Vault TAMPER DeleteSnapshot" in text
    assert "web-1: 3 recovery points" in text and "immutable: True" in text
    assert f"{day.restore['instance_id']} running" in text and "RTO" in text
