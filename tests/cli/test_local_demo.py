"""`make demo` (`smart-vault local demo`): succeeds end to end, and fails loudly with a non-zero exit."""

from __future__ import annotations

import io

import pytest

from smart_vault.cli import demo as demo_module
from smart_vault.cli import main

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
    # The DR story: the primary is refused, web-2 comes back whole in the DR region with its RTO.
    assert "RegionUnavailable" in text and "Connection refused" in text
    assert "measured RTO" in text and "every volume back, from the DR copies" in text


def test_a_failing_step_exits_1_and_says_which(monkeypatch, tmp_path):
    monkeypatch.setenv("SMART_VAULT_OPENAPI", str(tmp_path / "missing.yaml"))
    out = io.StringIO()
    code = main(["local", "demo"], out=out)
    assert code == 1 and "DEMO FAILED at step 1" in out.getvalue() and "missing.yaml" in out.getvalue()
