"""Restore drills: every protected instance proven restorable on a schedule, its recovery time measured.

`smart_vault.drill.handler` is the Lambda entry point (`entry.handler`). Modules:
- `entry`: the handler: parses the event, loads settings, runs, publishes the report and the metrics;
- `selection`: which recovery points a run drills (pure); `run`: the drills themselves, in parallel, each a
  full-instance restore (`smart_vault.restore.instance`) into the drill network, validated, timed, torn down;
- `results`: the drill results table (latest per instance, history per instance).
"""

from smart_vault.drill.entry import handler

__all__ = ["handler"]
