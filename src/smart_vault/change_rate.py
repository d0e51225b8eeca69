"""Pure rules of change-rate anomalies: is a volume's change anomalous, what a recovery point costs, which
recovery point a restore that names none should use. No AWS here.

The rule (contract "(v3) Change-rate anomalies and clean recovery points"; docs/anomalies.md says why):
a volume's changed bytes are anomalous when they are at least `factor` times the median of its previous
measurements (the newest `HISTORY_MAX`, judged only with at least `HISTORY_MIN` of them) and at least
`min_bytes`. A volume's first snapshot is measured as the bytes written (`ListSnapshotBlocks`): that figure
is its cost, not a change, so it never enters the history the median is taken over.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

HISTORY_MAX = 14
HISTORY_MIN = 3
GIB = 2**30
CHANGED = "changed"  # ListChangedBlocks against the lineage parent
WRITTEN = "written"  # ListSnapshotBlocks of a volume's first snapshot (or a new lineage)
SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Measurement:
    """One primary snapshot's measured change, as the ledger keeps it."""

    snapshot_id: str
    volume_id: str
    start_time: datetime
    changed_bytes: int
    method: str = CHANGED
    volume_size_gib: int = 0
    suspect: bool = False


@dataclass(frozen=True)
class Verdict:
    anomalous: bool
    changed_bytes: int
    median_bytes: float | None  # None: too few measurements to judge
    multiple: float | None  # changed / median, None when there is no median (or it is 0)
    reason: str


def history_for_judging(history: Iterable[Measurement], before: datetime) -> list[Measurement]:
    """The measurements a new one is judged against: true changes (not first-snapshot writes), not suspect
    (an attack must not raise the bar for the next one), older than `before`, newest `HISTORY_MAX` first."""
    usable = [m for m in history if m.method == CHANGED and not m.suspect and m.start_time < before]
    usable.sort(key=lambda m: (m.start_time, m.snapshot_id), reverse=True)
    return usable[:HISTORY_MAX]


def judge(changed_bytes: int, history: Sequence[Measurement], factor: float, min_bytes: int) -> Verdict:
    """Whether `changed_bytes` is anomalous against `history` (already chosen by `history_for_judging`)."""
    if factor <= 0:
        return Verdict(False, changed_bytes, None, None, "detection is off (CHANGE_ANOMALY_FACTOR=0)")
    if len(history) < HISTORY_MIN:
        return Verdict(
            False, changed_bytes, None, None, f"{len(history)} earlier measurements; {HISTORY_MIN} are needed"
        )
    median = float(statistics.median(m.changed_bytes for m in history))
    multiple = changed_bytes / median if median > 0 else None
    if changed_bytes < min_bytes:
        return Verdict(False, changed_bytes, median, multiple, "below CHANGE_ANOMALY_MIN_GIB")
    if multiple is not None and multiple < factor:
        return Verdict(False, changed_bytes, median, multiple, f"under {factor:g} x the median")
    return Verdict(True, changed_bytes, median, multiple, f"at least {factor:g} x the median")


def lineage_parent(
    history: Iterable[Measurement], snapshot_id: str, start_time: datetime
) -> Measurement | None:
    """The volume's newest measured snapshot older than this one (its lineage parent), if any."""
    older = [m for m in history if m.snapshot_id != snapshot_id and m.start_time < start_time]
    return max(older, key=lambda m: (m.start_time, m.snapshot_id), default=None)


def is_new_lineage(parent: Measurement | None, volume_size_gib: int) -> bool:
    """A volume's first snapshot, or one of a smaller volume than its parent's (EBS volumes only grow, so a
    smaller size means the volume was replaced under the same id record): measured as written bytes."""
    if parent is None:
        return True
    return bool(volume_size_gib and parent.volume_size_gib and volume_size_gib < parent.volume_size_gib)


def monthly_cost_usd(changed_bytes: int | None, price_per_gb_month: float) -> float | None:
    """The storage a recovery point adds, per month: its changed bytes in GB of 2^30 bytes x the price."""
    if changed_bytes is None:
        return None
    return round(changed_bytes / GIB * price_per_gb_month, 6)


def parse_bytes(value: str | None) -> int | None:
    """A `smart-vault:changed-bytes` tag as an int; None when absent or unreadable."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number >= 0 else None


def set_changed_bytes(per_volume: Sequence[int | None]) -> int | None:
    """A recovery point's changed bytes: the sum over its volumes, None unless every volume was measured."""
    if not per_volume or any(v is None for v in per_volume):
        return None
    return sum(v for v in per_volume if v is not None)


def choose_clean_point(
    points: Sequence[Mapping[str, object]],
) -> tuple[Mapping[str, object] | None, list[Mapping[str, object]]]:
    """The newest complete recovery point that is not suspect, and the newer complete suspect ones skipped.

    `points` carry `created_at` (sortable), `backup_set_id`, `complete` and `suspect`, in any order.
    """
    ordered = sorted(points, key=lambda p: (str(p["created_at"]), str(p["backup_set_id"])), reverse=True)
    skipped: list[Mapping[str, object]] = []
    for point in ordered:
        if not point.get("complete"):
            continue
        if point.get("suspect"):
            skipped.append(point)
            continue
        return point, skipped
    return None, skipped


def skipped_warning(skipped: Sequence[Mapping[str, object]], chosen: str) -> str:
    names = ", ".join(f"{p['backup_set_id']} ({p['created_at']})" for p in skipped)
    return f"skipped suspect recovery point(s) {names}; restoring the last clean one, {chosen}"


def suspect_warning(backup_set_id: str) -> str:
    return (
        f"recovery point {backup_set_id} is suspect (its change rate was anomalous, see docs/anomalies.md); "
        "restored because it was named"
    )


def sparkline(values: Sequence[int | None]) -> str:
    """One character per value, scaled to the largest (a gap for a missing one)."""
    known = [v for v in values if v is not None]
    top = max(known, default=0)
    chars = []
    for value in values:
        if value is None:
            chars.append(" ")
        elif top <= 0:
            chars.append(SPARK[0])
        else:
            chars.append(SPARK[min(int(value / top * (len(SPARK) - 1) + 0.5), len(SPARK) - 1)])
    return "".join(chars)
