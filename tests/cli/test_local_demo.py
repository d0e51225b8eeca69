"""`make demo` (`smart-vault local demo`): succeeds end to end, and fails loudly with a non-zero exit."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from headless_chromium import load, screenshot

from smart_vault.cli import demo as demo_module
from smart_vault.cli import main
from smart_vault.cli.demo_attack import functions_logged_to
from smart_vault.observability import MetricUnit, logger, single_metric

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"

pytestmark = pytest.mark.slow


def test_demo_runs_every_step_and_succeeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its dashboard to ./.build/dashboard.html
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
    # It ends with a drill in the DR region: passed, torn down, nothing left over.
    assert "3 drills passed, teardown verified, 0 left over" in text
    # The vault act's functions log to their file, not into the story.
    log = (tmp_path / ".build" / "vault-act.log").resolve()
    assert f"the functions' logs of this act: {log}" in text
    assert '"vault report"' in log.read_text() and not [
        line for line in text.splitlines() if line.startswith("{")
    ]
    # And ends with the dashboard, written where it says.
    page = tmp_path / ".build" / "dashboard.html"
    assert f"dashboard written: {page.resolve()}" in text
    check_dashboard_in_chromium(page, tmp_path)


def check_dashboard_in_chromium(page, tmp_path):
    """The page in a real browser: no script or console error, every chart drawn with the demo's data."""
    dom, console = load(page, tmp_path / "chromium")
    data = json.loads(
        re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', dom, re.S).group(1)
    )
    assert console == [], console
    assert re.search(r'<div id="page-errors"></div>', dom), "the page reported a script error"
    assert 'data-ready="true"' in dom
    drawn = {}
    for chart in data["charts"]:
        card = re.search(rf'<div class="card[^"]*" id="chart-{chart["id"]}"[^>]*>', dom).group(0)
        drawn[chart["id"]] = int(re.search(r'data-points="(\d+)"', card).group(1))
        assert drawn[chart["id"]] == sum(len(s["points"]) for s in chart["series"]), chart["id"]
    # The demo's data: both regions' RPO, the backlog, the drill and its RTO, the backup failures (0).
    assert all(drawn[c] > 0 for c in ("rpo", "backlog", "drills", "rto", "failures")), drawn
    rpo = next(c for c in data["charts"] if c["id"] == "rpo")
    assert {s["label"] for s in rpo["series"]} == {"eu-west-1", "eu-central-1"}
    rendered = int(re.search(r'data-charts-rendered="(\d+)"', dom).group(1))
    assert rendered == sum(1 for n in drawn.values() if n)
    for chart_id, points in drawn.items():
        if not points:  # a metric nobody reports yet: said so, no empty axes
            assert re.search(rf'id="chart-{chart_id}".*?<p class="no-data">no data', dom, re.S), chart_id
    assert "web-2" in dom.split('id="drill-table"')[1].split("</table>")[0]
    shot = screenshot(page, tmp_path / "dashboard.png", tmp_path / "chromium")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("SMART_VAULT_UPDATE_SCREENSHOT"):
        shutil.copy(shot, DOCS_SCREENSHOT)


def test_a_failing_step_exits_1_and_says_which(monkeypatch, tmp_path):
    monkeypatch.setenv("SMART_VAULT_OPENAPI", str(tmp_path / "missing.yaml"))
    out = io.StringIO()
    code = main(["local", "demo"], out=out)
    assert code == 1 and "DEMO FAILED at step 1" in out.getvalue() and "missing.yaml" in out.getvalue()


def test_the_vault_acts_logs_and_metrics_go_to_their_file_and_the_handler_gets_its_stream_back(
    tmp_path, capsys
):
    handler = logger.registered_handler
    before = handler.stream
    path = tmp_path / "logs" / "vault-act.log"
    with functions_logged_to(path):
        logger.info("vault report", extra={"run_id": "night-1"})
        with single_metric(name="VaultBacklog", unit=MetricUnit.Count, value=0, namespace="SmartVault"):
            pass
    assert handler.stream is before
    written = path.read_text()
    assert '"message":"vault report"' in written and '"VaultBacklog"' in written
    assert "VaultBacklog" not in capsys.readouterr().out
