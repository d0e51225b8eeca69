"""The fault-injection suite's fixtures live in fault_fixtures.py (the security suite uses them too)."""

from fault_fixtures import fast_pacing, faults, retry_clock, world

__all__ = ["fast_pacing", "faults", "retry_clock", "world"]
