"""(v3) The vault account on moto: the backup function shares and announces every completed DR copy; the
vault function copies each once under its own key, locks it, owes what does not fit, rejects what it must,
and prunes only its own copies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from freezegun import freeze_time
from moto.ec2.exceptions import InvalidSnapshotIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend

from smart_vault.backup import entry as backup
from smart_vault.errors import AwsError
from smart_vault.local import moto_accounts
from smart_vault.vault import copies as vault_copies
from support.backup_world import (
    ACCOUNT_ID,
    DAY,
    DR_REGION,
    T0,
    backup_context,
    copy_event,
    scheduled_event,
    tags_of,
)
from support.lambda_context import FakeLambdaContext
from support.vault_world import VAULT_ACCOUNT, VAULT_FUNCTION_ARN, make_vault_world

pytestmark = pytest.mark.backup_env(RETENTION_DAYS="7", DR_RETENTION_DAYS="7", LOCK_MODE="governance")


@pytest.fixture
def world(fleet, monkeypatch):
    fleet.launch("web-1", {"Backup-Tier": "Gold", "Name": "web-1"}, volumes=2)
    fleet.launch("db-1", {"Backup-Tier": "Gold", "Name": "db-1"}, volumes=1)
    return fleet, make_vault_world(monkeypatch)


def backup_at(when, event):
    with freeze_time(when):
        return backup.handler(event, backup_context())


def vault_at(vault, when, event):
    with freeze_time(when):
        return vault.invoke(event)


def deliver_at(vault, when):
    with freeze_time(when):
        return vault.deliver()


def announcements_at(vault, when):
    """Read inside the frozen clock: SQS drops messages older than its retention (4 days by default)."""
    with freeze_time(when):
        return vault.announcements()


def shared_dr_copies(fleet):
    return {
        s["SnapshotId"]: s
        for s in fleet.dr.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[VAULT_ACCOUNT])[
            "Snapshots"
        ]
    }


def test_each_completed_dr_copy_is_shared_announced_and_copied_once_under_the_vault_key(world):
    fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    report = backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    assert report["failures"] == []
    shared = shared_dr_copies(fleet)
    assert len(shared) == 3

    announcements = announcements_at(vault, T0 + timedelta(minutes=30))
    assert {e["detail"]["snapshot_id"] for e in announcements} == set(shared)
    first = announcements[0]
    assert (first["source"], first["detail-type"], first["account"]) == (
        "smart-vault",
        "Smart Vault Snapshot Shared",
        ACCOUNT_ID,
    )
    assert set(first["detail"]) == {"snapshot_id", "region", "account", "tags"}
    assert first["detail"]["tags"] == {
        k: v
        for k, v in tags_of(shared[first["detail"]["snapshot_id"]]).items()
        if k.startswith("smart-vault:") or k == "Name"
    }

    reports = [
        vault_at(vault, T0 + timedelta(minutes=31), e) for e in announcements + announcements
    ]  # redelivered
    assert sum(len(r["copies_started"]) for r in reports) == 3
    copies = vault.copies()
    assert len(copies) == 3  # vault_duplicates 0
    for copy in copies.values():
        tags = tags_of(copy)
        source = tags["smart-vault:vault-source-snapshot"]
        assert copy["OwnerId"] == VAULT_ACCOUNT and copy["KmsKeyId"] == vault.key_arn
        assert tags["ManagedBy"] == "smart-vault" and tags["smart-vault:retention-days"] == "35"
        assert tags["smart-vault:source-account"] == ACCOUNT_ID
        assert tags["smart-vault:backup-set"] == tags_of(shared[source])["smart-vault:backup-set"]
    with freeze_time(T0 + timedelta(hours=1)):
        locks = vault.client("ec2").describe_locked_snapshots()["Snapshots"]
    assert {lock["SnapshotId"] for lock in locks} == set(copies)
    assert {lock["LockState"] for lock in locks} == {"compliance-cooloff"}
    assert {lock["LockExpiresOn"] for lock in locks} == {T0 + timedelta(minutes=31) + 35 * DAY}


def test_a_copy_completion_event_shares_and_announces_that_copy(world):
    fleet, vault = world
    report = backup_at(T0, scheduled_event("r0"))
    copy_id = report["copies_started"][0]["copy_snapshot_id"]
    event = copy_event(copy_id, event_id="copy-done-1")
    backup_at(T0 + timedelta(minutes=5), event)
    assert set(shared_dr_copies(fleet)) == {copy_id}
    assert [e["detail"]["snapshot_id"] for e in announcements_at(vault, T0 + timedelta(minutes=5))] == [
        copy_id
    ]


def test_sharing_stops_at_the_deadline_and_the_next_reconciliation_shares_the_rest(world):
    """A vault account turned on over existing copies: one invocation shares what its time allows (the tail's
    quarter of the reserve stops it), announces what it shared, and the next reconciliation does the rest."""
    fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    shares = []
    fleet.dr.meta.events.register(
        "provide-client-params.ec2.ModifySnapshotAttribute",
        lambda params, **_: shares.append(params["SnapshotId"]),
    )
    short = backup_context()
    short.get_remaining_time_in_millis = lambda: 900_000 if not shares else 10_000  # short after one share

    with freeze_time(T0 + timedelta(minutes=30)):
        backup.handler({"reconcile_copies": True}, short)

    assert len(shares) == 1
    assert set(shared_dr_copies(fleet)) == set(shares)
    first = announcements_at(vault, T0 + timedelta(minutes=30))
    assert [e["detail"]["snapshot_id"] for e in first] == shares
    backup_at(T0 + timedelta(minutes=60), {"reconcile_copies": True})
    assert len(shared_dr_copies(fleet)) == 3 and len(shares) == 3  # each shared once
    later = announcements_at(vault, T0 + timedelta(minutes=60))
    assert {e["detail"]["snapshot_id"] for e in later} == set(shares[1:])


def test_a_copy_event_that_says_succeeded_is_trusted_while_describe_still_says_pending(world):
    """DescribeSnapshots is eventually consistent (moto is not): right after the copySnapshot event it may still
    answer `pending`. The event is EBS's word that the copy completed: the primary is marked copied and the copy
    handed to the vault at once, not by the next reconciliation."""
    fleet, vault = world
    report = backup_at(T0, scheduled_event("r0"))
    started = report["copies_started"][0]
    copy_id, primary_id = started["copy_snapshot_id"], started["source_snapshot_id"]
    ec2_backends[ACCOUNT_ID][DR_REGION].snapshots[copy_id].status = "pending"  # what a lagging describe shows

    backup_at(T0 + timedelta(minutes=5), copy_event(copy_id, event_id="copy-done-stale"))

    assert set(shared_dr_copies(fleet)) == {copy_id}
    assert [e["detail"]["snapshot_id"] for e in announcements_at(vault, T0 + timedelta(minutes=5))] == [
        copy_id
    ]
    assert tags_of(fleet.managed()[primary_id])["smart-vault:dr-copied"] == "true"


def test_every_full_run_announces_again_the_shared_copies_younger_than_48_hours(world):
    _fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first = {e["detail"]["snapshot_id"] for e in announcements_at(vault, T0 + timedelta(minutes=30))}
    backup_at(T0 + DAY, scheduled_event("r1"))
    again = {e["detail"]["snapshot_id"] for e in announcements_at(vault, T0 + DAY)}
    assert first <= again  # r0's copies again; r1's copies completed at once and are new
    backup_at(T0 + 3 * DAY, scheduled_event("r3"))
    later = {e["detail"]["snapshot_id"] for e in announcements_at(vault, T0 + 3 * DAY)}
    assert not first & later  # older than 48 h: no more announcements


def test_a_re_announcement_of_a_copied_snapshot_costs_one_ledger_read_and_no_ec2_call(world, monkeypatch):
    """Every full run announces again the copies it shared within 48 h: for a large fleet, thousands of
    invocations a night. Once the vault has copied a snapshot, its announcement is answered from the ledger."""
    _fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first, *_ = announcements_at(vault, T0 + timedelta(minutes=30))
    assert len(vault_at(vault, T0 + timedelta(minutes=31), first)["copies_started"]) == 1

    def no_ec2(*args, **kwargs):
        raise AssertionError("a re-announcement of a copied snapshot made an EC2 call")

    monkeypatch.setattr(vault_copies, "_shared_snapshot", no_ec2)
    monkeypatch.setattr(vault_copies, "count_pending", no_ec2)
    again = vault_at(vault, T0 + timedelta(hours=24), first)
    assert again["failures"] == [] and again["rejected"] == [] and again["copies_started"] == []
    forged = vault_at(vault, T0 + timedelta(hours=24), {**first, "account": "999988887777"})
    assert len(forged["rejected"]) == 1  # the pure checks still refuse a stranger's announcement
    assert len(vault.copies()) == 1


def _announcement(snapshot_id, account=ACCOUNT_ID, sender=ACCOUNT_ID):
    return {
        "id": f"ann-{snapshot_id}",
        "source": "smart-vault",
        "detail-type": "Smart Vault Snapshot Shared",
        "account": sender,
        "region": DR_REGION,
        "detail": {"snapshot_id": snapshot_id, "region": DR_REGION, "account": account, "tags": {}},
    }


def test_announcements_from_strangers_or_of_unshared_snapshots_are_rejected(world, engine_clock):
    _fleet, vault = world
    report = backup_at(T0, scheduled_event("r0"))
    unshared = report["copies_started"][0]["copy_snapshot_id"]
    cases = [
        _announcement(unshared, account="999988887777", sender="999988887777"),  # not a source account
        _announcement(unshared, account=ACCOUNT_ID, sender="999988887777"),  # forged detail
        _announcement(unshared),  # a source account's, but never shared with the vault
        _announcement("snap-0123456789abcdef0"),  # no such snapshot
    ]
    for event in cases:
        answer = vault_at(vault, T0 + timedelta(minutes=1), event)
        assert len(answer["rejected"]) == 1 and answer["copies_started"] == [], answer
    assert vault.copies() == {}


def test_a_share_not_yet_visible_to_the_vault_is_asked_again_not_rejected(world, monkeypatch, engine_clock):
    """The announcement follows the share by milliseconds and EC2 is eventually consistent: a snapshot the
    vault cannot see yet is asked for again (1, 2, 4 s) before anything is refused."""
    _fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first, *_ = announcements_at(vault, T0 + timedelta(minutes=30))
    shared_id = first["detail"]["snapshot_id"]
    visible = moto_accounts.visible_snapshots
    unseen = {"left": 3}

    def not_yet_visible(backend, snapshot_ids, *args):
        if backend.account_id == VAULT_ACCOUNT and snapshot_ids == [shared_id] and unseen["left"]:
            unseen["left"] -= 1
            raise InvalidSnapshotIdError()
        return visible(backend, snapshot_ids, *args)

    monkeypatch.setattr(moto_accounts, "visible_snapshots", not_yet_visible)
    answer = vault_at(vault, T0 + timedelta(minutes=31), first)
    assert answer["rejected"] == [] and answer["accepted"] == [shared_id], answer
    assert unseen["left"] == 0 and engine_clock.now == 1 + 2 + 4


def test_copies_beyond_the_slots_are_owed_and_start_when_a_slot_frees(world, monkeypatch):
    _fleet, vault = world
    vault.env["MAX_CONCURRENT_COPIES"] = "1"
    copy = EBSBackend.copy_snapshot

    def vault_copies_stay_pending(self, *args, **kwargs):
        snapshot = copy(self, *args, **kwargs)
        if self.account_id == VAULT_ACCOUNT:
            snapshot.status = "pending"
        return snapshot

    monkeypatch.setattr(EBSBackend, "copy_snapshot", vault_copies_stay_pending)
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    reports = deliver_at(vault, T0 + timedelta(minutes=31))
    assert sum(len(r["copies_started"]) for r in reports) == 1
    assert reports[-1]["copies_deferred"] == 2  # VaultBacklog
    from moto.ec2.models import ec2_backends

    pending = next(
        s for s in ec2_backends[VAULT_ACCOUNT][DR_REGION].snapshots.values() if s.status == "pending"
    )
    pending.status = "completed"
    done = copy_event(pending.id, event_id="vault-copy-done")
    answer = vault_at(vault, T0 + timedelta(hours=1), done)
    assert len(answer["copies_started"]) == 1 and answer["copies_deferred"] == 1


class _Killed(BaseException):
    """The Lambda runtime ending an invocation (a timeout): no handler code runs after it."""


def test_a_claim_left_by_an_invocation_that_died_before_its_copy_is_taken_over_once_stale(world, monkeypatch):
    """An invocation that claimed a copy and died before CopySnapshot answered (a timeout in throttled
    retries) left a claim and no copy. The announcement path leaves a stale claim alone (its copy may be
    live); the reconciliation, which has just listed the vault's copies, takes it over after an hour."""
    _fleet, vault = world
    vault.env["MAX_CONCURRENT_COPIES"] = "1"
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first, *_ = announcements_at(vault, T0 + timedelta(minutes=30))
    real_copy = vault_copies.copy_once

    def dies(*args, **kwargs):
        raise _Killed

    monkeypatch.setattr(vault_copies, "copy_once", dies)
    with pytest.raises(_Killed):
        vault_at(vault, T0 + timedelta(minutes=31), first)
    monkeypatch.setattr(vault_copies, "copy_once", real_copy)
    assert vault.copies() == {}

    early = vault_at(vault, T0 + timedelta(minutes=61), {"reconcile": True})
    assert early["copies_started"] == [] and vault.copies() == {}  # the claim may still be a live one's
    late = vault_at(vault, T0 + timedelta(minutes=95), {"reconcile": True})
    assert [c["source_snapshot_id"] for c in late["copies_started"]] == [first["detail"]["snapshot_id"]]
    assert len(vault.copies()) == 1


