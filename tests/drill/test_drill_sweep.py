"""The sweep at the start of every drill run (smart_vault.drill.sweep) on moto: a drill killed before its teardown
(Lambda ended the invocation right after the launch) leaves its instance, temporary AMI and volumes; the next
run sweeps them once the drill can no longer be running, and not before; a restore by the restore API is never
touched; a removal or a listing that fails is reported, and the run's drills still run. Every test asserts what
EC2 then holds. Time moves with freezegun (EC2's creation times and the run's clock alike)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from freezegun import freeze_time

from smart_vault import aws
from smart_vault.drill import handler
from smart_vault.drill import sweep as sweep_module
from smart_vault.drill.sweep import SWEEP_AFTER
from support.drill_world import (
    REGION,
    drill_context,
    drill_resources,
    notifications,
    scheduled_event,
    setup_world,
)
from support.injection import Fault, WorkerKilled
from support.logs import emf_metrics

LONG_ENOUGH = SWEEP_AFTER + timedelta(minutes=1)
TOO_SOON = SWEEP_AFTER - timedelta(minutes=1)
DRILL_TAG = "tag:smart-vault:drill-id"


@pytest.fixture
def world(moto_aws, monkeypatch, faults):
    """Two protected instances, one drill per run; every client the product makes is hooked by `faults`."""
    built = setup_world(monkeypatch, count=2)
    monkeypatch.setenv("DRILL_MAX_INSTANCES", "1")
    return built


@pytest.fixture
def frozen():
    with freeze_time(datetime.now(UTC), tick=True) as clock:
        yield clock


def run() -> dict[str, Any]:
    return handler(scheduled_event(), drill_context())


def killed_drill(faults) -> str:
    """A drill run that Lambda ends right after its drill launched the instance: the drill's id."""
    before = set(drill_ids())
    faults.interrupt("ec2", "RunInstances", after=True)
    with pytest.raises(WorkerKilled):
        run()
    [drill_id] = set(drill_ids()) - before
    return drill_id


def drill_ids() -> list[str]:
    ec2 = boto3.client("ec2", REGION)
    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["smart-vault:drill-id"]}]
    )
    return [t["Value"] for i in images["Images"] for t in i["Tags"] if t["Key"] == "smart-vault:drill-id"]


def ec2_state(tag: str, value: str) -> dict[str, Any]:
    """What EC2 holds of the resources tagged `tag` = `value`: instance states, volume states, image states."""
    ec2 = boto3.client("ec2", REGION)
    filters = [{"Name": f"tag:{tag}", "Values": [value]}]
    return {
        "instances": sorted(
            (i["InstanceId"], i["State"]["Name"])
            for r in ec2.describe_instances(Filters=filters)["Reservations"]
            for i in r["Instances"]
        ),
        "volumes": sorted(
            (v["VolumeId"], v["State"]) for v in ec2.describe_volumes(Filters=filters)["Volumes"]
        ),
        "images": sorted(
            (i["ImageId"], i["State"])
            for i in ec2.describe_images(Owners=["self"], Filters=filters)["Images"]
        ),
    }


def left_by(drill_id: str) -> dict[str, Any]:
    return ec2_state("smart-vault:drill-id", drill_id)


def assert_killed_drill_left_everything(state: dict[str, Any]) -> None:
    assert [s for _, s in state["instances"]] == ["running"]
    assert [s for _, s in state["images"]] == ["available"]
    assert len(state["volumes"]) == 2 and {s for _, s in state["volumes"]} == {"in-use"}


def resource_ids(state: dict[str, Any]) -> list[str]:
    return sorted(i for kind in ("instances", "volumes", "images") for i, _ in state[kind])


def recovery_point_snapshots(world) -> list[str]:
    ec2 = boto3.client("ec2", REGION)
    ids = [s for p in world.protected for s in p.snapshot_ids]
    return [s["State"] for s in ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]]


# ------------------------------------------------------------------------------------------ the sweep


