"""A full-instance restore on the simulation: realistic launch and status-check times, eventual consistency,
no call to the primary region, one instance and no image left, the calls it costs."""

from __future__ import annotations

from smart_vault.sim import compute
from smart_vault.sim.restore_scenario import run_restore_scenario


def test_a_full_instance_restore_in_the_dr_region_on_the_simulation():
    summary = run_restore_scenario(restores=3, volumes=3, seed=7)
    one = summary["one_restore"]
    # Running after 30..60 s, status checks ok 2..4 min later: the RTO lies within what the model allows.
    low = compute.INSTANCE_PENDING_S[0] + compute.STATUS_INITIALIZING_S[0]
    high = compute.IMAGE_PENDING_S[1] + compute.INSTANCE_PENDING_S[1] + compute.STATUS_INITIALIZING_S[1] + 30
    assert low <= summary["rto_p50_s"] <= summary["rto_p95_s"] <= high
    assert list(one["steps_s"]) == [
        "register_image",
        "launch_instance",
        "wait_instance_running",
        "wait_status_checks",
        "deregister_image",
    ]
    calls = one["ec2_calls_by_operation"]
    assert (calls["register_image"], calls["run_instances"], calls["deregister_image"]) == (1, 1, 1)
    assert one["volumes"] == 3 and one["images_left"] == []
    assert summary["primary_region_calls"] == 0 and summary["images_left"] == 0
    # Polling stays cheap: about one status read per 10 s of waiting.
    assert one["ec2_calls"] <= 10 + one["rto_s"] / 5