def test_a_copy_whose_answer_was_lost_is_recorded_not_made_twice(world, monkeypatch):
    """CopySnapshot takes no ClientToken: a copy AWS made while its answer was lost (a read timeout) must
    not be made again by the next attempt, as a compliance-locked duplicate cannot be removed."""
    _fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first, second, *_ = announcements_at(vault, T0 + timedelta(minutes=30))
    real_copy = vault_copies.copy_once

    def answer_lost(*args, **kwargs):
        real_copy(*args, **kwargs)
        raise AwsError("RequestTimeout", "the answer never came", "CopySnapshot")

    monkeypatch.setattr(vault_copies, "copy_once", answer_lost)
    lost = vault_at(vault, T0 + timedelta(minutes=31), first)
    assert lost["copies_started"] == [] and len(lost["failures"]) == 1
    monkeypatch.setattr(vault_copies, "copy_once", real_copy)
    # The next announcement starts owed copies, oldest first, without listing the vault's copies first.
    later = vault_at(vault, T0 + timedelta(minutes=32), second)
    assert [c["source_snapshot_id"] for c in later["copies_started"]] == [second["detail"]["snapshot_id"]]
    sources = [tags_of(c)["smart-vault:vault-source-snapshot"] for c in vault.copies().values()]
    assert sorted(sources) == sorted([first["detail"]["snapshot_id"], second["detail"]["snapshot_id"]])


