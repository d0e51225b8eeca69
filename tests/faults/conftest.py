"""Fixtures of the fault-injection suite: an injector on every client the product gets, quick retries."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The restore tests' moto world and helpers (tests/functional/restore_fixtures.py) are reused as they are.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))

from injection import FaultInjector, RetryClock, fast_retries


@pytest.fixture
def retry_clock(monkeypatch) -> RetryClock:
    return fast_retries(monkeypatch)


@pytest.fixture
def faults(monkeypatch, retry_clock) -> FaultInjector:
    """An injector hooked into `smart_vault.aws.client`, with no fault armed yet."""
    return FaultInjector(seed=20261127).install(monkeypatch)
