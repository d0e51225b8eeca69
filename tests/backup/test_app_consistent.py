"""(v3) Application-consistent sets against moto, with Systems Manager answered by the SSM model.

The model (smart_vault.sim.ssm) runs scripts that take virtual time, fail, time out, or never reach an
agent that is offline; the product sleeps on the same virtual clock, so a 60 s timeout costs no real time.
"""

from __future__ import annotations

import json
import threading

import pytest

from smart_vault.backup import entry as backup
from smart_vault.sim.ssm import ScriptBehaviour, SsmModel
from support.backup_world import Inbox, backup_context, make_fleet, scheduled_event, tags_of
from support.ssm_world import ManualClock, install_ssm

DOC = "smart-vault-fsfreeze"
TAG = "smart-vault:app-consistent"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def model(clock):
    return SsmModel(clock=clock.monotonic, documents={DOC})


@pytest.fixture
def world(env, moto_aws, model, clock):
    return install_ssm(env, model, clock)


@pytest.fixture
def fleet(world):
    return make_fleet()


def scripted(fleet, label, volumes=1):
    return fleet.launch(label, {"Backup-Tier": "Gold", "Backup-Scripts": DOC}, volumes=volumes)


def plain(fleet, label):
    return fleet.launch(label, {"Backup-Tier": "Gold"})


def run(run_id="run-1"):
    return backup.handler(scheduled_event(run_id), backup_context())


def set_flags(fleet, instance_id):
    return {tags_of(s).get(TAG) for s in fleet.snapshots(**{"smart-vault:source-instance": instance_id})}


def metrics(capsys):
    """The metric values of the EMF documents the run printed."""
    found = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line:
            doc = json.loads(line)
            for name in ("AppConsistentSets", "AppConsistentFailures"):
                if name in doc:
                    value = doc[name]
                    found[name] = value[0] if isinstance(value, list) else value
    return found


def commands(model):
    return [(c["command"], sorted(c["InstanceIds"])) for c in model.sent]


def create_times(fleet, clock):
    """Virtual time of each instance's CreateSnapshots call."""
    times = {}

    def record(params, **_):
        times[params["InstanceSpecification"]["InstanceId"]] = clock.now

    fleet.ec2.meta.events.register("provide-client-params.ec2.CreateSnapshots", record)
    return times


def test_success_runs_pre_script_then_set_then_post_script_and_tags_the_set(fleet, model, clock, capsys):
    a = scripted(fleet, "db-a", volumes=2)
    b = scripted(fleet, "db-b")
    model.default = ScriptBehaviour(pre_seconds=3.0, post_seconds=1.0)
    created = create_times(fleet, clock)

    report = run()

    assert report["status"] == "SUCCEEDED"
    assert {i["status"] for i in report["instances"]} == {"ok"}
    assert set_flags(fleet, a) == {"true"} and set_flags(fleet, b) == {"true"}
    # One SendCommand per script for the whole batch, with command=pre-script / post-script.
    assert commands(model) == [("pre-script", sorted([a, b])), ("post-script", sorted([a, b]))]
    pre_end = max(f.since for fs in model.freezes.values() for f in fs)
    post_sent = model.sent[1]["at"]
    assert all(pre_end <= t <= post_sent for t in created.values())  # sets between the scripts
    assert all(f.thawed_by == "post-script" for fs in model.freezes.values() for f in fs)
    assert metrics(capsys) == {"AppConsistentSets": 2, "AppConsistentFailures": 0}


def test_polls_with_list_command_invocations_per_command_not_per_instance(fleet, model, world):
    for n in range(20):
        scripted(fleet, f"db-{n}")
    model.default = ScriptBehaviour(pre_seconds=12.0, post_seconds=0.5)

    run()

    assert "GetCommandInvocation" not in world.operations
    assert world.operations.count("SendCommand") == 2
    assert world.operations.count("DescribeInstanceInformation") == 1
    # About one poll a second of script for the whole batch of 20 (13 s of pre-script, ~2 s of post-script),
    # not one per instance.
    assert world.operations.count("ListCommandInvocations") <= 18


