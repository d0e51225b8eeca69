"""Restore drills: every protected instance proven restorable on a schedule, its recovery time measured.

`smart_vault.drill.handler` is the Lambda entry point (`entry.handler`). Modules:
- `entry`: the handler: parses the event, loads settings, runs, publishes the report and the metrics;
- `selection`: which recovery points a run drills (pure); `candidates`: the recovery points of the region;
- `run`: the drills side by side and the report; `one`: one drill, a full-instance restore by the restore
  engine (`smart_vault.restore.engine`) into the drill network, validated (`validation`), timed, torn down;
  `sweep`: first in every run, what earlier drills left when Lambda ended them before their teardown;
  `records`: statuses, request, clients and times of the records;
- `results`: the drill results table (latest per instance, history per instance).
"""

from smart_vault.drill.entry import handler

__all__ = ["handler"]
