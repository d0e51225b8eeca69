"""`smart-vault local up` as a user runs it: a long-running process, then the other commands against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smart_vault.local.stack import StackState

pytestmark = pytest.mark.slow
SRC = str(Path(__file__).resolve().parents[2] / "src")


def smart_vault(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "smart_vault.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
    )


class Running:
    def __init__(self, state_file: Path):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smart_vault.cli", "local", "up", "--state-file", str(state_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": SRC},
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, "\n".join(self.lines)
            time.sleep(0.1)

    def section(self, start: str, end: str) -> str:
        first = next(i for i, line in enumerate(self.lines) if start in line)
        last = next(i for i, line in enumerate(self.lines) if i > first and end in line)
        return "\n".join(self.lines[first + 1 : last])


def test_local_up_prints_a_working_curl_command_and_serves_the_other_commands(tmp_path):
    state_file = tmp_path / "stack.json"
    running = Running(state_file)
    try:
        running.wait_for("More: smart-vault local backup")
        state = StackState.from_json(state_file.read_text())
        env = state.client_environment()
        assert any(state.primary_api.url in line for line in running.lines)
        assert any(state.primary_api.api_key in line for line in running.lines)

        curl = running.section("the README's command", "then: smart-vault status")
        accepted = json.loads(
            subprocess.run(["/bin/sh", "-c", curl], capture_output=True, text=True, check=True).stdout
        )
        assert accepted["status"] == "PENDING"

        followed = smart_vault("status", accepted["restore_id"], "--interval", "0.3", env=env)
        assert followed.returncode == 0, followed.stderr
        assert "attach_volume" in followed.stdout and "SUCCEEDED" in followed.stdout

        backup = smart_vault("local", "backup", "--state-file", str(state_file))
        assert backup.returncode == 0 and "SUCCEEDED" in backup.stdout, backup.stdout + backup.stderr

        deadline = time.monotonic() + 30
        while True:
            shown = smart_vault("local", "notifications", "--state-file", str(state_file), "-o", "json")
            kinds = [note["event_type"] for note in json.loads(shown.stdout)]
            if (
                kinds.count("backup.completed") == 2 and "restore.completed" in kinds
            ) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert kinds.count("backup.completed") == 2 and "restore.completed" in kinds

        report = smart_vault("report", "--dr-region", state.dr_region, "-o", "json", env=env)
        rows = json.loads(report.stdout)
        assert {row["instance_id"] for row in rows} == {i["instance_id"] for i in state.fleet.protected}
        assert all(row[state.dr_region]["snapshot_id"] for row in rows)

        again = smart_vault("local", "up", "--state-file", str(state_file))
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        running.process.send_signal(signal.SIGINT)
        code = running.process.wait(timeout=60)
    assert code == 0 and not state_file.exists()
