"""The smart-vault command: parsing, output, exit codes, and its HTTP client against a scripted API."""

from __future__ import annotations

import io
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

import smart_vault.cli as cli
from smart_vault.cli.client import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ApiClient,
    CliError,
    follow_restore,
    format_age,
    format_table,
    measured_rto_seconds,
    step_lines,
)
from smart_vault.cli.main import main
from smart_vault.cli.report import recovery_point_rows

RESTORE_ID = "3f1c2a9e-8d4b-4c7e-9a51-2b6f0e7d4c11"


class ScriptedApi:
    """A restore API stand-in on 127.0.0.1: answers from a script and records every request."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: dict[tuple[str, str], list[tuple[int, object]]] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                queue = api.answers.get((self.command, self.path), [(404, {"message": "no script"})])
                status, document = queue.pop(0) if len(queue) > 1 else queue[0]
                raw = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, method, path, *answers):
        self.answers[(method, "/v1" + path)] = list(answers)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    scripted = ScriptedApi()
    yield scripted
    scripted.close()


def job(status, steps=(), **extra):
    return {
        "restore_id": RESTORE_ID,
        "status": status,
        "region": "eu-west-1",
        "request": {},
        "volume_id": extra.get("volume_id"),
        "instance_id": extra.get("instance_id"),
        "steps": [{"name": n, "status": s, "started_at": "t", "finished_at": None} for n, s in steps],
        "error": extra.get("error"),
        "created_at": "2026-11-27T10:00:00Z",
        "updated_at": "2026-11-27T10:00:05Z",
    }


def run(argv, monkeypatch=None):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["restore"],
        ["status"],
        ["report"],
        ["local"],
        ["local", "up"],
        ["local", "backup"],
        ["local", "demo"],
    ],
)
def test_help_is_available_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert "usage: smart-vault" in capsys.readouterr().out


def test_bad_usage_exits_2_with_a_usage_message(capsys):
    with pytest.raises(SystemExit) as done:
        main(["restore", "--api-url", "http://x", "--api-key", "k"])  # no --snapshot-id
    assert done.value.code == EXIT_USAGE
    assert "--snapshot-id" in capsys.readouterr().err


def test_missing_api_url_is_a_one_line_usage_error(capsys, monkeypatch):
    monkeypatch.delenv("SMART_VAULT_API_URL", raising=False)
    monkeypatch.delenv("SMART_VAULT_API_KEY", raising=False)
    code, _ = run(["status", RESTORE_ID])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "SMART_VAULT_API_URL" in err and "Traceback" not in err


def test_launch_needs_ami_and_subnet(capsys, api):
    code, _ = run(
        [
            "restore",
            "--snapshot-id",
            "snap-0123456789abcdef0",
            "--launch",
            "--api-url",
            api.url,
            "--api-key",
            "k",
        ]
    )
    assert code == EXIT_USAGE and "--ami-id" in capsys.readouterr().err
    assert api.requests == []


def test_restore_posts_the_body_with_key_and_idempotency_key(api):
    api.script(
        "POST", "/restore", (202, {"restore_id": RESTORE_ID, "status": "PENDING", "status_url": "/restore/x"})
    )
    argv = [
        "restore",
        "--snapshot-id", "snap-0123456789abcdef0",
        "--launch", "--ami-id", "ami-0123456789abcdef0", "--subnet-id", "subnet-0123456789abcdef0",
        "--instance-type", "t3.small", "--region", "eu-central-1", "--keep-on-failure",
        "--idempotency-key", "abc-1",
        "--api-url", api.url, "--api-key", "secret",
        "--output", "json",
    ]  # fmt: skip
    code, out = run(argv)
    assert code == EXIT_OK and json.loads(out)["restore_id"] == RESTORE_ID
    sent = api.requests[0]
    assert sent["headers"]["x-api-key"] == "secret" and sent["headers"]["idempotency-key"] == "abc-1"
    assert json.loads(sent["body"]) == {
        "snapshot_id": "snap-0123456789abcdef0",
        "launch_instance": True,
        "ami_id": "ami-0123456789abcdef0",
        "subnet_id": "subnet-0123456789abcdef0",
        "instance_type": "t3.small",
        "region": "eu-central-1",
        "keep_on_failure": True,
    }


def test_environment_variables_supply_url_and_key(api, monkeypatch):
    monkeypatch.setenv("SMART_VAULT_API_URL", api.url)
    monkeypatch.setenv("SMART_VAULT_API_KEY", "from-env")
    api.script("GET", f"/restore/{RESTORE_ID}", (200, job("RUNNING")))
    code, out = run(["status", RESTORE_ID, "--no-follow"])
    assert code == EXIT_OK and "RUNNING" in out
    assert api.requests[0]["headers"]["x-api-key"] == "from-env"


def test_restore_wait_follows_to_success_with_progress(api):
    api.script("POST", "/restore", (202, {"restore_id": RESTORE_ID, "status": "PENDING", "status_url": "/x"}))
    api.script(
        "GET",
        f"/restore/{RESTORE_ID}",
        (200, job("PENDING")),
        (200, job("RUNNING", [("create_volume", "RUNNING")])),
        (
            200,
            job(
                "SUCCEEDED",
                [("create_volume", "SUCCEEDED"), ("attach_volume", "SUCCEEDED")],
                volume_id="vol-1",
            ),
        ),
    )
    argv = [
        "restore",
        "--snapshot-id",
        "snap-0123456789abcdef0",
        "--availability-zone",
        "eu-west-1a",
        "--wait",
    ]
    code, out = run([*argv, "--interval", "0", "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_OK
    assert "create_volume" in out and "RUNNING" in out and "attach_volume" in out and "vol-1" in out
    create_lines = [line.split()[-1] for line in out.splitlines() if "] create_volume" in line]
    assert create_lines == ["RUNNING", "SUCCEEDED"]


def test_failed_restore_exits_1_and_shows_the_error(api):
    api.script(
        "GET", f"/restore/{RESTORE_ID}", (200, job("FAILED", [("attach_volume", "FAILED")], error="boom"))
    )
    code, out = run(["status", RESTORE_ID, "--interval", "0", "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_FAILED and "boom" in out


@pytest.mark.parametrize(
    ("status", "document", "exit_code", "text"),
    [
        (403, {"message": "Forbidden"}, EXIT_REJECTED, "API key"),
        (
            400,
            {"error": "ValidationError", "message": "bad", "field": "ami_id"},
            EXIT_REJECTED,
            "field: ami_id",
        ),
        (404, {"error": "SnapshotNotFound", "message": "nope"}, EXIT_REJECTED, "SnapshotNotFound"),
        (500, {"error": "InternalError", "message": "x", "request_id": "r-9"}, EXIT_UNAVAILABLE, "r-9"),
    ],
)
def test_api_errors_become_one_line_and_an_exit_code(api, capsys, status, document, exit_code, text):
    api.script("POST", "/restore", (status, document))
    argv = ["restore", "--snapshot-id", "snap-0123456789abcdef0", "--availability-zone", "eu-west-1a"]
    code, _ = run([*argv, "--api-url", api.url, "--api-key", "k"])
    err = capsys.readouterr().err
    assert code == exit_code and text in err and "Traceback" not in err


def test_unreachable_api_exits_4(capsys):
    code, _ = run(["status", RESTORE_ID, "--api-url", "http://127.0.0.1:9/v1", "--api-key", "k"])
    assert code == EXIT_UNAVAILABLE and "cannot reach" in capsys.readouterr().err


def test_follow_gives_up_at_the_timeout():
    class Stuck:
        def get_restore(self, restore_id):
            return job("RUNNING")

    ticks = iter(range(100))
    with pytest.raises(CliError) as stuck:
        follow_restore(Stuck(), RESTORE_ID, None, timeout=5, clock=lambda: next(ticks), sleep=lambda _: None)
    assert stuck.value.exit_code == EXIT_TIMEOUT


def test_step_lines_report_only_changes():
    seen: dict[str, str] = {}
    first = step_lines(seen, [{"name": "create_volume", "status": "RUNNING"}], 0.5)
    again = step_lines(seen, [{"name": "create_volume", "status": "RUNNING"}], 1.0)
    done = step_lines(seen, [{"name": "create_volume", "status": "SUCCEEDED"}], 1.5)
    assert len(first) == 1 and again == [] and "SUCCEEDED" in done[0] and "1.5s" in done[0]


def test_format_table_and_age():
    table = format_table(["a", "bb"], [("x", None), ("long", 3)])
    assert table.splitlines() == ["a     bb", "----  --", "x     -", "long  3"]
    assert [format_age(s) for s in (None, 5, 65, 3_700, 90_000)] == [
        "never",
        "5s",
        "1m 05s",
        "1h 01m",
        "1d 01h",
    ]


def snapshot(snapshot_id, instance_id, started, state="completed"):
    return {
        "SnapshotId": snapshot_id,
        "State": state,
        "StartTime": started,
        "Tags": [{"Key": "smart-vault:source-instance", "Value": instance_id}],
    }


def test_recovery_points_take_the_newest_completed_snapshot_per_region():
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    primary = [
        snapshot("snap-old", "i-1", now - timedelta(hours=25)),
        snapshot("snap-new", "i-1", now - timedelta(hours=1)),
        snapshot("snap-pending", "i-1", now - timedelta(minutes=1), state="pending"),
        snapshot("snap-gone", "i-gone", now - timedelta(days=3)),
    ]
    dr = [snapshot("snap-copy", "i-1", now - timedelta(hours=24))]
    rows = recovery_point_rows({"i-1": "web", "i-2": "db"}, {"p": primary, "d": dr}, ["p", "d"], now)
    by_id = {row["instance_id"]: row for row in rows}
    assert list(by_id) == ["i-1", "i-2", "i-gone"]
    assert by_id["i-1"]["p"] == {"snapshot_id": "snap-new", "age_seconds": 3600}
    assert by_id["i-1"]["d"] == {"snapshot_id": "snap-copy", "age_seconds": 86400}
    assert by_id["i-2"]["p"] == {"snapshot_id": None, "age_seconds": None}
    assert by_id["i-gone"]["name"] is None


def test_report_lists_protected_instances_with_their_recovery_points(moto_aws):
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    image = ec2.register_image(Name="demo-image", RootDeviceName="/dev/xvda")["ImageId"]
    tags = [
        {
            "ResourceType": "instance",
            "Tags": [{"Key": "Backup-Tier", "Value": "Gold"}, {"Key": "Name", "Value": "web"}],
        }
    ]
    instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=tags)[
        "Instances"
    ][0]["InstanceId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)  # untagged: not protected
    volume = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)["VolumeId"]
    managed = [
        {"Key": "ManagedBy", "Value": "smart-vault"},
        {"Key": "smart-vault:source-instance", "Value": instance_id},
    ]
    ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": managed}])

    code, out = run(["report", "--region", "eu-west-1", "--dr-region", "eu-central-1"])
    json_code, json_out = run(
        ["report", "--region", "eu-west-1", "--dr-region", "eu-central-1", "-o", "json"]
    )

    assert code == EXIT_OK and json_code == EXIT_OK
    lines = out.splitlines()
    assert (
        "newest in eu-west-1" in lines[0]
        and len(lines) == 3
        and instance_id in lines[2]
        and "never" in lines[2]
    )
    rows = json.loads(json_out)
    assert [r["instance_id"] for r in rows] == [instance_id]
    assert (
        rows[0]["eu-west-1"]["snapshot_id"].startswith("snap-")
        and rows[0]["eu-central-1"]["snapshot_id"] is None
    )


def test_report_needs_a_dr_region(capsys, monkeypatch):
    monkeypatch.delenv("SMART_VAULT_DR_REGION", raising=False)
    code, _ = run(["report"])
    assert code == EXIT_USAGE and "--dr-region" in capsys.readouterr().err


def test_api_client_rejects_other_schemes():
    with pytest.raises(CliError) as bad:
        ApiClient("file:///etc/passwd", "k").get_restore(RESTORE_ID)
    assert bad.value.exit_code == EXIT_USAGE


def test_local_commands_without_a_running_stack_say_how_to_start_one(tmp_path, capsys):
    code, _ = run(["local", "backup", "--state-file", str(tmp_path / "none.json")])
    assert code == EXIT_UNAVAILABLE and "smart-vault local up" in capsys.readouterr().err


def test_module_exposes_main_for_the_console_script():
    assert cli.main is main


def test_local_commands_without_the_local_extra_say_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "moto", None)  # import moto now raises ImportError
    code, _ = run(["local", "demo"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "smart-vault[local]" in err and "Traceback" not in err


def test_an_unexpected_success_body_is_an_error_not_a_traceback(api, capsys):
    api.script("POST", "/restore", (202, ["not", "a", "job"]))
    argv = ["restore", "--snapshot-id", "snap-0123456789abcdef0", "--availability-zone", "eu-west-1a"]
    code, _ = run([*argv, "--api-url", api.url, "--api-key", "k"])
    err = capsys.readouterr().err
    assert code == EXIT_UNAVAILABLE and "unexpected answer" in err and "Traceback" not in err


def test_recovery_points_lists_the_api_answer_with_age_and_completeness(api):
    answer = {
        "instance_id": "i-0123456789abcdef0",
        "name": "web-1",
        "region": "eu-central-1",
        "recovery_points": [
            {
                "backup_set_id": "bset-00000000000000000001",
                "instance_id": "i-0123456789abcdef0",
                "run_id": "r",
                "created_at": "2026-11-27T10:00:00Z",
                "age_seconds": 7200,
                "complete": False,
                "app_consistent": True,
                "instance": {"name": "web-1", "instance_type": "t3.small", "platform": "Linux/UNIX"},
                "volumes": [{}, {}, {}],
            }
        ],
    }
    api.script("GET", "/recovery-points?instance_id=i-0123456789abcdef0&region=eu-central-1", (200, answer))

    code, out = run(
        [
            "recovery-points",
            "--api-url",
            api.url,
            "--api-key",
            "k",
            "--instance-id",
            "i-0123456789abcdef0",
            "--region",
            "eu-central-1",
        ]
    )

    assert code == 0, out
    assert api.requests[-1]["headers"]["x-api-key"] == "k"
    lines = out.strip().splitlines()
    row = lines[3]
    assert lines[0] == "instance i-0123456789abcdef0 (web-1) in eu-central-1"
    assert "COMPLETE" in lines[1] and "INSTANCE" in lines[1]
    assert "bset-00000000000000000001" in row and " no " in f" {row} " and "t3.small" in row
    assert "i-0123456789abcdef0" in row  # the id `restore --instance-id` needs
    assert "APP-CONSISTENT" in lines[1]
    # APP-CONSISTENT, read under its header (the (v3) change columns follow PLATFORM)
    assert row[lines[1].index("APP-CONSISTENT") :].split()[0] == "yes"
    assert "2h" in row
    assert lines[-1] == "restore it with: smart-vault restore --instance-id i-0123456789abcdef0"


def test_recovery_points_needs_exactly_one_of_instance_id_and_name(capsys):
    code, _ = run(["recovery-points", "--api-url", "http://x", "--api-key", "k"])
    assert code == 2


# ------------------------------------------------------------------------------ full-instance restores

INSTANCE = "i-0a1b2c3d4e5f60718"
BSET = "bset-0123456789abcdef0123"


def instance_job(status, steps=(), **extra):
    document = job(status, steps, **extra)
    document.update(
        mode="instance",
        region="eu-central-1",
        backup_set_id=BSET,
        volume_ids=extra.get("volume_ids", []),
        image_id=extra.get("image_id"),
        warnings=extra.get("warnings", []),
        created_at="2026-11-27T10:00:00Z",
        updated_at=extra.get("updated_at", "2026-11-27T10:04:10Z"),
    )
    return document


def test_restore_instance_posts_the_full_instance_body(api):
    api.script("POST", "/restore", (202, {"restore_id": RESTORE_ID, "status": "PENDING", "status_url": "/x"}))
    argv = [
        "restore", "--instance-id", INSTANCE, "--backup-set-id", BSET, "--region", "eu-central-1",
        "--subnet-id", "subnet-0123456789abcdef0",
        "--security-group-ids", "sg-0123456789abcdef0", "sg-0123456789abcdef1",
        "--instance-type", "t3.large", "--ami-id", "ami-0123456789abcdef0", "--keep-on-failure",
        "--idempotency-key", "dr-web-1",
        "--api-url", api.url, "--api-key", "k", "--output", "json",
    ]  # fmt: skip
    code, out = run(argv)
    assert code == EXIT_OK and json.loads(out)["restore_id"] == RESTORE_ID
    assert api.requests[0]["headers"]["idempotency-key"] == "dr-web-1"
    assert json.loads(api.requests[0]["body"]) == {
        "instance_id": INSTANCE,
        "backup_set_id": BSET,
        "region": "eu-central-1",
        "subnet_id": "subnet-0123456789abcdef0",
        "security_group_ids": ["sg-0123456789abcdef0", "sg-0123456789abcdef1"],
        "instance_type": "t3.large",
        "ami_id": "ami-0123456789abcdef0",
        "keep_on_failure": True,
    }


def test_restore_instance_leaves_the_defaults_to_the_api(api):
    api.script("POST", "/restore", (202, {"restore_id": RESTORE_ID, "status": "PENDING", "status_url": "/x"}))
    code, _ = run(["restore", "--instance-id", INSTANCE, "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_OK
    assert json.loads(api.requests[0]["body"]) == {"instance_id": INSTANCE}


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--instance-id", INSTANCE, "--launch"], "--launch"),
        (["--instance-id", INSTANCE, "--device-name", "/dev/sdf"], "--device-name"),
        (["--instance-id", INSTANCE, "--availability-zone", "eu-west-1a"], "--availability-zone"),
        (["--instance-id", INSTANCE, "--volume-type", "gp3"], "--volume-type"),
        (["--snapshot-id", "snap-0123456789abcdef0", "--backup-set-id", BSET], "--backup-set-id"),
        (["--snapshot-id", "snap-0123456789abcdef0", "--security-group-ids", "sg-1"], "--security-group-ids"),
    ],
)
def test_options_of_the_other_form_are_usage_errors(extra, flag, api, capsys):
    code, _ = run(["restore", *extra, "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_USAGE
    assert flag in capsys.readouterr().err
    assert api.requests == []


def test_snapshot_and_instance_ids_are_exclusive(capsys):
    with pytest.raises(SystemExit) as done:
        main(["restore", "--snapshot-id", "snap-0123456789abcdef0", "--instance-id", INSTANCE])
    assert done.value.code == EXIT_USAGE
    assert "not allowed with" in capsys.readouterr().err


def test_restore_instance_wait_follows_the_steps_and_ends_with_the_instance_and_rto(api):
    api.script("POST", "/restore", (202, {"restore_id": RESTORE_ID, "status": "PENDING", "status_url": "/x"}))
    done = [
        ("register_image", "SUCCEEDED"),
        ("launch_instance", "SUCCEEDED"),
        ("wait_instance_running", "SUCCEEDED"),
        ("wait_status_checks", "SUCCEEDED"),
        ("deregister_image", "SUCCEEDED"),
    ]
    api.script(
        "GET",
        f"/restore/{RESTORE_ID}",
        (200, instance_job("PENDING")),
        (200, instance_job("RUNNING", [("register_image", "RUNNING")])),
        (200, instance_job("RUNNING", [*done[:2], ("wait_instance_running", "RUNNING")])),
        (
            200,
            instance_job(
                "SUCCEEDED",
                done,
                instance_id="i-0fedcba9876543210",
                volume_ids=["vol-1", "vol-2", "vol-3"],
                warnings=["the recorded instance profile x is not in ALLOWED_INSTANCE_PROFILE_ARNS"],
            ),
        ),
    )
    argv = ["restore", "--instance-id", INSTANCE, "--region", "eu-central-1", "--wait", "--interval", "0"]
    code, out = run([*argv, "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_OK
    register = [line.split()[-1] for line in out.splitlines() if "] register_image" in line]
    assert register == ["RUNNING", "SUCCEEDED"]
    progress = [line for line in out.splitlines() if line.startswith("  [")]
    assert all(line.split("]")[0].strip(" [").endswith("s") for line in progress)  # elapsed time
    last = out.strip().splitlines()[-1]
    assert last.startswith("instance i-0fedcba9876543210 is running in eu-central-1")
    assert BSET in last and "3 volumes" in last
    assert "RTO 4m 10s (250s" in last
    assert "ALLOWED_INSTANCE_PROFILE_ARNS" in out  # the warning is shown


def test_a_failed_instance_restore_exits_1_with_the_error_and_the_time_it_took(api):
    api.script(
        "GET",
        f"/restore/{RESTORE_ID}",
        (200, instance_job("FAILED", [("launch_instance", "FAILED")], error="InsufficientInstanceCapacity")),
    )
    code, out = run(["status", RESTORE_ID, "--interval", "0", "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_FAILED
    assert "FAILED after 4m 10s" in out and "InsufficientInstanceCapacity" in out


def test_the_json_output_of_a_followed_restore_carries_the_measured_rto(api):
    api.script("GET", f"/restore/{RESTORE_ID}", (200, instance_job("SUCCEEDED", instance_id="i-1")))
    code, out = run(["status", RESTORE_ID, "--output", "json", "--api-url", api.url, "--api-key", "k"])
    assert code == EXIT_OK
    document = json.loads(out)
    assert document["rto_seconds"] == 250.0 and document["mode"] == "instance"


def test_measured_rto_is_none_while_running_or_unreadable():
    assert measured_rto_seconds(instance_job("RUNNING")) is None
    assert measured_rto_seconds(instance_job("SUCCEEDED", updated_at="soon")) is None
    assert measured_rto_seconds(instance_job("SUCCEEDED")) == 250.0
