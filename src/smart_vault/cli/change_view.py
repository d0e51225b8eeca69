"""(v3) What `smart-vault recovery-points` shows of change rates: the columns of each recovery point and a
small history per volume, one bar per recovery point (oldest first), so that a person sees the spike."""

from __future__ import annotations

from typing import Any

from smart_vault.change_rate import GIB, sparkline


def change_size(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= GIB:
        return f"{value / GIB:.1f} GiB"
    return f"{value / 2**20:.0f} MiB"


def change_cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.2f}"


def change_history(answer: dict[str, Any]) -> str:
    """One line per source volume: its measured changes, oldest to newest, as a sparkline and the last figure."""
    points = list(reversed(answer.get("recovery_points") or []))  # the API answers newest first
    history: dict[str, list[int | None]] = {}
    for point in points:
        for volume in point.get("volumes") or []:
            history.setdefault(volume.get("source_volume") or "?", []).append(volume.get("changed_bytes"))
    lines = []
    for volume_id, values in sorted(history.items()):
        if all(v is None for v in values):
            continue
        lines.append(f"  {volume_id:<22} {sparkline(values)}  last {change_size(values[-1])}")
    if not lines:
        return ""
    return "change per recovery point (oldest -> newest):\n" + "\n".join(lines)
