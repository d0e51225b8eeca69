"""Pacing of mutating EC2 calls: a token bucket per operation, with a fake clock (nothing sleeps)."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.stub import Stubber

from smart_vault.pacing import EC2_RATES, Pacer, Rate, TokenBucket, pace, scaled
from support.fake_clock import FakeClock


def test_burst_is_free_then_calls_are_spaced_at_the_refill_rate():
    clock = FakeClock()
    bucket = TokenBucket(Rate(5.0, 3), clock, clock.sleep)
    waits = [bucket.take() for _ in range(8)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.2] * 5)
    # 8 calls with a burst of 3 at 5/s take (8 - 3) / 5 = 1 s: exactly the refill rate after the burst.
    assert clock.now == pytest.approx(1.0)


def test_idle_time_refills_up_to_the_burst_only():
    clock = FakeClock()
    bucket = TokenBucket(Rate(10.0, 2), clock, clock.sleep)
    bucket.take()
    bucket.take()
    clock.now += 100.0
    assert [bucket.take() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])


def test_concurrent_callers_queue_behind_each_other():
    bucket = TokenBucket(Rate(1000.0, 1))
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(25):
            wait = bucket.take()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(waits) == 100
    # 99 calls beyond the burst at 1000/s: at least ~0.099 s of waiting in all, shared by the threads.
    assert bucket.waited >= 0.09


def test_invalid_rates_are_refused():
    with pytest.raises(ValueError):
        TokenBucket(Rate(0, 1))
    with pytest.raises(ValueError):
        TokenBucket(Rate(1, 0))


def test_a_paced_client_waits_only_for_paced_operations():
    clock = FakeClock()
    client = boto3.client("ec2", region_name="eu-west-1")
    pacer = Pacer({"CreateTags": Rate(2.0, 1)}, clock, clock.sleep)
    pacer.attach(client)
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("create_tags", {})
        stub.add_response("describe_snapshots", {"Snapshots": []})
        for n in range(3):
            client.create_tags(Resources=[f"snap-0000000{n}"], Tags=[{"Key": "k", "Value": "v"}])
        client.describe_snapshots(OwnerIds=["self"])
    assert clock.slept == pytest.approx([0.5, 0.5])


def test_pace_attaches_once_per_client():
    client = boto3.client("ec2", region_name="eu-west-1")
    first = pace(client)
    assert pace(client) is first
    assert set(first.buckets) == {
        "CreateSnapshots",
        "CopySnapshot",
        "DeleteSnapshot",
        "CreateTags",
        "LockSnapshot",
        "ModifySnapshotAttribute",
    }


def test_lock_repair_and_vault_sharing_are_paced_at_ec2s_refill_rate():
    clock = FakeClock()
    client = boto3.client("ec2", region_name="eu-central-1")
    pacer = Pacer(EC2_RATES, clock, clock.sleep)
    pacer.attach(client)
    calls = EC2_RATES["LockSnapshot"].burst + 5
    with Stubber(client) as stub:
        for n in range(calls):
            stub.add_response("lock_snapshot", {"SnapshotId": f"snap-{n:08d}"})
        for n in range(calls):
            stub.add_response("modify_snapshot_attribute", {})
        for n in range(calls):  # a lock repair
            client.lock_snapshot(SnapshotId=f"snap-{n:08d}", LockMode="governance", LockDuration=7)
        for n in range(calls):  # then the vault's sharing
            client.modify_snapshot_attribute(
                SnapshotId=f"snap-{n:08d}",
                Attribute="createVolumePermission",
                OperationType="add",
                UserIds=["210987654321"],
            )
    # Each action on its own bucket at EC2's 5 a second: the 5 calls past each burst wait 1/5 s each.
    assert clock.slept == pytest.approx([0.2] * 10)
    assert pacer.buckets["LockSnapshot"].waited == pytest.approx(1.0)
    assert pacer.buckets["ModifySnapshotAttribute"].waited == pytest.approx(1.0)


def test_scaled_rates_keep_their_shape():
    fast = scaled(EC2_RATES, 10)
    assert fast["CreateSnapshots"] == Rate(50.0, 100)
    assert fast["CreateTags"].per_second == 10 * EC2_RATES["CreateTags"].per_second
