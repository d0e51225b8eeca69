"""The recorder behind tests/iam: which Lambda function made an AWS call, found on the Python stack."""

from __future__ import annotations

import json
import sys

import boto3
import pytest

import support.aws_call_recorder as recorder


def in_module(module: str, source: str) -> dict:
    """Run `source` as if it were code of `module` (its frames carry that module name)."""
    namespace: dict = {"__name__": module, "sys": sys, "recorder": recorder}
    exec(compile(source, f"<{module}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    "module,function",
    [
        ("backup", "backup"),
        ("backup.run", "backup"),
        # (v3) shared with the vault function: the caller further out decides (backup.run, vault.reconcile)
        ("backup.snapshots", None),
        ("backup.prune", None),
        ("vault.copies", "vault"),
        ("restore.checks", "restore_api"),
        ("restore.engine.lookups", None),
        ("restore.worker", "restore_worker"),
        ("restore.jobs", None),
        ("notify", None),
        ("local.gateway", recorder.NOT_A_FUNCTION),
        ("cli.main", recorder.NOT_A_FUNCTION),
        ("brand_new_module", recorder.UNMAPPED),
    ],
)
def test_modules_map_to_their_function(module, function):
    assert recorder.function_of_module(module) == function


def test_shared_modules_let_their_caller_decide():
    shared = in_module(
        "smart_vault.restore.jobs", "def save():\n    return recorder.calling_function(sys._getframe())\n"
    )
    worker = in_module("smart_vault.restore_worker", "def run(save):\n    return save()\n")
    assert worker["run"](shared["save"]) == ("restore_worker", "smart_vault.restore_worker")


def test_the_restore_engine_run_by_the_drill_calls_as_the_drill():
    """drill.one -> restore.engine.teardown -> restore.engine.lookups: the engine is shared, the drill
    function calls."""
    steps = in_module(
        "smart_vault.restore.engine.lookups",
        "def tagged():\n    return recorder.calling_function(sys._getframe())\n",
    )
    engine = in_module("smart_vault.restore.engine.teardown", "def tear_down(steps):\n    return steps()\n")
    drill = in_module("smart_vault.drill.one", "def drill_one(engine, steps):\n    return engine(steps)\n")
    assert drill["drill_one"](engine["tear_down"], steps["tagged"]) == ("drill", "smart_vault.drill.one")
    worker = in_module("smart_vault.restore.worker", "def run(steps):\n    return steps()\n")
    assert worker["run"](steps["tagged"]) == ("restore_worker", "smart_vault.restore.worker")


def test_calls_outside_lambda_code_belong_to_no_function():
    assert recorder.calling_function(sys._getframe()) == (None, "")
    local = in_module(
        "smart_vault.local.stack", "def up():\n    return recorder.calling_function(sys._getframe())\n"
    )
    assert local["up"]() == (None, "smart_vault.local.stack")


def test_an_unknown_module_is_reported_by_name():
    new = in_module(
        "smart_vault.copies", "def go():\n    return recorder.calling_function(sys._getframe())\n"
    )
    assert new["go"]() == (recorder.UNMAPPED, "smart_vault.copies")


def test_recording_writes_each_operation_once_per_function(tmp_path, moto_aws):
    code = in_module("smart_vault.backup", "def run(ec2):\n    ec2.describe_snapshots(OwnerIds=['self'])\n")
    with recorder.recording(str(tmp_path)):
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        code["run"](ec2)
        code["run"](ec2)
        ec2.describe_instances()  # test code itself: not a Lambda's call
    (path,) = tmp_path.glob("calls-*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "function": "backup",
            "service": "ec2",
            "operation": "DescribeSnapshots",
            "region": "eu-west-1",
            "module": "smart_vault.backup",
        }
    ]


def test_clients_created_after_recording_are_not_hooked(tmp_path, moto_aws):
    with recorder.recording(str(tmp_path)):
        pass
    code = in_module("smart_vault.backup", "def run(ec2):\n    ec2.describe_snapshots(OwnerIds=['self'])\n")
    code["run"](boto3.client("ec2", region_name="eu-west-1"))
    assert list(tmp_path.glob("calls-*.jsonl")) == []
