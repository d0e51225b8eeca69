"""Backup: the scheduled run, snapshot-completion events, DR copies and pruning.

`smart_vault.backup.handler` is the Lambda entry point (`entry.handler`). Modules:
- `entry`: the handler: parses the event, loads settings, runs, reports;
- `events`: which event this is (pure); `run`: a full run, a completion event, a continuation;
- `snapshots`: snapshot sets, their tags and the DR copies; `retention`: what may be pruned (pure);
- `prune`: deleting what retention selected; `report`: the run report and its notification (pure).
"""

from smart_vault.backup.entry import handler

__all__ = ["handler"]
