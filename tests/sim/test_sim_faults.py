"""The simulation's faults: EC2 token buckets under botocore's retry, overlapping invocations, invocations cut
off mid-way; and the cost of a copy event, which must not grow with the fleet."""

from __future__ import annotations

import pytest

from smart_vault.backup.snapshots import describe_managed_snapshots
from smart_vault.errors import AwsError
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.scenario import DR, PRIMARY, START, copy_pipeline, run_scenario
from smart_vault.sim.throttle import MUTATING, NON_MUTATING, UNFILTERED, bucket_shape
from smart_vault.sim.world import SimParams, SimWorld


def test_bucket_categories_follow_the_ec2_guide():
    assert bucket_shape("CopySnapshot") == MUTATING == bucket_shape("DeleteSnapshot")
    assert (MUTATING.size, MUTATING.refill_per_second) == (200, 10)
    assert bucket_shape("DescribeSnapshots") == NON_MUTATING
    assert (NON_MUTATING.size, NON_MUTATING.refill_per_second) == (100, 20)
    assert bucket_shape("DescribeSnapshots", filtered=False) == UNFILTERED


def test_an_empty_bucket_throttles_and_botocore_retries_wait_it_out_on_the_virtual_clock():
    world = SimWorld(SimParams(api_rate_scale=0.05), START, PRIMARY, DR)  # 5 tokens, 1 a second
    ec2 = SimEC2(world, PRIMARY)
    start = world.clock
    for _ in range(30):
        assert describe_managed_snapshots(ec2, PRIMARY) == []
    assert world.buckets.throttled["DescribeSnapshots"] > 0
    assert ec2.retry.retries > 0
    # 30 requests through a bucket of 5 refilled at 1/s: at least 24 s of virtual time, none failed.
    assert world.clock - start >= 24


def test_throttling_past_every_attempt_surfaces_as_request_limit_exceeded_after_ten_attempts():
    world = SimWorld(SimParams(api_rate_scale=1e-6), START, PRIMARY, DR)  # one token, next to no refill
    ec2 = SimEC2(world, PRIMARY)
    describe_managed_snapshots(ec2, PRIMARY)
    with pytest.raises(AwsError) as raised:
        describe_managed_snapshots(ec2, PRIMARY)
    assert raised.value.code == "RequestLimitExceeded"
    assert world.requests["DescribeSnapshots"] == 1 + 10  # botocore's max_attempts (smart_vault.aws)


def scaled(scenario, copy_limit=1, **faults):
    scenario.params.copy_limit = copy_limit
    for name, value in faults.items():
        setattr(scenario.params, name, value)
    return scenario


def assert_nothing_lost_or_doubled(figures):
    assert (figures["duplicates"], figures["lost"], figures["unsafe_deletions"]) == (0, 0, 0)
    assert figures["uncopied_at_end"] == 0
    assert figures["spurious_failures"] == 0
    assert figures["invocation_errors"] == []


def test_overlapping_copy_invocations_never_copy_a_snapshot_twice():
    figures = run_scenario(scaled(copy_pipeline(instances=20, days=3, seed=5), 2, overlap_rate=0.4))
    assert figures["overlapping_invocations"] >= 30  # invocations really interleaved at the ledger
    assert_nothing_lost_or_doubled(figures)


def test_invocations_cut_off_mid_way_leave_every_copy_owed_and_none_doubled():
    scenario = scaled(copy_pipeline(instances=20, days=3, seed=6), 2, kill_rate=0.3)
    # Reconciliations 3 h apart: a claim left by a cut-off invocation goes stale (1 h) before one cleans the
    # queue, so only the queued claim's rule (never over a stale claim) stands between it and a second copy.
    scenario.reconcile_minutes = 180
    figures = run_scenario(scenario)
    assert figures["invocations_killed"] >= 30
    assert_nothing_lost_or_doubled(figures)


def test_a_copy_event_costs_the_same_requests_in_any_fleet():
    small, large = scaled(copy_pipeline(instances=5, days=2, seed=2), 1), scaled(copy_pipeline(40, 2, 2), 8)
    for scenario in (small, large):
        # Copies that fail for good make some events also read their primary (to owe it again): a cost of
        # failures, not of the fleet; this test measures the events of copies that succeed.
        scenario.params.permanent_copy_failure_rate = 0.0
    small, large = run_scenario(small), run_scenario(large)
    for figures in (small, large):
        per_event = figures["requests_per_invocation"]["copy_event"]
        # The finished copy by id and the DR region's pending snapshots: never a listing of the fleet.
        assert per_event["ec2_describe"] <= 2.0
        assert figures["throttled_requests"] == 0  # the product's pacing keeps it inside EC2's buckets
    assert large["requests_per_invocation"]["reconcile"]["ec2_describe"] > 2.0  # the reconciliation lists