def test_a_refused_copy_is_tried_again_by_the_next_event_and_the_copy_goes_through_one_attempt(
    world, monkeypatch
):
    """A 4xx answer is a refusal (no copy was made): the claim is failed and the next event tries again. The
    copy itself goes through the single-attempt client, so botocore never resends a CopySnapshot."""
    _fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first, second, *_ = announcements_at(vault, T0 + timedelta(minutes=30))
    real_copy = vault_copies.copy_once
    clients = []

    def refused(ec2, owed, settings, now, copy_ec2=None):
        clients.append(copy_ec2)
        raise AwsError("InvalidParameterValue", "refused", "CopySnapshot", status=400)

    monkeypatch.setattr(vault_copies, "copy_once", refused)
    assert vault_at(vault, T0 + timedelta(minutes=31), first)["copies_started"] == []
    assert clients[0].meta.config.retries["total_max_attempts"] == 1
    monkeypatch.setattr(vault_copies, "copy_once", real_copy)
    later = vault_at(vault, T0 + timedelta(minutes=32), second)
    started = sorted(c["source_snapshot_id"] for c in later["copies_started"])
    assert started == sorted([first["detail"]["snapshot_id"], second["detail"]["snapshot_id"]])


class _RunningOutContext(FakeLambdaContext):
    """The vault's context at the start of a reconciliation (300 s left), then with one second left."""

    asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return 300_000 if self.asked == 1 else 1_000


