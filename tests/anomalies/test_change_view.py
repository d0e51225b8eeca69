"""`smart-vault recovery-points` shows suspect, held, changed bytes, cost, and a change history per volume."""

from __future__ import annotations

from smart_vault.change_rate import GIB
from smart_vault.cli.recovery_points import recovery_point_table


def point(set_id, day, changed, suspect=False, held=False):
    return {
        "backup_set_id": set_id,
        "instance_id": "i-0123456789abcdef0",
        "run_id": "r",
        "created_at": f"2026-06-{day:02d}T01:00:00Z",
        "age_seconds": 3600,
        "complete": True,
        "suspect": suspect,
        "held": held,
        "changed_bytes": None if changed is None else changed + GIB // 8,
        "estimated_monthly_cost_usd": None if changed is None else (changed + GIB // 8) / GIB * 0.05,
        "instance": {"name": "web-1", "instance_type": "t3.small", "platform": "Linux/UNIX"},
        "volumes": [
            {"source_volume": "vol-root", "changed_bytes": None if changed is None else GIB // 8},
            {"source_volume": "vol-data", "changed_bytes": changed},
        ],
    }


def test_the_table_marks_the_suspect_and_held_points_and_draws_the_spike():
    answer = {
        "region": "eu-west-1",
        "recovery_points": [  # newest first, as the API answers
            point("bset-4", 4, 7 * GIB, suspect=True),
            point("bset-3", 3, GIB // 4, held=True),
            point("bset-2", 2, GIB // 4),
            point("bset-1", 1, None),
        ],
    }
    text = recovery_point_table(answer)
    lines = text.splitlines()
    header = lines[1]  # lines[0] names the instance
    assert "SUSPECT" in header and "HELD" in header and "CHANGED" in header and "COST/MONTH" in header
    row4 = next(line for line in lines if line.startswith("bset-4"))
    row3 = next(line for line in lines if line.startswith("bset-3"))
    assert "SUSPECT" in row4 and "7.1 GiB" in row4 and "$0.36" in row4
    assert "held" in row3 and "SUSPECT" not in row3
    data = next(line for line in lines if "vol-data" in line)
    assert data.split()[1] == "▁▁█" and "last 7.0 GiB" in data  # oldest first; the unmeasured one a gap
    assert "change per recovery point" in text
