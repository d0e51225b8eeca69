"""Drill tests: a moto world of protected instances (tests/support/drill_world.py), drilled with the real
full-instance restore engine (`smart_vault.restore.engine`)."""

from __future__ import annotations

import pytest

from support.drill_world import setup_world
from support.fault_world import faults, retry_clock

__all__ = ["faults", "retry_clock"]


@pytest.fixture
def world(moto_aws, monkeypatch, retry_clock):
    """Three protected instances with a complete recovery point each; waiter polls without their delays."""
    return setup_world(monkeypatch, count=3)
