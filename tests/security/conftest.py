"""The security suite reuses the fault suite's fixtures (tests/support/fault_world.py)."""

from support.fault_world import fast_pacing, faults, retry_clock, world

__all__ = ["fast_pacing", "faults", "retry_clock", "world"]
