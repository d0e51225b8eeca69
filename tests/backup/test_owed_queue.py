"""(v2) The owed-copy queue in COPY_LEDGER_TABLE (moto's DynamoDB and EC2): oldest first, rewritten from EC2 by
the reconciliation, read by copy-completion events instead of describing every managed snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from smart_vault.backup import entry as backup
from smart_vault.backup.ledger import FAILED, STALE_CLAIM_SECONDS, STARTED, CopyLedger, OwedCopy
from support.backup_world import (
    COPY_LEDGER_TABLE,
    PRIMARY_REGION,
    CallCounter,
    backup_context,
    copy_event,
    fail_operation,
    ledger_claims,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


pytestmark = pytest.mark.backup_env(MAX_CONCURRENT_COPIES="1")


@pytest.fixture
def ledger(fleet):
    return CopyLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE)


def owed(snapshot_id: str, minutes: int) -> OwedCopy:
    return OwedCopy(
        snapshot_id, PRIMARY_REGION, NOW + timedelta(minutes=minutes), {"ManagedBy": "smart-vault"}
    )


def test_the_queue_is_oldest_first_idempotent_and_synced_to_exactly_what_is_owed(ledger):
    t = NOW.timestamp()
    for item in (owed("snap-b", 5), owed("snap-a", 10), owed("snap-c", 1), owed("snap-b", 5)):
        ledger.owe(item, t)
    assert [o.snapshot_id for o in ledger.owed()] == ["snap-c", "snap-b", "snap-a"]
    assert list(ledger.owed_keys()) == [o.sort_key for o in ledger.owed()]  # the keys alone, in order
    assert next(iter(ledger.owed())).tags == {"ManagedBy": "smart-vault"}
    ledger.sync_owed([owed("snap-a", 10), owed("snap-d", 20)], t)
    assert [o.snapshot_id for o in ledger.owed()] == ["snap-a", "snap-d"]
    ledger.paid(owed("snap-a", 10).sort_key)
    assert [o.snapshot_id for o in ledger.owed()] == ["snap-d"]


def test_a_queued_claim_never_takes_a_stale_claim_whose_copy_may_be_live(ledger):
    t = NOW.timestamp()
    assert ledger.claim("snap-1", t, "dead-invocation")
    later = t + STALE_CLAIM_SECONDS + 60
    assert not ledger.claim("snap-1", later, "copy-event", queued=True)
    assert ledger.claim("snap-1", later, "reconciliation")  # it looked at DR and saw no live copy


def test_a_failure_reopens_a_claim_only_for_its_own_copy(ledger):
    t = NOW.timestamp()
    assert ledger.claim("snap-1", t, "run-a")
    ledger.started("snap-1", "snap-copy-2")
    ledger.failed("snap-1", ["snap-copy-1"])  # a late failure event of an older copy
    assert ledger_claims()["snap-1"]["state"] == STARTED
    ledger.failed("snap-1", ["snap-copy-2"])
    assert ledger_claims()["snap-1"]["state"] == FAILED


def managed_primary(fleet, label):
    return fleet.managed_set(label)[0]


def test_a_copy_event_starts_the_oldest_queued_copy_from_two_describes(fleet, ledger):
    primaries = [managed_primary(fleet, f"i{n}") for n in range(3)]
    # moto completes copies at once: the DR region's limit is played by refusing all but the first copy.
    calls, limit = [], [True]
    fail_operation(
        fleet.dr,
        "CopySnapshot",
        "ResourceLimitExceeded",
        when=lambda params: calls.append(params) or (limit[0] and len(calls) > 1),
    )
    first = backup.handler({"reconcile_copies": True}, backup_context())
    limit[0] = False
    assert len(first["copies_started"]) == 1 and first["copies_deferred"] == 2
    queued = [o.snapshot_id for o in ledger.owed()]
    assert sorted(queued) == sorted(set(primaries) - {first["copies_started"][0]["source_snapshot_id"]})

    counter = CallCounter(fleet.ec2, fleet.dr)
    report = backup.handler(copy_event(first["copies_started"][0]["copy_snapshot_id"]), backup_context())

    assert [c["source_snapshot_id"] for c in report["copies_started"]] == queued[:1]
    assert report["copies_deferred"] == 1
    assert [o.snapshot_id for o in ledger.owed()] == queued[1:]
    # The finished copy by id and the DR region's pending snapshots; no listing of either region's fleet.
    assert counter.calls["DescribeSnapshots"] == 2
    copies = fleet.dr.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert len(copies) == 2  # the first copy and this one: nothing copied twice
