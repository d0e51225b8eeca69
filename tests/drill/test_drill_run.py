"""The drill handler on moto: selection, dry run, manual list, passed drills with their RTO and stages,
teardown that leaves nothing in every failure, the source untouched, validation, the report, the metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from smart_vault import aws
from smart_vault.drill import entry, handler
from smart_vault.drill.results import DrillResultStore
from support.drill_world import (
    REGION,
    RESULTS_TABLE,
    VALIDATION_FUNCTION,
    drill_context,
    drill_resources,
    every_volume_and_image,
    notifications,
    protect,
    register_image,
    scheduled_event,
)
from support.logs import emf_metrics

STEPS = ["register_image", "launch_instance", "wait_instance_running", "wait_status_checks"]


def store() -> DrillResultStore:
    return DrillResultStore(RESULTS_TABLE, boto3.client("dynamodb", REGION))


def source_state(world) -> dict:
    """The source instances and their snapshots with tags: what a drill must never change."""
    ec2 = world.ec2()
    ids = [p.instance_id for p in world.protected]
    instances = {
        i["InstanceId"]: (i["State"]["Name"], sorted(map(str, i.get("Tags", []))))
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    snapshot_ids = [s for p in world.protected for s in p.snapshot_ids]
    snapshots = {
        s["SnapshotId"]: (s["State"], sorted(map(str, s.get("Tags", []))))
        for s in ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
    }
    return {"instances": instances, "snapshots": snapshots}


def run(event=None, remaining_ms=900_000):
    return handler(event or scheduled_event(), drill_context(remaining_ms))


def test_a_scheduled_run_drills_the_never_drilled_first_up_to_the_limit_and_counts_overdue(
    world, monkeypatch
):
    monkeypatch.setenv("DRILL_MAX_INSTANCES", "2")
    first = run()
    assert first["status"] == "PASSED"
    drilled = [d["instance_id"] for d in first["drills"]]
    # Never drilled, all three: ties go by instance id, so the plan is stable.
    assert drilled == sorted(p.instance_id for p in world.protected)[:2]
    assert first["overdue"] == 1  # the third has a complete recovery point and was never drilled

    # The first run's two drills ran side by side: which one started first is the threads' order, read back
    # from what the run recorded (the selection's input), not assumed from the plan's order.
    started = store().last_drilled()
    longest_ago = min(drilled, key=lambda instance_id: (started[instance_id], instance_id))
    second = run()
    # The one never drilled goes first, then the one drilled longest ago.
    [never] = {p.instance_id for p in world.protected} - set(drilled)
    assert [d["instance_id"] for d in second["drills"]] == [never, longest_ago]
    assert second["overdue"] == 0
    assert len(store().latest()) == 3


def test_a_passed_drill_has_its_rto_stages_and_leaves_nothing(world):
    before = source_state(world)
    volumes_before, images_before = every_volume_and_image()

    report = run()

    assert report["status"] == "PASSED"
    assert report["region"] == REGION and report["dry_run"] is False
    assert len(report["drills"]) == 3
    for drill in report["drills"]:
        assert drill["status"] == "PASSED", drill["error"]
        assert list(drill["stages"]) == STEPS
        assert (
            drill["rto_seconds"] is not None and drill["rto_seconds"] >= sum(drill["stages"].values()) - 0.01
        )
        assert drill["torn_down"] is True and drill["leftovers"] == []
        assert drill["error"] is None and drill["validation"] is None
        assert drill["region"] == REGION
        point = next(p for p in world.protected if p.instance_id == drill["instance_id"])
        assert drill["backup_set_id"] == point.backup_set_id and drill["name"] == point.name
    assert drill_resources() == []
    assert every_volume_and_image() == (volumes_before, images_before)
    assert source_state(world) == before
    history = store().history(world.protected[0].instance_id)
    assert [h["drill_id"] for h in history] == [
        d["drill_id"] for d in report["drills"] if d["instance_id"] == world.protected[0].instance_id
    ]


def test_a_dry_run_lists_the_plan_and_restores_nothing(world):
    volumes_before, images_before = every_volume_and_image()
    report = run({"dry_run": True})
    assert report["dry_run"] is True and report["drills"] == []
    assert sorted(p["backup_set_id"] for p in report["planned"]) == sorted(
        p.backup_set_id for p in world.protected
    )
    assert report["overdue"] == 3
    assert every_volume_and_image() == (volumes_before, images_before)
    assert store().latest() == []
    [message] = notifications(world.queue_url)
    assert "dry run" in message["Subject"]


def test_a_manual_run_drills_exactly_the_named_instances(world):
    target = world.protected[1]
    report = run({"instance_ids": [target.instance_id, "i-0000000000000000f"]})
    assert [d["instance_id"] for d in report["drills"]] == [target.instance_id]
    assert report["skipped"] == [
        {"instance_id": "i-0000000000000000f", "reason": "no complete recovery point in this region"}
    ]
    assert report["overdue"] == 2


def test_incomplete_sets_and_other_platforms_are_not_drilled(world):
    ec2 = world.ec2()
    image = register_image(ec2, "win", root_device="/dev/sda1")
    windows = protect(
        ec2, world.source_subnet_id, image, "win-1", platform="Windows", root_device="/dev/sda1"
    )
    partial = protect(ec2, world.source_subnet_id, image, "half-1", complete=False, root_device="/dev/sda1")
    report = run()
    drilled = {d["instance_id"] for d in report["drills"]}
    assert windows.instance_id not in drilled and partial.instance_id not in drilled
    assert {
        "instance_id": windows.instance_id,
        "reason": "platform Windows cannot be launched from its snapshots in a drill",
    } in report["skipped"]
    assert report["status"] == "PASSED"


def test_a_point_whose_platform_was_not_recorded_is_not_drilled(world):
    """As a restore without ami_id refuses it: an AMI registered from the snapshots of, say, a Windows
    instance would launch without its licence."""
    target = world.protected[0]
    world.ec2().delete_tags(Resources=target.snapshot_ids, Tags=[{"Key": "smart-vault:platform"}])
    report = run()
    assert target.instance_id not in {d["instance_id"] for d in report["drills"]}
    assert {
        "instance_id": target.instance_id,
        "reason": "a platform that was not recorded cannot be launched from its snapshots in a drill",
    } in report["skipped"]


def test_an_invalid_manual_event_is_answered_readably(world):
    answer = run({"instance_ids": ["web-1"]})
    assert answer["error"] == "ValidationError" and answer["field"] == "instance_ids"
    assert run({"dryrun": True})["field"] == "dryrun"


def test_the_validation_function_gets_the_instance_and_its_pass_is_recorded(world, monkeypatch):
    monkeypatch.setenv("DRILL_VALIDATION_FUNCTION", VALIDATION_FUNCTION)
    monkeypatch.setenv("DRILL_MAX_INSTANCES", "1")
    report = run()
    [drill] = report["drills"]
    assert drill["status"] == "PASSED"
    assert drill["validation"] == {"passed": True, "detail": "HTTP 200 from /health"}
    assert list(drill["stages"]) == [*STEPS, "validation"]
    [call] = world.validation.invocations
    assert call["FunctionName"] == VALIDATION_FUNCTION and call["InvocationType"] == "RequestResponse"
    [payload] = world.validation.payloads()
    assert set(payload) == {"drill_id", "instance_id", "private_ip", "source_instance_id", "region"}
    assert payload["drill_id"] == drill["drill_id"] and payload["source_instance_id"] == drill["instance_id"]
    assert payload["instance_id"].startswith("i-") and payload["instance_id"] != drill["instance_id"]
    assert payload["private_ip"] and payload["region"] == REGION
    assert drill_resources() == []


@pytest.mark.parametrize(
    ("answer", "function_error", "expected"),
    [
        ({"passed": False, "detail": "port 443 refused"}, None, "validation failed: port 443 refused"),
        (
            {"errorMessage": "boom", "errorType": "RuntimeError"},
            "Unhandled",
            f"the validation function {VALIDATION_FUNCTION} failed: RuntimeError: boom",
        ),
        ({"ok": True}, None, 'not {"passed": bool'),
    ],
)
def test_a_failed_validation_fails_the_drill_readably_and_tears_down(
    world, monkeypatch, answer, function_error, expected
):
    monkeypatch.setenv("DRILL_VALIDATION_FUNCTION", VALIDATION_FUNCTION)
    world.validation.answer, world.validation.function_error = answer, function_error
    volumes_before, images_before = every_volume_and_image()
    report = run()
    assert report["status"] == "FAILED"
    for drill in report["drills"]:
        assert drill["status"] == "FAILED" and drill["rto_seconds"] is None
        assert expected in drill["error"]
        assert drill["validation"]["passed"] is False
        assert drill["torn_down"] is True and drill["leftovers"] == []
    assert drill_resources() == []
    assert every_volume_and_image() == (volumes_before, images_before)


def test_a_restore_failing_midway_is_torn_down_and_the_others_pass(world, faults):
    from support.injection import Fault

    victim = world.protected[0]
    before = source_state(world)
    volumes_before, images_before = every_volume_and_image()
    # The status checks of the victim's drill instance never answer: its image and instance exist by then.
    faults.add(
        Fault(code="UnauthorizedOperation", service="ec2", operation="DescribeInstanceStatus", max_faults=1)
    )
    report = run()
    failed = [d for d in report["drills"] if d["status"] == "FAILED"]
    assert len(failed) == 1 and report["status"] == "PARTIAL"
    [drill] = failed
    assert "wait_status_checks" in drill["error"] and "UnauthorizedOperation" in drill["error"]
    assert "Traceback" not in drill["error"] and "An error occurred" not in drill["error"]
    assert drill["torn_down"] is True and drill["leftovers"] == [] and drill["rto_seconds"] is None
    assert set(drill["stages"]) >= {"register_image", "launch_instance"}
    assert drill_resources() == []
    assert every_volume_and_image() == (volumes_before, images_before)
    assert source_state(world) == before
    assert victim  # every source instance is still there (source_state read them all)


class JumpingClock:
    """A monotonic clock whose time jumps when the status checks are polled (a wait that takes minutes)."""

    def __init__(self, jump: float):
        self.now, self.jump = 1000.0, jump

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def on_status_poll(self, **_):
        self.now += self.jump


def test_the_time_limit_fails_the_drill_and_teardown_still_runs(world, monkeypatch):
    monkeypatch.setenv("DRILL_TIMEOUT_SECONDS", "120")
    monkeypatch.setenv("DRILL_MAX_INSTANCES", "1")
    clock = JumpingClock(jump=400.0)
    aws.set_clock(clock.monotonic, clock.sleep)
    try:
        ec2 = aws.client("ec2", REGION)
        ec2.meta.events.register("before-call.ec2.DescribeInstanceStatus", clock.on_status_poll)
        report = run()
    finally:
        aws.set_clock(None, None)
    [drill] = report["drills"]
    assert drill["status"] == "FAILED" and drill["rto_seconds"] is None
    assert "time limit reached (DRILL_TIMEOUT_SECONDS=120)" in drill["error"]
    assert drill["torn_down"] is True and drill["leftovers"] == []
    assert drill_resources() == []


def test_one_report_is_published_with_the_drill_document(world):
    report = run()
    [message] = notifications(world.queue_url)
    assert message["Subject"].startswith("Smart Vault drill ") and message["Subject"].endswith(": PASSED")
    assert message["MessageAttributes"]["event_type"]["Value"] == "drill.completed"
    assert json.loads(message["Message"]) == json.loads(json.dumps(report))


def emitted_metrics(capsys) -> dict[str, list]:
    return emf_metrics(capsys.readouterr().out)


def test_the_metrics_carry_the_region(world, monkeypatch, capsys, faults):
    from support.injection import Fault

    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    faults.add(
        Fault(code="UnauthorizedOperation", service="ec2", operation="DescribeInstanceStatus", max_faults=1)
    )
    capsys.readouterr()
    report = run()
    metrics = emitted_metrics(capsys)
    region = {"Region": REGION}
    assert metrics["DrillsPassed"] == [(2, region)]
    assert metrics["DrillsFailed"] == [(1, region)]
    assert metrics["DrillLeftovers"] == [(0, region)]
    assert metrics["DrillOverdue"] == [(report["overdue"], region)]
    rtos = sorted(d["rto_seconds"] for d in report["drills"] if d["status"] == "PASSED")
    assert sorted(v for v, _ in metrics["DrillRtoSeconds"]) == pytest.approx(rtos)


def test_the_rotation_makes_old_drills_overdue(world, monkeypatch):
    old = datetime.now(UTC) - timedelta(days=8)
    results = store()
    for point in world.protected:
        results.put(
            {
                "drill_id": f"old-{point.instance_id}",
                "instance_id": point.instance_id,
                "started_at": old.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    report = run({"dry_run": True})
    assert report["overdue"] == 3
    monkeypatch.setenv("DRILL_ROTATION_DAYS", "9")
    assert run({"dry_run": True})["overdue"] == 0


def test_nothing_to_drill(moto_aws, monkeypatch):
    from support.drill_world import setup_world

    setup_world(monkeypatch, count=0)
    report = run()
    assert report["status"] == "NOTHING_TO_DRILL" and report["drills"] == [] and report["overdue"] == 0


def test_importing_the_handler_loads_neither_boto3_nor_the_restore_engine():
    # Cold start: boto3 comes with the first client, the engine with the first drill (a dry run needs neither).
    import os
    import subprocess  # nosec B404 - our own interpreter, a fixed command
    import sys
    from pathlib import Path

    code = (
        "import sys, smart_vault.drill; "
        "print(sorted(m for m in ('boto3', 'smart_vault.restore.engine', 'aws_xray_sdk') if m in sys.modules))"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run(  # nosec B603 - our own interpreter and a fixed command
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    ).stdout
    assert out.strip() == "[]"
    assert entry.handler is handler


def test_a_drill_run_under_a_ticking_frozen_clock_reports_a_sane_rto(world):
    """freezegun patches `time.monotonic` and answers the frozen time on the main thread but the real one on
    the drill's worker threads: durations must come from one clock (issue 19: "the drill took 1796604177 s")."""
    from freezegun import freeze_time

    with freeze_time(datetime.now(UTC), tick=True):
        report = run()

    assert report["status"] == "PASSED", [d["error"] for d in report["drills"]]
    for drill in report["drills"]:
        assert drill["status"] == "PASSED", drill["error"]
        assert 0 < drill["rto_seconds"] < 60, drill
        assert all(0 <= seconds < 60 for seconds in drill["stages"].values()), drill["stages"]