def test_the_next_run_after_the_bound_sweeps_what_a_killed_drill_left_and_reports_it(
    world, faults, frozen, capsys, monkeypatch
):
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    drill_id = killed_drill(faults)
    left = left_by(drill_id)
    assert_killed_drill_left_everything(left)
    frozen.tick(LONG_ENOUGH)
    capsys.readouterr()
    report = run()

    # Instance terminated, temporary AMI deregistered, volumes deleted: nothing of the drill is left.
    assert drill_resources(drill_id) == []
    after = left_by(drill_id)
    assert {s for _, s in after["instances"]} == {"terminated"} and after["images"] == []
    assert {s for _, s in after["volumes"]} <= {"deleting", "deleted"}
    assert recovery_point_snapshots(world) == ["completed"] * 4  # the snapshots behind the AMI stay
    [swept] = report["sweep"]["swept"]
    assert swept["drill_id"] == drill_id and swept["removed"] == resource_ids(left) and swept["left"] == []
    assert report["sweep"]["recent"] == report["sweep"]["deferred"] == [] and report["sweep"]["error"] is None
    # The run drilled as always, and its own drill is gone again too.
    assert report["status"] == "PASSED" and [d["torn_down"] for d in report["drills"]] == [True]
    assert drill_resources() == []
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["DrillLeftoversSwept"] == [(4, {"Region": REGION})]
    assert metrics["DrillLeftovers"] == [(0, {"Region": REGION})]
    [message] = notifications(world.queue_url)  # the killed run published nothing
    assert json.loads(message["Message"])["sweep"] == report["sweep"]


def test_a_run_before_the_bound_leaves_a_drill_that_may_still_be_running(world, faults, frozen):
    drill_id = killed_drill(faults)
    left = left_by(drill_id)

    frozen.tick(TOO_SOON)
    report = run()

    assert left_by(drill_id) == left  # untouched: for all this run knows, that drill is still running
    assert report["sweep"]["swept"] == []
    assert [r["drill_id"] for r in report["sweep"]["recent"]] == [drill_id]
    assert report["sweep"]["recent"][0]["resources"] == resource_ids(left)
    assert report["status"] == "PASSED"

    # A dry run changes nothing, even past the bound; the next real run sweeps.
    frozen.tick(timedelta(minutes=2))
    assert handler({"dry_run": True}, drill_context())["sweep"] is None
    assert left_by(drill_id) == left
    run()
    assert drill_resources(drill_id) == []


@contextmanager
def _steps_untimed() -> Iterator[None]:
    yield


class _Recorder:
    def step(self, name: str):
        return _steps_untimed()

    def save(self, **fields: Any) -> None:
        pass


def killed_restore(world, faults) -> str:
    """A full-instance restore by the restore engine as the restore API's worker runs it (a restore id, no
    drill id), killed right after its launch: its AMI, instance and volumes stay. The restore id."""
    from smart_vault.restore.engine import Deadline, InstancePlan, InstanceRestore

    point = world.protected[1]
    plan = InstancePlan(
        restore_id=str(uuid.uuid4()),
        region=REGION,
        backup_set_id=point.backup_set_id,
        subnet_id=world.subnet_id,
        availability_zone=f"{REGION}b",
        security_group_ids=(world.security_group_id,),
        instance_type="t3.small",
    )
    faults.interrupt("ec2", "RunInstances", after=True)
    with pytest.raises(WorkerKilled):
        InstanceRestore(aws.client("ec2", REGION), plan, _Recorder(), Deadline(600.0, 0.0)).execute()
    return plan.restore_id


def test_a_restore_by_the_restore_api_is_never_swept(world, faults, frozen):
    restore_id = killed_restore(world, faults)
    restored = ec2_state("smart-vault:restore-id", restore_id)
    assert_killed_drill_left_everything(restored)  # the same engine left the same things
    drill_id = killed_drill(faults)

    frozen.tick(timedelta(days=30))
    report = run()

    assert ec2_state("smart-vault:restore-id", restore_id) == restored
    assert drill_resources(drill_id) == []
    assert [s["drill_id"] for s in report["sweep"]["swept"]] == [drill_id]
    assert all(restore_id not in str(entry) for entry in report["sweep"].values() if entry)


