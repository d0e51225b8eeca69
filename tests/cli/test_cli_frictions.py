"""The newcomer's frictions of issue 23, each fixed: global options anywhere, `restore --name`, the DR stack
found by `drills` and `drill run`, readable errors instead of an environment variable's name."""

from __future__ import annotations

import io
import json

import pytest
from test_cli import ScriptedApi, job

from smart_vault.cli import drills
from smart_vault.cli.client import EXIT_OK, EXIT_USAGE
from smart_vault.cli.main import build_parser, main

INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def api():
    scripted = ScriptedApi()
    yield scripted
    scripted.close()


@pytest.fixture
def dr_api():
    scripted = ScriptedApi()
    yield scripted
    scripted.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["--output", "json", "report"],
        ["report", "--output", "json"],
        ["-o", "json", "report"],
        ["--output", "table", "report", "-o", "json"],  # the later one wins
    ],
)
def test_output_is_accepted_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).output == "json"


def test_api_options_before_the_command_reach_it(api):
    api.script("GET", f"/restore/{job('SUCCEEDED')['restore_id']}", (200, job("SUCCEEDED")))
    out = io.StringIO()
    code = main(
        [
            "--api-url",
            api.url,
            "--api-key",
            "k",
            "-o",
            "json",
            "status",
            job("x")["restore_id"],
            "--no-follow",
        ],
        out,
    )
    assert code == EXIT_OK
    assert json.loads(out.getvalue())["status"] == "SUCCEEDED"
    assert api.requests[-1]["headers"]["x-api-key"] == "k"


def test_absent_subcommand_option_does_not_reset_the_global_one():
    assert build_parser().parse_args(["--api-key", "k", "drills"]).api_key == "k"


def test_restore_by_name_resolves_the_instance_then_restores_it(api):
    point = {"backup_set_id": "bset-00000000000000000001", "instance_id": INSTANCE, "volumes": []}
    # As the API answers a query by name: the top-level instance_id is null, each point names its instance.
    points = {"instance_id": None, "name": "web-1", "region": "eu-west-1", "recovery_points": [point]}
    api.script("GET", "/recovery-points?name=web-1", (200, points))
    accepted = {"restore_id": "r-1", "status": "PENDING", "status_url": "/restore/r-1"}
    api.script("POST", "/restore", (202, accepted))
    out = io.StringIO()

    code = main(["restore", "--name", "web-1", "--api-url", api.url, "--api-key", "k"], out)

    assert code == EXIT_OK, out.getvalue()
    assert json.loads(api.requests[-1]["body"]) == {"instance_id": INSTANCE}
    assert "restore r-1 PENDING" in out.getvalue()


def test_restore_by_a_name_two_instances_share_is_refused(api, capsys):
    points = [{"instance_id": i, "volumes": []} for i in (INSTANCE, "i-0fedcba9876543210")]
    api.script(
        "GET",
        "/recovery-points?name=web",
        (200, {"instance_id": None, "name": "web", "recovery_points": points}),
    )
    code = main(["restore", "--name", "web", "--api-url", api.url, "--api-key", "k"], io.StringIO())
    assert code == EXIT_USAGE and "several instances are named 'web'" in capsys.readouterr().err


def test_restore_by_an_unknown_name_is_a_clear_usage_error(api, capsys):
    api.script(
        "GET",
        "/recovery-points?name=nope",
        (200, {"instance_id": None, "name": "nope", "recovery_points": []}),
    )
    code = main(["restore", "--name", "nope", "--api-url", api.url, "--api-key", "k"], io.StringIO())
    assert code == EXIT_USAGE
    assert "no protected instance named 'nope'" in capsys.readouterr().err


NOT_CONFIGURED = (404, {"error": "NotConfigured", "message": "DRILL_RESULTS_TABLE is not set"})


def test_drills_on_the_primary_api_falls_back_to_the_dr_api(api, dr_api, monkeypatch):
    monkeypatch.setenv("SMART_VAULT_DR_API_URL", dr_api.url)
    monkeypatch.setenv("SMART_VAULT_DR_API_KEY", "dr-key")
    api.script("GET", "/drills", NOT_CONFIGURED)
    dr_api.script("GET", "/drills", (200, {"drills": []}))
    out = io.StringIO()

    code = main(["drills", "--api-url", api.url, "--api-key", "k"], out)

    assert code == EXIT_OK and out.getvalue().strip() == "no drill results"
    assert dr_api.requests[-1]["headers"]["x-api-key"] == "dr-key"


def test_drills_without_a_dr_api_says_use_the_dr_stack(api, monkeypatch, capsys):
    monkeypatch.delenv("SMART_VAULT_DR_API_URL", raising=False)
    api.script("GET", "/drills", NOT_CONFIGURED)

    code = main(["drills", "--api-url", api.url, "--api-key", "k"], io.StringIO())

    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "ask the DR stack's API" in err and "DRILL_RESULTS_TABLE" not in err


def test_drill_run_defaults_to_the_dr_region_for_the_dr_function(monkeypatch):
    monkeypatch.setenv("SMART_VAULT_DR_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    parser = build_parser()
    assert drills.drill_region(parser.parse_args(["drill", "run"])) == "eu-central-1"
    assert drills.drill_region(parser.parse_args(["drill", "run", "--function", "my-drill"])) == "eu-west-1"
    arn = "arn:aws:lambda:us-east-2:123456789012:function:x"
    assert drills.drill_region(parser.parse_args(["drill", "run", "--function", arn])) == "us-east-2"
