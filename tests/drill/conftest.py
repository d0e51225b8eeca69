"""Drill tests: a moto world of protected instances (tests/support/drill_world.py) and the restore engine.

The engine is `smart_vault.restore.instance` when it is there, else the interface's stand-in
(tests/support/instance_engine_double.py); the header of the test run says which one ran.
"""

from __future__ import annotations

import pytest

from smart_vault.drill import run as drill_run
from support import instance_engine_double
from support.drill_world import setup_world
from support.fault_world import faults, retry_clock

__all__ = ["faults", "retry_clock"]


def pytest_report_header(config):
    engine = instance_engine_double.engine()
    which = (
        "the stand-in (tests/support/instance_engine_double.py)"
        if instance_engine_double.is_double(engine)
        else engine.__name__
    )
    return f"drill tests: restore engine = {which}"


@pytest.fixture
def engine(monkeypatch):
    module = instance_engine_double.engine()
    monkeypatch.setattr(drill_run, "default_engine", lambda: module)
    return module


@pytest.fixture
def world(moto_aws, monkeypatch, engine, retry_clock):
    """Three protected instances with a complete recovery point each; waiter polls without their delays."""
    return setup_world(monkeypatch, count=3)
