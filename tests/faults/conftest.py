"""The fault-injection suite's fixtures live in tests/support/fault_world.py (the security suite uses them too)."""

from support.fault_world import fast_pacing, faults, retry_clock, world

__all__ = ["fast_pacing", "faults", "retry_clock", "world"]
