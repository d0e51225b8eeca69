"""Backup: the scheduled run, snapshot-completion events, DR copies and pruning.

`smart_vault.backup.handler` is the Lambda entry point (`entry.handler`). Modules:
- `entry`: the handler: parses the event, loads settings, runs, reports;
- `events`: which event this is (pure); `run`: a full run, a completion event, a continuation;
- `snapshots`: snapshot sets, their tags and the DR copies; `retention`: what may be pruned (pure);
- `prune`: deleting what retention selected; `report`: the run report and its notification (pure).

`handler` is imported on first use (PEP 562): the restore functions import `backup.metadata` and
`backup.retention` only, and must not pay for the backup run's imports in their cold start.
"""

from typing import Any

__all__ = ["handler"]


def __getattr__(name: str) -> Any:
    if name == "handler":
        from smart_vault.backup.entry import handler

        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