@pytest.mark.parametrize("failure", ["crash-consistent", "skip"])
def test_pre_script_failure(monkeypatch, fleet, model, capsys, failure):
    monkeypatch.setenv("APP_CONSISTENT_ON_FAILURE", failure)
    bad = scripted(fleet, "bad")
    good = scripted(fleet, "good")
    model.behaviour[bad] = ScriptBehaviour(pre_status="Failed")

    report = run()

    by_id = {i["instance_id"]: i for i in report["instances"]}
    assert set_flags(fleet, good) == {"true"}
    if failure == "crash-consistent":
        assert by_id[bad]["status"] == "ok"
        assert set_flags(fleet, bad) == {"false"}
        assert report["status"] == "SUCCEEDED"
    else:
        assert by_id[bad]["status"] == "failed"
        assert "pre-script failed" in by_id[bad]["error"] and "Failed" in by_id[bad]["error"]
        assert fleet.snapshots(**{"smart-vault:source-instance": bad}) == []
        assert report["status"] == "PARTIAL"
    # The post-script still goes to the failed instance: its script may have frozen something.
    assert commands(model)[1] == ("post-script", sorted([bad, good]))
    assert metrics(capsys) == {"AppConsistentSets": 1, "AppConsistentFailures": 1}


@pytest.mark.parametrize("failure", ["crash-consistent", "skip"])
def test_pre_script_timeout_is_a_failure_after_the_timeout_and_no_later(
    monkeypatch, fleet, model, clock, failure
):
    monkeypatch.setenv("APP_CONSISTENT_ON_FAILURE", failure)
    monkeypatch.setenv("APP_CONSISTENT_TIMEOUT_SECONDS", "20")
    slow = scripted(fleet, "slow")
    model.behaviour[slow] = ScriptBehaviour(pre_seconds=500.0)
    created = create_times(fleet, clock)
    start = clock.now

    report = run()

    result = report["instances"][0]
    if failure == "crash-consistent":
        assert result["status"] == "ok"
        assert set_flags(fleet, slow) == {"false"}
        assert 20 <= created[slow] - start <= 25  # the set waited the timeout, not the script
    else:
        assert result["status"] == "failed"
        assert "did not finish within 20 s" in result["error"]
        assert slow not in created


def test_post_script_failure_fails_the_instance_and_the_notification_says_it_may_be_frozen(
    fleet, model, world
):
    inbox = Inbox()
    stuck = scripted(fleet, "stuck")
    model.behaviour[stuck] = ScriptBehaviour(post_status="Failed")

    report = run()

    result = report["instances"][0]
    assert result["status"] == "failed"
    assert result["snapshot_ids"]  # the set was taken (and is app-consistent)
    assert set_flags(fleet, stuck) == {"true"}
    assert "post-script failed" in result["error"] and "may still be frozen" in result["error"]
    assert report["status"] == "PARTIAL"  # the set and its DR copy were made
    (message,) = inbox.messages()
    document = json.loads(message["Message"])
    assert any("may still be frozen" in f["error"] for f in document["failures"])


def test_agent_offline_is_a_pre_script_failure_at_once(monkeypatch, fleet, model, clock, world):
    monkeypatch.setenv("APP_CONSISTENT_TIMEOUT_SECONDS", "120")
    offline = scripted(fleet, "offline")
    unmanaged = scripted(fleet, "no-agent")
    model.behaviour[offline] = ScriptBehaviour(online=False)
    model.behaviour[unmanaged] = ScriptBehaviour(registered=False)
    start = clock.now

    report = run()

    assert {i["status"] for i in report["instances"]} == {"ok"}  # crash-consistent by default
    assert set_flags(fleet, offline) == {"false"} and set_flags(fleet, unmanaged) == {"false"}
    assert "SendCommand" not in world.operations  # no script for agents that cannot run it
    assert clock.now - start < 5  # and no waiting out the 120 s timeout