def test_an_event_short_of_time_starts_no_copy_and_leaves_it_owed(world):
    """A copy start may wait up to a minute for its lock: an invocation near its end starts none, and the
    copy stays owed for the next event or reconciliation."""
    _fleet, vault = world
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    first, *_ = announcements_at(vault, T0 + timedelta(minutes=30))
    short = _RunningOutContext(
        function_name="smart-vault-vault", invoked_function_arn=VAULT_FUNCTION_ARN, aws_request_id="r-short"
    )
    with freeze_time(T0 + timedelta(minutes=31)):
        report = vault.invoke(first, short)
    assert report["accepted"] == [first["detail"]["snapshot_id"]] and report["copies_started"] == []
    assert report["copies_deferred"] == 1 and vault.copies() == {}
    later = vault_at(vault, T0 + timedelta(minutes=61), {"reconcile": True})
    assert [c["source_snapshot_id"] for c in later["copies_started"]] == [first["detail"]["snapshot_id"]]


def _short_of_time_reconciliation(vault, when):
    """A reconciliation whose invocation runs short of time: it must stop deleting (a backlog of expired
    copies must not run the vault function into its timeout, which ends with no report and a retry)."""
    before = set(vault.copies())
    short = _RunningOutContext(
        function_name="smart-vault-vault", invoked_function_arn=VAULT_FUNCTION_ARN, aws_request_id="r-short"
    )
    with freeze_time(when):
        report = vault.invoke({"reconcile": True}, short)
    assert report["failures"] == [] and report["deleted"] == []
    assert set(vault.copies()) == before and short.asked >= 2


