"""`smart-vault drills` and `smart-vault drill run`: the table, the region check, the synchronous invoke and
its failures, the exit codes, and the commands docs/drills.md shows."""

from __future__ import annotations

import io
import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smart_vault.cli import drills
from smart_vault.cli.client import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, CliError
from smart_vault.cli.main import build_parser, main
from support.drill_world import swept_drill

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
PASSED = {
    "drill_id": "d-1",
    "instance_id": "i-0123456789abcdef0",
    "name": "web-1",
    "region": "eu-central-1",
    "started_at": "2026-12-06T03:00:00Z",
    "status": "PASSED",
    "rto_seconds": 243.4,
    "stages": {"register_image": 11.8, "wait_instance_running": 45.2, "wait_status_checks": 185.7},
    "torn_down": True,
    "leftovers": [],
    "validation": None,
    "error": None,
}
FAILED = {
    **PASSED,
    "drill_id": "d-2",
    "instance_id": "i-0123456789abcdef1",
    "name": None,
    "status": "FAILED",
    "rto_seconds": None,
    "stages": {"register_image": 9.0},
    "torn_down": False,
    "leftovers": ["i-0fedcba9876543210"],
    "error": "launch_instance failed: InsufficientInstanceCapacity: none left",
}


def test_the_table_shows_when_status_rto_slowest_stage_and_leftovers():
    table = drills.drill_table([PASSED, FAILED], NOW).splitlines()
    assert table[0].split() == ["INSTANCE", "NAME", "WHEN", "STATUS", "RTO", "SLOWEST", "STAGE", "LEFTOVERS"]
    assert re.search(
        r"i-0123456789abcdef0\s+web-1\s+2026-12-06T03:00:00Z \(1h.*\)\s+PASSED\s+243s\s+wait_status_checks 186s\s+0$",
        table[2],
    )
    assert re.search(r"FAILED\s+-\s+register_image 9.0s\s+i-0fedcba9876543210$", table[3])
    assert drills.drill_table([]) == "no drill results"


def test_the_report_text_says_teardown_validation_and_errors():
    text = drills.report_text(
        {
            "drill_run_id": "r",
            "region": "eu-central-1",
            "dry_run": False,
            "status": "PARTIAL",
            "drills": [PASSED, FAILED],
            "planned": [],
            "skipped": [
                {
                    "instance_id": "i-0123456789abcdef2",
                    "reason": "platform Windows cannot be launched from its snapshots in a drill",
                }
            ],
            "overdue": 1,
        }
    )
    assert text.startswith("drill run r in eu-central-1: PARTIAL")
    assert (
        "teardown: verified, nothing left" in text
        and "teardown: INCOMPLETE; leftovers i-0fedcba9876543210" in text
    )
    assert "error: launch_instance failed: InsufficientInstanceCapacity" in text
    assert "skipped i-0123456789abcdef2: platform Windows" in text and "overdue instances: 1" in text


def test_the_report_text_says_what_the_sweep_removed_left_and_left_alone():
    sweep = {
        "swept": [
            swept_drill(
                "d-1",
                "2026-12-05T03:00:00Z",
                ["i-1", "vol-1"],
                ["ami-1"],
                ["image ami-1 was not deregistered (UnauthorizedOperation: no)"],
            )
        ],
        "recent": [{"drill_id": "d-2", "since": "2026-12-06T02:59:00Z", "resources": ["i-2"]}],
        "deferred": [],
        "error": None,
    }
    report = {"drill_run_id": "r", "region": "eu-central-1", "status": "PASSED", "overdue": 0}
    text = drills.report_text({**report, "sweep": sweep})
    assert "swept drill d-1: removed i-1, vol-1; NOT removed ami-1" in text
    assert (
        "(UnauthorizedOperation: no)" in text and "drill d-2 (may still be running: not swept): i-2" in text
    )
    assert "sweep" not in drills.report_text({**report, "sweep": None})


class FakeApi:
    def __init__(self, answer):
        self.answer, self.paths = answer, []

    def call(self, method, path, body=None, headers=None):
        self.paths.append((method, path))
        return self.answer


