"""The pure rules of change-rate anomalies: judging, lineage, cost, the clean point, the sparkline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smart_vault.change_rate import (
    CHANGED,
    GIB,
    WRITTEN,
    Measurement,
    choose_clean_point,
    history_for_judging,
    is_new_lineage,
    judge,
    lineage_parent,
    monthly_cost_usd,
    parse_bytes,
    set_changed_bytes,
    sparkline,
)

T0 = datetime(2026, 6, 1, 1, tzinfo=UTC)


def days(values, method=CHANGED, suspect=()):
    return [
        Measurement(f"snap-{i}", "vol-1", T0 + timedelta(days=i), int(v), method, 100, i in suspect)
        for i, v in enumerate(values)
    ]


def test_a_change_five_times_the_median_and_over_a_gib_is_anomalous():
    history = days([2 * GIB, 1 * GIB, 3 * GIB])  # median 2 GiB
    verdict = judge(10 * GIB, history, factor=5, min_bytes=GIB)
    assert verdict.anomalous
    assert verdict.median_bytes == 2 * GIB
    assert verdict.multiple == pytest.approx(5.0)
    assert not judge(10 * GIB - 1, history, factor=5, min_bytes=GIB).anomalous


def test_too_few_measurements_are_never_judged():
    history = days([GIB, GIB])
    verdict = judge(500 * GIB, history, factor=5, min_bytes=GIB)
    assert not verdict.anomalous
    assert verdict.median_bytes is None
    assert "3 are needed" in verdict.reason


def test_changes_under_the_minimum_are_never_anomalous():
    history = days([1_000_000] * 5)
    assert not judge(GIB - 1, history, factor=5, min_bytes=GIB).anomalous
    assert judge(GIB, history, factor=5, min_bytes=GIB).anomalous


def test_factor_zero_turns_detection_off():
    assert not judge(900 * GIB, days([GIB] * 10), factor=0, min_bytes=0).anomalous


def test_a_quiet_volume_whose_median_is_zero_is_anomalous_once_it_changes_a_gib():
    verdict = judge(2 * GIB, days([0, 0, 0]), factor=5, min_bytes=GIB)
    assert verdict.anomalous and verdict.multiple is None


def test_history_is_the_newest_fourteen_true_changes_neither_written_nor_suspect():
    measurements = days([GIB] * 20, suspect={18}) + days([999 * GIB], method=WRITTEN)
    chosen = history_for_judging(measurements, before=T0 + timedelta(days=30))
    assert len(chosen) == 14
    assert all(m.method == CHANGED and not m.suspect for m in chosen)
    assert chosen[0].snapshot_id == "snap-19"
    assert "snap-18" not in {m.snapshot_id for m in chosen}
    # Only measurements older than the judged snapshot count.
    assert len(history_for_judging(measurements, before=T0 + timedelta(days=2))) == 2


def test_the_lineage_parent_is_the_newest_older_measurement():
    history = days([GIB, GIB, GIB])
    assert lineage_parent(history, "snap-new", T0 + timedelta(days=5)).snapshot_id == "snap-2"
    assert lineage_parent(history, "snap-1", T0 + timedelta(days=1)).snapshot_id == "snap-0"
    assert lineage_parent([], "snap-x", T0) is None


def test_a_first_snapshot_or_a_volume_that_shrank_starts_a_new_lineage():
    parent = Measurement("snap-0", "vol-1", T0, GIB, CHANGED, 100)
    assert is_new_lineage(None, 100)
    assert is_new_lineage(parent, 50)  # EBS volumes only grow: a smaller one is another disk
    assert not is_new_lineage(parent, 100)
    assert not is_new_lineage(parent, 200)  # grown: same lineage


def test_the_cost_estimate_is_gib_of_change_times_the_price():
    assert monthly_cost_usd(10 * GIB, 0.05) == pytest.approx(0.5)
    assert monthly_cost_usd(GIB // 2, 0.05) == pytest.approx(0.025)
    assert monthly_cost_usd(None, 0.05) is None
    assert monthly_cost_usd(0, 0.05) == 0


def test_a_set_has_changed_bytes_only_when_every_volume_was_measured():
    assert set_changed_bytes([GIB, 2 * GIB]) == 3 * GIB
    assert set_changed_bytes([GIB, None]) is None
    assert set_changed_bytes([]) is None
    assert parse_bytes("123") == 123 and parse_bytes("x") is None and parse_bytes(None) is None


def point(set_id, day, complete=True, suspect=False):
    return {
        "backup_set_id": set_id,
        "created_at": f"2026-06-{day:02d}T01:00:00Z",
        "complete": complete,
        "suspect": suspect,
    }


def test_the_clean_point_skips_newer_suspect_and_incomplete_ones():
    points = [
        point("a", 1),
        point("b", 2),
        point("c", 3, suspect=True),
        point("d", 4, suspect=True),
        point("e", 5, complete=False),
    ]
    chosen, skipped = choose_clean_point(points)
    assert chosen["backup_set_id"] == "b"
    assert [p["backup_set_id"] for p in skipped] == ["d", "c"]
    assert choose_clean_point([point("x", 1, suspect=True)]) == (None, [point("x", 1, suspect=True)])


def test_the_sparkline_scales_to_the_largest_day():
    assert sparkline([1, 1, 8]) == "▂▂█"
    assert sparkline([0, 4, 8]) == "▁▅█"
    assert sparkline([0, None, 4]) == "▁ █"
    assert sparkline([]) == ""