def test_the_reconciliation_prunes_only_the_vaults_own_copies_once_their_locks_expired(world):
    """... and, short of time, leaves its deletions to the next reconciliation (day 3, the first with
    expired copies)."""
    _fleet, vault = world
    vault.env.update(RETENTION_DAYS="2", LOCK_MODE="governance", LOCK_COOL_OFF_HOURS="0")
    backup_at(T0, scheduled_event("r0"))
    backup_at(T0 + timedelta(minutes=30), {"reconcile_copies": True})
    deliver_at(vault, T0 + timedelta(minutes=31))
    first = set(vault.copies())
    for day in (1, 2, 3, 4):
        backup_at(T0 + day * DAY, scheduled_event(f"r{day}"))
        backup_at(T0 + day * DAY + timedelta(minutes=30), {"reconcile_copies": True})
        deliver_at(vault, T0 + day * DAY + timedelta(minutes=31))
        if day == 3:
            _short_of_time_reconciliation(vault, T0 + day * DAY + timedelta(minutes=35))
        report = vault_at(vault, T0 + day * DAY + timedelta(minutes=40), {"reconcile": True})
        assert report["failures"] == [], report
        if day == 1:
            assert report["deleted"] == []  # locked and young
        if day == 3:
            assert report["deleted"]  # what the short run left: the day-0 copies, expired
    remaining = vault.copies()
    assert not first & set(remaining)  # expired after 2 days, lock expired with them: pruned
    # The shared DR copies the vault copied from are the workload's: the vault deleted none of them.
    assert all(tags_of(s).get("ManagedBy") == "smart-vault" for s in remaining.values())
    with freeze_time(T0 + 4 * DAY + timedelta(hours=1)):
        complete = json.dumps(sorted(tags_of(s)["smart-vault:source-instance"] for s in remaining.values()))
    assert "i-" in complete