def args_for(argv):
    return build_parser().parse_args(
        ["drills", "--api-url", "https://api.example/v1", "--api-key", "k", *argv]
    )


def test_drills_asks_the_api_and_checks_the_region():
    api = FakeApi({"drills": [PASSED]})
    out = io.StringIO()
    assert drills.cmd_drills(args_for(["--instance-id", "i-0123456789abcdef0"]), out, lambda _: api) == 0
    assert api.paths == [("GET", "/drills?instance_id=i-0123456789abcdef0")]
    assert "web-1" in out.getvalue()
    with pytest.raises(CliError) as raised:
        drills.cmd_drills(args_for(["--region", "eu-west-1"]), io.StringIO(), lambda _: api)
    assert raised.value.exit_code == EXIT_USAGE and "keeps the drills of eu-central-1, not eu-west-1" in str(
        raised.value
    )


class FakePayload(io.BytesIO):
    pass


class FakeLambda:
    def __init__(self, payload, function_error=None):
        self.payload, self.function_error, self.calls = payload, function_error, []

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        answer = {"StatusCode": 200, "Payload": FakePayload(json.dumps(self.payload).encode())}
        if self.function_error:
            answer["FunctionError"] = self.function_error
        return answer


def test_drill_run_invokes_once_synchronously_and_exits_by_the_status(monkeypatch):
    report = {
        "drill_run_id": "r",
        "region": "eu-central-1",
        "dry_run": False,
        "status": "PASSED",
        "drills": [PASSED],
        "planned": [],
        "skipped": [],
        "overdue": 0,
    }
    fake = FakeLambda(report)
    monkeypatch.setattr(drills, "lambda_client_for", lambda region: fake)
    out = io.StringIO()
    code = main(
        [
            "drill",
            "run",
            "--region",
            "eu-central-1",
            "--function",
            "f",
            "--instance-id",
            "i-0123456789abcdef0",
            "--instance-id",
            "i-0123456789abcdef0",
        ],
        out,
    )
    assert code == 0
    [call] = fake.calls
    assert call["FunctionName"] == "f" and call["InvocationType"] == "RequestResponse"
    assert json.loads(call["Payload"]) == {"instance_ids": ["i-0123456789abcdef0"]}
    assert "PASSED" in out.getvalue()
    fake.payload = {**report, "status": "PARTIAL", "drills": [PASSED, FAILED]}
    assert main(["drill", "run", "--region", "eu-central-1", "--function", "f"], io.StringIO()) == EXIT_FAILED


@pytest.mark.parametrize(
    ("payload", "function_error", "code", "message"),
    [
        (
            {"errorMessage": "DRILL_SUBNET_ID: is required but not set"},
            "Unhandled",
            EXIT_FAILED,
            "the drill function f failed: DRILL_SUBNET_ID",
        ),
        (
            {"error": "ValidationError", "message": "instance_ids must be a list", "field": "instance_ids"},
            None,
            EXIT_USAGE,
            "refused the request: instance_ids",
        ),
        ("nonsense", None, EXIT_UNAVAILABLE, "unexpected answer"),
    ],
)
def test_drill_run_failures_are_readable(payload, function_error, code, message):
    with pytest.raises(CliError) as raised:
        drills.invoke_drill(FakeLambda(payload, function_error), "f", {})
    assert raised.value.exit_code == code and message in str(raised.value)


def test_drill_run_needs_a_region(monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["drill", "run", "--function", "f"], io.StringIO()) == EXIT_USAGE


def test_every_command_in_docs_drills_parses():
    text = (Path(__file__).resolve().parents[2] / "docs" / "drills.md").read_text(encoding="utf-8")
    block = re.search(r"## How to run one by hand\n+```bash\n(.*?)```", text, re.S).group(1)
    commands = [c for c in block.replace("\\\n", " ").splitlines() if c.strip().startswith("smart-vault")]
    assert len(commands) == 4
    for command in commands:
        words = shlex.split(re.sub(r'"\$\([^)]*\)"', "X", command.split("#")[0]))
        build_parser().parse_args(words[1:])
