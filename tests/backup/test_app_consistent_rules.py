"""(v3) Application-consistent sets: the pure rules, the settings, the SSM model's limits and the run's time."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from smart_vault.backup.app_consistent import (
    MAX_TARGETS,
    ScriptResult,
    is_app_consistent_failure,
    pre_outcome,
    script_result,
    send_script,
    statuses_of,
)
from smart_vault.backup.app_consistent_lane import (
    BATCHES_IN_FLIGHT,
    LaneOutcome,
    Pipeline,
    app_consistent_figures,
    batch_seconds,
    lane_fits,
)
from smart_vault.backup.report import email_summary
from smart_vault.backup.retention import Snapshot
from smart_vault.config import BackupSettings
from smart_vault.errors import ConfigError
from smart_vault.sim.ssm import ScriptBehaviour, SsmModel

ENV = {
    "AWS_REGION": "eu-west-1",
    "SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
    "DR_REGION": "eu-central-1",
    "DR_KMS_KEY_ID": "alias/dr",
    "COPY_LEDGER_TABLE": "ledger",
}


def test_settings_defaults_and_bounds():
    settings = BackupSettings.from_env(ENV)
    assert settings.app_consistent_timeout_seconds == 60
    assert settings.app_consistent_on_failure == "crash-consistent"
    assert (
        BackupSettings.from_env({**ENV, "APP_CONSISTENT_ON_FAILURE": "Skip"}).app_consistent_on_failure
        == "skip"
    )
    for name, value in [
        ("APP_CONSISTENT_TIMEOUT_SECONDS", "9"),
        ("APP_CONSISTENT_TIMEOUT_SECONDS", "301"),
        ("APP_CONSISTENT_TIMEOUT_SECONDS", "sixty"),
        ("APP_CONSISTENT_ON_FAILURE", "fail"),
    ]:
        with pytest.raises(ConfigError) as excinfo:
            BackupSettings.from_env({**ENV, name: value})
        assert name in str(excinfo.value)


@pytest.mark.parametrize(
    ("status", "ok", "words"),
    [
        (("Success", "Success"), True, ""),
        (("Failed", "Failed"), False, "ended Failed"),
        (("TimedOut", "DeliveryTimedOut"), False, "ended TimedOut (DeliveryTimedOut)"),
        (("InProgress", "InProgress"), False, "did not finish within 60 s (last status InProgress)"),
        (None, False, "did not finish within 60 s"),
    ],
)
def test_script_result_of_an_invocation(status, ok, words):
    result = script_result("pre-script", status, 60, "doc")
    assert result.ok is ok
    assert words in result.reason
    assert result.sent  # listed or not, the command went out: the post-script must follow


def test_pre_outcome_under_both_settings():
    good, bad = ScriptResult(True, sent=True), ScriptResult(False, "pre-script of doc ended Failed", True)
    assert pre_outcome(good, "skip") == (True, True, "")
    assert pre_outcome(bad, "crash-consistent") == (True, False, "")
    take, flag, error = pre_outcome(bad, "skip")
    assert (take, flag) == (False, None)
    assert error.startswith("pre-script failed") and "ended Failed" in error
    assert is_app_consistent_failure(error)
    assert is_app_consistent_failure("tagging snap-1 failed: x; post-script failed on i-1: y")
    assert not is_app_consistent_failure("CreateSnapshots failed") and not is_app_consistent_failure(None)


def test_statuses_of_list_command_invocations_items():
    items = [
        {"InstanceId": "i-1", "Status": "Success", "StatusDetails": "Success"},
        {"InstanceId": "i-2", "Status": "InProgress"},
        {"Status": "Failed"},
    ]
    assert statuses_of(items) == {"i-1": ("Success", "Success"), "i-2": ("InProgress", "")}


def test_send_script_refuses_more_than_fifty_instances_before_any_call():
    class NoCalls:
        def send_command(self, **_):
            raise AssertionError("no call expected")

    with pytest.raises(ValueError, match=r"1\.\.50"):
        send_script(NoCalls(), "doc", "pre-script", [f"i-{n}" for n in range(MAX_TARGETS + 1)], "run", 60)


def test_the_model_enforces_what_ssm_documents():
    now = [0.0]
    model = SsmModel(clock=lambda: now[0], documents={"doc"})
    model.behaviour["i-gone"] = ScriptBehaviour(registered=False)
    cases = [
        ({"InstanceIds": [f"i-{n}" for n in range(51)]}, "ValidationException"),
        ({"DocumentName": "other"}, "InvalidDocument"),
        ({"Parameters": {"command": ["rm -rf /"]}}, "InvalidParameters"),
        ({"InstanceIds": ["i-1", "i-gone"]}, "InvalidInstanceId"),
        ({"TimeoutSeconds": 10}, "ValidationException"),
    ]
    for change, code in cases:
        params = {"DocumentName": "doc", "InstanceIds": ["i-1"], "Parameters": {"command": ["pre-script"]}}
        params["TimeoutSeconds"] = 60
        with pytest.raises(ClientError) as excinfo:
            model.send_command(**{**params, **change})
        assert excinfo.value.response["Error"]["Code"] == code
    # Its buckets throttle a burst (GUESS sizes), as SSM answers ThrottlingException.
    codes = set()
    for _ in range(40):
        try:
            model.list_command_invocations(CommandId="none-such")
        except ClientError as exc:
            codes.add(exc.response["Error"]["Code"])
    assert codes == {"InvalidCommandId", "ThrottlingException"}
    assert model.throttled["ListCommandInvocations"] == 40 - 20  # a bucket of 20, no time passed


def test_offline_agent_invocation_stays_pending_until_the_delivery_timeout():
    now = [0.0]
    model = SsmModel(clock=lambda: now[0], documents={"doc"})
    model.behaviour["i-off"] = ScriptBehaviour(online=False)
    command = model.send_command(
        DocumentName="doc", InstanceIds=["i-off"], Parameters={"command": ["pre-script"]}, TimeoutSeconds=30
    )["Command"]["CommandId"]
    now[0] = 29.0
    assert model.list_command_invocations(CommandId=command)["CommandInvocations"][0]["Status"] == "Pending"
    now[0] = 31.0
    item = model.list_command_invocations(CommandId=command)["CommandInvocations"][0]
    assert (item["Status"], item["StatusDetails"]) == ("TimedOut", "DeliveryTimedOut")


def test_lane_fits_what_is_left_of_the_invocation():
    per_batch = batch_seconds(60)
    assert per_batch == 60 + BATCHES_IN_FLIGHT * 50 / 5 + 5
    assert lane_fits(None, 0, 100, 60)  # no Lambda context: no deadline
    assert lane_fits(900, 120, 20, 60)  # 1,000 instances at the start of a 15-minute invocation
    assert not lane_fits(300, 75, 4, 60)  # two waves of batches no longer fit
    assert lane_fits(300, 75, 3, 60)


def snap(instance_id, flag):
    tags = {"smart-vault:app-consistent": flag} if flag else {}
    return Snapshot("snap-" + instance_id, "eu-west-1", "completed", None, tags=tags)  # type: ignore[arg-type]


def test_app_consistent_figures_count_this_and_earlier_invocations():
    covered = {"i-1": [snap("i-1", "true")], "i-2": [snap("i-2", "false")], "i-9": [snap("i-9", "true")]}
    results = [
        {
            "instance_id": "i-3",
            "backup_set_id": "",
            "snapshot_ids": [],
            "status": "failed",
            "error": "pre-script failed: x",
        },
        {"instance_id": "i-4", "backup_set_id": "", "snapshot_ids": [], "status": "ok", "error": None},
    ]
    lane = LaneOutcome(app_consistent={"i-4", "i-5"}, script_failures={"i-3", "i-6"})

    figures = app_consistent_figures(results, covered, lane, after="i-2")

    # i-9 is after the cursor (this invocation's own, counted through the lane) and not counted twice.
    assert figures == {"app_consistent_sets": 3, "app_consistent_failures": 3}


def test_email_summary_warns_that_an_application_may_still_be_frozen():
    report = {
        "run_id": "r",
        "dry_run": False,
        "status": "PARTIAL",
        "instances": [],
        "snapshots_created": [],
        "copies_started": [],
        "copies_deferred": 0,
        "deleted": [],
        "failures": [
            {"resource": "i-1", "error": "post-script failed on i-1: x; the application may still be frozen"}
        ],
    }
    text = email_summary(report, "eu-west-1", "eu-central-1")
    assert "WARNING: the post-script failed on i-1: the application may still be frozen." in text


def test_pipeline_lets_one_batch_take_its_sets_at_a_time_and_plain_instances_wait_for_it():
    pipeline = Pipeline()
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def batch(name: str) -> None:
        with pipeline.pre_script():
            pass
        with pipeline.taking_sets():
            order.append(f"{name} in")
            inside.set()
            release.wait(5)
            order.append(f"{name} out")

    first = threading.Thread(target=batch, args=("a",))
    first.start()
    inside.wait(5)
    plain = threading.Thread(target=lambda: (pipeline.yield_to_frozen(), order.append("plain")))
    plain.start()
    plain.join(0.2)
    assert order == ["a in"]  # the plain instance waits while a frozen batch takes its sets
    release.set()
    first.join(5)
    plain.join(5)
    assert order == ["a in", "a out", "plain"]
