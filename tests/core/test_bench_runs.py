"""`make bench` keeps working: its call-count figure runs (small) in a fresh interpreter, at the floor."""

from __future__ import annotations

import json
import subprocess  # nosec B404 - runs this repository's own bench script
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_call_count_figure_runs_and_stays_within_5_percent_of_the_floor():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--figure", "calls", "--instances", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figure = next(json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"instances'))
    assert figure["protected"] == 20 and figure["copies_started"] == 60
    assert figure["ratio_to_floor"] <= 1.05
