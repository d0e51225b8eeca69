"""The rule's false alarms on the simulated fleet's normal days (docs/anomalies.md), and the attack's margin."""

from __future__ import annotations

import pytest

from smart_vault.sim.false_alarms import judge_days, normal_days


@pytest.fixture(scope="module")
def changes():
    return normal_days(volumes=600, days=28, seed=1)


def test_the_default_rule_stays_under_one_false_alarm_per_10000_volume_days(changes):
    default = judge_days(changes, factor=5.0, min_gib=1.0)
    assert default["judged_volume_days"] == 600 * 24  # day 0 is written bytes, days 1-3 build the history
    assert default["per_10000_volume_days"] <= 1.0


def test_a_looser_factor_would_alarm_far_more_often(changes):
    assert judge_days(changes, factor=2.0, min_gib=1.0)["false_alarms"] > 20 * max(
        judge_days(changes, factor=5.0, min_gib=1.0)["false_alarms"], 1
    )


def test_the_normal_daily_change_matches_the_documented_distribution():
    import statistics

    from smart_vault.local.ebs_blocks import BlockModel
    from smart_vault.sim.blocks import FleetWrites

    fleet, model = FleetWrites(seed=1), BlockModel()
    for index in range(600):
        fleet.add_volume(f"vol-{index}", index % 3 == 0, model)
    fractions = sorted(fleet.daily(f"vol-{i}", day) for i in range(600) for day in range(1, 28))
    assert 0.012 <= statistics.median(fractions) <= 0.025  # median 2 %, weekends at 0.6
    assert 0.04 <= fractions[int(0.9 * len(fractions))] <= 0.08  # 90th percentile about 5.6 %
    assert max(fractions) <= 0.95
