"""The security suite reuses the fault suite's fixtures (tests/faults/fault_fixtures.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from fault_fixtures import fast_pacing, faults, retry_clock, world

__all__ = ["fast_pacing", "faults", "retry_clock", "world"]
