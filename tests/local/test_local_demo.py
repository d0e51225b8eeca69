"""`make demo` (`smart-vault local demo`): succeeds end to end, and fails loudly with a non-zero exit."""

from __future__ import annotations

import io

import pytest

from smart_vault.cli import main
from smart_vault.local import demo as demo_module

pytestmark = pytest.mark.slow


def test_demo_runs_every_step_and_succeeds():
    out = io.StringIO()
    code = main(["local", "demo"], out=out)
    text = out.getvalue()
    assert code == 0, text
    for step in range(1, demo_module.STEPS + 1):
        assert f"==> [{step}/{demo_module.STEPS}]" in text
    assert "HTTP 403" in text and "wait_volume_in_use" in text and "restore.completed" in text
    assert "Demo succeeded" in text


def test_demo_exits_non_zero_and_says_where_it_failed(monkeypatch):
    def broken_backup(state, event):
        raise demo_module.DemoFailure("backup exploded")

    monkeypatch.setattr(demo_module, "invoke_backup", broken_backup)
    out = io.StringIO()
    code = main(["local", "demo"], out=out)
    assert code == 1
    assert "DEMO FAILED at step 3: backup exploded" in out.getvalue()


def test_demo_without_the_api_description_fails_cleanly(monkeypatch, tmp_path):
    monkeypatch.setenv("SMART_VAULT_OPENAPI", str(tmp_path / "missing.yaml"))
    out = io.StringIO()
    code = main(["local", "demo"], out=out)
    assert code == 1 and "DEMO FAILED at step 1" in out.getvalue() and "missing.yaml" in out.getvalue()
