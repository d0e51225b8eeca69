"""Drills under faults: RunInstances answering InsufficientInstanceCapacity for one instance's drill."""

from __future__ import annotations

import pytest

from smart_vault.drill import handler
from smart_vault.restore.engine import base as engine_base
from support.drill_world import (
    drill_context,
    drill_resources,
    every_volume_and_image,
    scheduled_event,
    setup_world,
)
from support.injection import Fault


@pytest.fixture
def drill_world(moto_aws, monkeypatch, faults):
    return setup_world(monkeypatch, count=3)


def test_insufficient_capacity_fails_that_drill_readably_tears_it_down_and_the_others_pass(
    drill_world, faults, monkeypatch
):
    # The launch asks again twice (the engine's capacity retries, without their waits here), then gives up.
    monkeypatch.setattr(engine_base, "CAPACITY_RETRY_SECONDS", (0.0, 0.0))
    victim = drill_world.protected[1]
    volumes_before, images_before = every_volume_and_image()
    # The drill's RunInstances tags the instance with its source instance id: only the victim's launch fails.
    faults.add(
        Fault(
            code="InsufficientInstanceCapacity",
            service="ec2",
            operation="RunInstances",
            message="We currently do not have sufficient t3.small capacity in the Availability Zone you requested.",
            when=lambda call: victim.instance_id in call,
        )
    )

    report = handler(scheduled_event(), drill_context())

    assert faults.count("InsufficientInstanceCapacity") == 3
    assert report["status"] == "PARTIAL"
    by_instance = {d["instance_id"]: d for d in report["drills"]}
    failed = by_instance.pop(victim.instance_id)
    assert failed["status"] == "FAILED" and failed["rto_seconds"] is None
    assert failed["error"].startswith(
        "launch_instance failed: InsufficientInstanceCapacity: We currently do not have"
    )
    assert "An error occurred" not in failed["error"] and "Traceback" not in failed["error"]
    assert failed["torn_down"] is True and failed["leftovers"] == []
    assert [d["status"] for d in by_instance.values()] == ["PASSED", "PASSED"]
    assert drill_resources() == []
    assert every_volume_and_image() == (volumes_before, images_before)  # the temporary AMI went too