def test_a_removal_that_fails_is_reported_the_drill_still_runs_and_the_next_run_sweeps_it(
    world, faults, frozen, engine_clock, capsys, monkeypatch
):
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    drill_id = killed_drill(faults)
    left = left_by(drill_id)
    [(stuck, _)] = left["images"]
    frozen.tick(LONG_ENOUGH)
    fault = faults.add(
        Fault(
            code="UnauthorizedOperation",
            service="ec2",
            operation="DeregisterImage",
            message="You are not authorized to perform this operation.",
            when=lambda call: stuck in call,
        )
    )
    capsys.readouterr()

    report = run()

    [swept] = report["sweep"]["swept"]
    assert swept["removed"] == [r for r in resource_ids(left) if r != stuck]
    assert swept["left"] == [stuck]
    [problem] = swept["problems"]  # readable, with EC2's reason
    assert stuck in problem and "UnauthorizedOperation" in problem and "An error occurred" not in problem
    assert report["status"] == "PASSED" and len(report["drills"]) == 1
    state = left_by(drill_id)
    assert {s for _, s in state["instances"]} == {"terminated"}
    assert {s for _, s in state["volumes"]} <= {"deleting", "deleted"}
    assert state["images"] == [(stuck, "available")]
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["DrillLeftovers"] == [(1, {"Region": REGION})]  # the drill-leftovers alarm fires
    assert metrics["DrillLeftoversSwept"] == [(3, {"Region": REGION})]

    faults.faults.remove(fault)
    report = run()
    assert [(s["drill_id"], s["removed"], s["left"]) for s in report["sweep"]["swept"]] == [
        (drill_id, [stuck], [])
    ]
    assert drill_resources(drill_id) == []


def test_a_listing_that_fails_is_reported_and_the_drills_still_run(world, faults, frozen):
    drill_id = killed_drill(faults)
    left = left_by(drill_id)
    frozen.tick(LONG_ENOUGH)
    # Only the sweep lists by the drill-id tag key.
    faults.add(
        Fault(
            code="InternalError",
            status=500,
            service="ec2",
            operation="DescribeVolumes",
            when=lambda c: "tag-key" in c,
        )
    )

    report = run()

    assert report["sweep"]["swept"] == [] and "could not be listed" in report["sweep"]["error"]
    assert "InternalError" in report["sweep"]["error"]
    assert report["status"] == "PASSED" and report["drills"][0]["torn_down"] is True
    assert left_by(drill_id) == left


def test_a_sweep_short_of_time_leaves_the_rest_to_the_next_run(
    world, faults, frozen, engine_clock, monkeypatch
):
    first = killed_drill(faults)
    frozen.tick(timedelta(minutes=1))
    second = killed_drill(faults)  # its run left the first alone: it might still have been running
    frozen.tick(LONG_ENOUGH)
    # One removal at a time; terminating the first drill's instance takes the sweep's whole time.
    monkeypatch.setattr(sweep_module, "SWEEP_PARALLEL", 1)
    terminations = []

    def slow_termination(**_: Any) -> None:
        terminations.append(1)
        if len(terminations) == 1:
            engine_clock.sleep(sweep_module.SWEEP_MAX_SECONDS)

    aws.client("ec2", REGION).meta.events.register("before-call.ec2.TerminateInstances", slow_termination)

    report = run()

    assert [s["drill_id"] for s in report["sweep"]["swept"]] == [first]  # the oldest first
    assert [d["drill_id"] for d in report["sweep"]["deferred"]] == [second]
    assert drill_resources(first) == []
    assert_killed_drill_left_everything(left_by(second))
    assert report["status"] == "PASSED"

    report = run()
    assert [s["drill_id"] for s in report["sweep"]["swept"]] == [second]
    assert drill_resources() == []


def test_a_sweep_that_breaks_counts_everything_as_left_and_the_drills_still_run(
    world, faults, frozen, monkeypatch
):
    from smart_vault.restore import engine

    drill_id = killed_drill(faults)
    left = left_by(drill_id)
    frozen.tick(LONG_ENOUGH)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a defect in the teardown")

    monkeypatch.setattr(engine, "tear_down_outcome", broken)

    report = run()

    [swept] = report["sweep"]["swept"]
    assert swept["removed"] == [] and swept["left"][:-1] == resource_ids(left)
    assert swept["problems"] == [f"the sweep of drill {drill_id} failed: a defect in the teardown"]
    assert report["status"] == "PASSED"
    assert left_by(drill_id) == left
