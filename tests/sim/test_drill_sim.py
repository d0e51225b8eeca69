"""Drills on the simulation: the real drill run and restore engine against simulated EC2 launch, status-check
and terminate times, in virtual time. Every drill passes with a realistic RTO and leaves nothing behind."""

from __future__ import annotations

from smart_vault.sim.compute import INSTANCE_PENDING_S, STATUS_INITIALIZING_S
from smart_vault.sim.drill_scenario import run_drill_scenario


def test_five_instances_drilled_twice_pass_with_realistic_rtos_and_leave_nothing():
    figures = run_drill_scenario(instances=5, runs=2, seed=7)
    summary = figures.summary()
    assert summary["drills"] == summary["passed"] == 10
    assert summary["leftovers"] == 0 and figures.leftovers_after_runs == [[], []]
    # An RTO is at least the launch and the status checks, and the drill stops polling soon after both.
    least = INSTANCE_PENDING_S[0] + STATUS_INITIALIZING_S[0]
    most = INSTANCE_PENDING_S[1] + STATUS_INITIALIZING_S[1] + 15 + 60  # image, plus the poll delays
    assert all(least <= rto <= most for rto in figures.rto), figures.rto
    assert summary["rto_p50_s"] <= summary["rto_p95_s"]
    assert set(summary["stage_p50_s"]) == {
        "register_image",
        "launch_instance",
        "wait_instance_running",
        "wait_status_checks",
    }
    # The second week drills the same instances again, oldest drilled first.
    first, second = figures.reports
    assert sorted(d["instance_id"] for d in first["drills"]) == sorted(
        d["instance_id"] for d in second["drills"]
    )
    assert second["overdue"] == 0
    calls = summary["ec2_calls_by_operation"]
    assert calls["run_instances"] == calls["register_image"] == calls["terminate_instances"] == 10


def test_the_same_seed_gives_the_same_figures():
    a = run_drill_scenario(instances=3, runs=1, seed=3).summary()
    b = run_drill_scenario(instances=3, runs=1, seed=3).summary()
    assert a == b


def test_drills_on_shrunk_ec2_buckets_are_throttled_on_the_compute_calls_too_and_still_pass():
    # 2 % of EC2's documented buckets: DescribeInstances and DescribeImages hold 2 tokens, 0.4 a second.
    figures = run_drill_scenario(instances=3, runs=2, seed=3, api_rate_scale=0.02)
    summary = figures.summary()
    assert summary["drills"] == summary["passed"] == 6 and summary["leftovers"] == 0
    throttled = summary["ec2_throttled_by_action"]
    assert throttled["DescribeInstances"] > 0 and throttled["DescribeImages"] > 0  # compute.py's, via send()
    requests, calls = summary["ec2_requests_by_action"], summary["ec2_calls_by_operation"]
    # EC2 saw every call the product made and every retry of a throttled one.
    assert requests["RunInstances"] == calls["run_instances"] + throttled.get("RunInstances", 0)
    assert requests["DescribeImages"] == calls["describe_images"] + throttled["DescribeImages"]


def test_with_ec2s_own_buckets_every_drill_call_is_one_request():
    summary = run_drill_scenario(instances=3, runs=1, seed=3).summary()
    assert summary["ec2_throttled_by_action"] == {}
    calls = {
        "".join(p.title() for p in k.split("_")): n for k, n in summary["ec2_calls_by_operation"].items()
    }
    assert summary["ec2_requests_by_action"] == calls