@pytest.mark.parametrize("on_failure", ["crash-consistent", "skip"])
def test_a_stopped_scripted_instance_is_backed_up_without_its_scripts(
    monkeypatch, fleet, model, world, on_failure
):
    """SSM runs nothing on a stopped instance (its agent is offline) and its disks are not being written: its
    set is taken as a plain one every run, instead of a pre-script failure (and, with `skip`, no backup at all
    for as long as it stays stopped)."""
    monkeypatch.setenv("APP_CONSISTENT_ON_FAILURE", on_failure)
    stopped = scripted(fleet, "stopped")
    running = scripted(fleet, "running")
    fleet.ec2.stop_instances(InstanceIds=[stopped])
    model.behaviour[stopped] = ScriptBehaviour(online=False)  # as Systems Manager sees a stopped instance

    report = run()

    assert {i["instance_id"]: i["status"] for i in report["instances"]} == {stopped: "ok", running: "ok"}
    assert set_flags(fleet, stopped) == {None}  # no scripts ran: no app-consistent claim either way
    assert set_flags(fleet, running) == {"true"}
    assert all(stopped not in ids for _, ids in commands(model))


def test_plain_instances_are_not_slowed_and_a_plain_run_makes_no_ssm_call(fleet, model, clock, world):
    first = [plain(fleet, f"web-{n}") for n in range(3)]
    db = scripted(fleet, "db")
    later = [plain(fleet, f"app-{n}") for n in range(3)]
    model.behaviour[db] = ScriptBehaviour(pre_seconds=40.0)
    created = create_times(fleet, clock)
    all_plain = threading.Event()
    fleet.ec2.meta.events.register(
        "after-call.ec2.CreateSnapshots",
        lambda **_: all_plain.set() if set(first + later) <= set(created) else None,
    )
    start = clock.now
    clock.hold(start + 30, all_plain)  # the pre-script cannot end before the plain sets were taken

    report = run()

    assert {i["status"] for i in report["instances"]} == {"ok"}
    assert not clock.held_too_long
    assert all(created[i] - start < 30 for i in first + later)
    assert created[db] - start >= 40
    assert set_flags(fleet, db) == {"true"}
    assert all(set_flags(fleet, i) == {None} for i in first + later)  # plain sets carry no such tag

    world.operations.clear()
    fleet.ec2.create_tags(Resources=[db], Tags=[{"Key": "Backup-Scripts", "Value": ""}])
    run("run-2")
    assert world.operations == []


def test_the_run_continues_when_more_scripts_would_not_fit_in_the_invocation(fleet, model):
    from datetime import UTC, datetime

    from smart_vault import aws
    from smart_vault.backup.run import Clients, Deadline, RunRequest, run_backup
    from smart_vault.config import BackupSettings
    from support.backup_world import DR_REGION, PRIMARY_REGION

    ids = sorted([scripted(fleet, "db-1"), scripted(fleet, "db-2")])
    clients = Clients(ec2=aws.client("ec2", PRIMARY_REGION), dr_ec2=aws.client("ec2", DR_REGION))
    # 200 s left: the first instance always goes (a run moves forward), a second batch wave would not fit.
    deadline = Deadline(backup_context(remaining_millis=200_000))

    result = run_backup(
        RunRequest("run-c", False), BackupSettings.from_env(), clients, datetime.now(UTC), None, deadline
    )

    assert result.continuation is not None and result.continuation.next_run.after == ids[0]
    assert [i["instance_id"] for i in result.report["instances"]] == [ids[0]]
    assert (
        set_flags(fleet, ids[0]) == {"true"}
        and fleet.snapshots(**{"smart-vault:source-instance": ids[1]}) == []
    )
