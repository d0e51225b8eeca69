"""How the anomaly rule was chosen: its false alarms on the simulated fleet's normal days, and how far an
attack stands above them, for a few factors (docs/anomalies.md quotes `bench/run.py --figure false-alarms`).

Pure and fast: the seeded write model of `sim/blocks.py` (the same draws as the ransomware scenario), one
snapshot a day per volume, and the product's own rule (`change_rate.history_for_judging` and `judge`), without
the simulated AWS around it. A false alarm is a normal volume-day the rule calls anomalous.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from smart_vault.change_rate import GIB, Measurement, history_for_judging, judge
from smart_vault.local.ebs_blocks import BLOCK_SIZE, BlockModel
from smart_vault.sim.blocks import FleetWrites

START = datetime(2026, 6, 1, 1, tzinfo=UTC)


def normal_days(volumes: int, days: int, seed: int) -> dict[str, list[int]]:
    """Per volume, the bytes changed each day (the first snapshot's written bytes left out)."""
    fleet, model = FleetWrites(seed), BlockModel()
    model.daily = fleet.daily
    model.start = START.timestamp() - 3600
    changes: dict[str, list[int]] = {}
    for index in range(volumes):
        volume = f"vol-{index:06d}"
        fleet.add_volume(volume, index % 3 == 0, model)
        size = fleet.sizes[volume]
        stamps = [(START + timedelta(days=d)).timestamp() for d in range(days)]
        changes[volume] = [
            model.changed_blocks(volume, stamps[d - 1], stamps[d], size) * BLOCK_SIZE for d in range(1, days)
        ]
    return changes


def judge_days(changes: dict[str, list[int]], factor: float, min_gib: float) -> dict[str, Any]:
    alarms = judged = 0
    for volume, values in changes.items():
        history: list[Measurement] = []
        for day, value in enumerate(values):
            at = START + timedelta(days=day + 1)
            verdict = judge(value, history_for_judging(history, at), factor, int(min_gib * GIB))
            judged += verdict.median_bytes is not None
            alarms += verdict.anomalous
            history.append(Measurement(f"{volume}-{day}", volume, at, value, suspect=verdict.anomalous))
    return {
        "factor": factor,
        "min_gib": min_gib,
        "volume_days": sum(len(v) for v in changes.values()),
        "judged_volume_days": judged,
        "false_alarms": alarms,
        "per_10000_volume_days": round(alarms / judged * 10_000, 3) if judged else None,
    }


def false_alarm_table(volumes: int = 1500, days: int = 28, seed: int = 1) -> list[dict[str, Any]]:
    changes = normal_days(volumes, days, seed)
    return [judge_days(changes, factor, 1.0) for factor in (2.0, 3.0, 4.0, 5.0, 8.0)] + [
        judge_days(changes, 5.0, 0.0)
    ]
