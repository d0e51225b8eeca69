"""(v3) The retention invariants of the simulated week can fail: with a rule of the contract taken away, the
simulation catches what it forbids (so that the zeros of `test_copy_pipeline_sim` mean something)."""

from __future__ import annotations

from smart_vault.backup import prune
from smart_vault.backup.snapshot_model import Snapshot
from smart_vault.sim.invariants import newest_complete_set
from smart_vault.sim.scenario import copy_pipeline, run_scenario


def small_week(instances: int, days: int):
    scenario = copy_pipeline(instances=instances, days=days, seed=7)
    scenario.params.copy_limit = 2
    return run_scenario(scenario)


def test_without_the_copied_once_record_the_simulation_sees_copies_made_twice(monkeypatch):
    monkeypatch.setattr(Snapshot, "dr_copied", property(lambda self: False))
    monkeypatch.setattr(prune, "unrecorded_copies", lambda primaries, dr_snapshots: set())
    figures = small_week(instances=20, days=4)
    assert figures["copies_made_twice"] > 0


def _item(sid, set_id, device, state, minute, size="2"):
    tags = {
        "smart-vault:backup-set": set_id,
        "smart-vault:device": device,
        "smart-vault:set-size": size,
    }
    return {
        "SnapshotId": sid,
        "State": state,
        "StartTime": minute,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def test_the_invariants_oracle_counts_devices_not_snapshots():
    items = [
        _item("a", "old", "/dev/xvda", "completed", 1),
        _item("b", "old", "/dev/sdf", "completed", 1),
        _item("c", "new", "/dev/xvda", "completed", 2),
        _item("d", "new", "/dev/xvda", "completed", 3),  # a duplicate of /dev/xvda
        _item("e", "new", "/dev/sdf", "pending", 2),
    ]
    assert newest_complete_set(items) == "old"
    assert newest_complete_set([*items[:4], _item("e", "new", "/dev/sdf", "completed", 2)]) == "new"
    assert newest_complete_set(items[1:]) is None
