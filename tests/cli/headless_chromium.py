"""Chromium from Debian's packages, headless: the DOM after a page's scripts ran, its console, a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
]


def chromium() -> str:
    """The browser binary; the test fails (never skips) without one: CI's .ci/run installs it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert path, "the dashboard test needs Chromium: apt-get install -y chromium (.ci/run installs it)"
    return path


def load(page: Path, user_data_dir: Path) -> tuple[str, list[str]]:
    """(the DOM once the page's scripts ran, the console messages Chromium logged)."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console


def screenshot(page: Path, target: Path, user_data_dir: Path, size: str = "1300,1750") -> Path:
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={size}",
         f"--screenshot={target.resolve()}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return target
