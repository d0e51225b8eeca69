"""The ransomware scenario, shortened: the real handler with the simulated EBS direct APIs, normal daily
change, then an attack; detection, false alarms, the held clean point, the drill's and the restore's choice.
The full size (500 x 3 volumes, 28 days, 5 attacked) is `bench/run.py --scenario ransomware`."""

from __future__ import annotations

import pytest

from smart_vault.sim.ransomware import ransomware
from smart_vault.sim.scenario import run_scenario


@pytest.fixture(scope="module")
def attacked():
    return run_scenario(ransomware(instances=40, days=12, attacked=3, seed=11))


def test_every_attacked_instance_is_detected_at_its_first_snapshot_after_the_attack(attacked):
    anomaly = attacked["anomaly"]
    assert len(anomaly["attacked_instances"]) == 3
    assert anomaly["detected_at_first_snapshot_after"] == 3
    assert anomaly["notifications"] == 3  # one per instance, not one per volume or per night after
    assert anomaly["false_alarms"] == 0
    assert anomaly["normal_volume_days"] > 1000


def test_the_drill_after_the_attack_and_the_restore_at_the_end_take_the_held_clean_point(attacked):
    anomaly = attacked["anomaly"]
    assert anomaly["drill_picks_last_clean"] == 3
    assert all(d["skipped_suspect"] for d in anomaly["drill"].values())
    assert anomaly["held_and_restorable_at_end"] == 3
    for row in anomaly["restore_at_end"].values():
        assert all(r["warnings"] == 1 for r in row.values())  # the restore names what it skipped


def test_measuring_costs_a_few_paced_requests_and_the_copy_pipeline_is_unharmed(attacked):
    anomaly = attacked["anomaly"]
    assert 1 <= anomaly["ebs_direct_requests_per_volume_day"] <= 20
    assert (attacked["duplicates"], attacked["lost"], attacked["unsafe_deletions"]) == (0, 0, 0)
    assert attacked["invocation_errors"] == [] and attacked["spurious_failures"] == 0
    assert attacked["uncopied_at_end"] == 0
