"""`smart-vault recovery-points`: the table of one instance's recovery points, one column per field.

Columns are data (`COLUMNS`): a field the API adds to a recovery point (a flag, a measured size, a cost) is
one more `Column` here, shown as `-` where an older API leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smart_vault.cli.client import format_age, format_table


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], Any]


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")


COLUMNS: tuple[Column, ...] = (
    Column("BACKUP SET", lambda p: p.get("backup_set_id")),
    Column("INSTANCE", lambda p: p.get("instance_id")),
    Column("CREATED", lambda p: p.get("created_at")),
    Column("AGE", lambda p: format_age(p.get("age_seconds"))),
    Column("COMPLETE", lambda p: _yes_no(p.get("complete"))),
    Column("APP-CONSISTENT", lambda p: _yes_no(p.get("app_consistent"))),
    Column("VOLUMES", lambda p: len(p.get("volumes") or [])),
    Column("TYPE", lambda p: (p.get("instance") or {}).get("instance_type")),
    Column("PLATFORM", lambda p: (p.get("instance") or {}).get("platform")),
)


def instance_ids_of(answer: Any) -> list[str]:
    """The instances the answer is about: its `instance_id`, else those of its recovery points (a query by
    name answers `instance_id: null`), newest first, each once."""
    if not isinstance(answer, dict):
        return []
    if isinstance(answer.get("instance_id"), str):
        return [answer["instance_id"]]
    points = answer.get("recovery_points") or []
    return list(dict.fromkeys(p["instance_id"] for p in points if isinstance(p.get("instance_id"), str)))


def recovery_point_table(answer: dict[str, Any], columns: tuple[Column, ...] = COLUMNS) -> str:
    """The recovery points the API answered: a line naming the instance (its id is what `restore
    --instance-id` takes), then one row per recovery point, newest first."""
    instance = ", ".join(instance_ids_of(answer)) or "-"
    name = f" ({answer['name']})" if answer.get("name") else ""
    heading = f"instance {instance}{name} in {answer.get('region')}"
    points = answer.get("recovery_points") or []
    if not points:
        return f"{heading}: no recovery point"
    rows = [[column.value(point) for column in columns] for point in points]
    restore_hint = (
        f"\nrestore it with: smart-vault restore --instance-id {instance}"
        if answer.get("instance_id")
        else ""
    )
    return f"{heading}\n{format_table([c.header for c in columns], rows)}{restore_hint}"
