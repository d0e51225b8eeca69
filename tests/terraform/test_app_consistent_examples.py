"""(v3) The example script documents: their shape, and the Linux one run for real against stub tools."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - runs the example script with stub tools in a temporary directory
import time
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "app-consistent"
DOCUMENTS = ("linux-fsfreeze.yaml", "mysql-flush-lock.yaml")


def script_of(name: str, **params: str) -> str:
    document = yaml.safe_load((EXAMPLES / name).read_text())
    script = document["mainSteps"][0]["inputs"]["runCommand"][0]
    for key, value in params.items():
        script = script.replace("{{ " + key + " }}", value)
    return script


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documents_take_the_command_parameter_the_backup_function_sends(name):
    document = yaml.safe_load((EXAMPLES / name).read_text())
    assert document["schemaVersion"] == "2.2"
    command = document["parameters"]["command"]
    assert {"pre-script", "post-script"} <= set(command["allowedValues"])
    assert command["default"] == "dry-run"  # a run without parameters touches nothing
    subprocess.run(["bash", "-n"], input=script_of(name, command="pre-script"), text=True, check=True)


def test_terraform_example_tags_both_documents_for_the_backup_role():
    text = (EXAMPLES / "main.tf").read_text()
    assert '"smart-vault:scripts" = "true"' in text
    assert text.count("merge(var.tags, local.scripts_tag)") == len(DOCUMENTS)
    assert all(f'file("${{path.module}}/{name}")' in text for name in DOCUMENTS)


@pytest.fixture
def stubs(tmp_path):
    """findmnt, fsfreeze and (optionally) systemd-run replaced by scripts that log what they are asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    mounts = (
        "/ xfs rw\n/boot xfs rw\n/data xfs rw\n/logs ext4 rw\n/media nfs rw\n/archive ext4 ro\n/var xfs rw\n"
    )
    (bin_dir / "findmnt").write_text(f"#!/bin/sh\nprintf '{mounts}'\n")
    (bin_dir / "fsfreeze").write_text(f'#!/bin/sh\necho "fsfreeze $*" >> {log}\n')
    (bin_dir / "sync").write_text("#!/bin/sh\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SMART_VAULT_RUN_DIR": str(tmp_path)}
    return env, log


def run_script(env, command, auto_thaw="60"):
    script = script_of("linux-fsfreeze.yaml", command=command, autoThawSeconds=auto_thaw)
    # No systemd in the test: the script falls back to its detached shell timer.
    return subprocess.run(["bash"], input=script, text=True, capture_output=True, env=env, check=False)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_pre_script_freezes_only_data_filesystems_and_post_script_thaws_them(stubs):
    env, log = stubs

    pre = run_script(env, "pre-script")
    assert pre.returncode == 0, pre.stdout + pre.stderr
    assert calls(log) == ["fsfreeze -f /data", "fsfreeze -f /logs"]
    post = run_script(env, "post-script")

    assert post.returncode == 0, post.stdout + post.stderr
    assert calls(log)[2:] == ["fsfreeze -u /data", "fsfreeze -u /logs"]
    time.sleep(0.2)
    assert len(calls(log)) == 4  # the auto-thaw timer was cancelled


def test_freeze_lifts_itself_when_no_post_script_comes(stubs):
    env, log = stubs

    pre = run_script(env, "pre-script", auto_thaw="1")
    assert pre.returncode == 0, pre.stdout + pre.stderr
    state = Path(env["SMART_VAULT_RUN_DIR"]) / "smart-vault-frozen"
    deadline = time.monotonic() + 10
    while (len(calls(log)) < 4 or state.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert calls(log) == ["fsfreeze -f /data", "fsfreeze -f /logs", "fsfreeze -u /data", "fsfreeze -u /logs"]
    assert not state.exists()  # the timer cleaned up after itself
    # A post-script after the automatic thaw still succeeds (there is nothing left to thaw).
    assert run_script(env, "post-script").returncode == 0


def test_a_failed_freeze_thaws_what_was_frozen_and_fails(stubs, tmp_path):
    env, log = stubs
    fsfreeze = Path(env["PATH"].split(":")[0]) / "fsfreeze"
    fsfreeze.write_text(
        f'#!/bin/sh\necho "fsfreeze $*" >> {log}\n[ "$2" = /logs ] && [ "$1" = -f ] && exit 1\nexit 0\n'
    )

    pre = run_script(env, "pre-script")

    assert pre.returncode == 1
    assert "could not freeze /logs" in pre.stdout
    assert "fsfreeze -u /data" in calls(log)
    assert os.path.exists(tmp_path / "smart-vault-frozen") is False
