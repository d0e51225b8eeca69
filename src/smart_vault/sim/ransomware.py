"""The ransomware scenario: weeks of normal change, then an attack on a few instances; is it seen, and is the
clean point kept and chosen?

The real backup handler runs in the simulated world (`scenario.run_scenario`) with the EBS direct APIs of
`sim/blocks.py`. At `attack_day` + 12 h, `attacked` instances have every volume 60-95 % rewritten. Figures:

- `detected_at_first_snapshot_after`: attacked instances whose ANOMALY notification names the set taken by
  the first run after the attack;
- `false_alarms`, `normal_volume_days`, `false_alarms_per_10000_volume_days`: notifications of instances that
  were not attacked, over the measured days of volumes that were not attacked;
- `drill_day`: at `drill_day` + 12 h the real drill selection (`drill.run.recovery_points_here` and
  `drill.selection.select_drills`) picks, for each attacked instance, the held clean point;
- at the end of the runs: each attacked instance's held point exists complete in both regions and is what a
  full-instance restore that names no point uses (`restore.checks.find_recovery_point`);
- `ebs_direct_requests_per_volume_day` and the throttled EBS direct requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from smart_vault.backup.invocation import Clients
from smart_vault.drill.run import recovery_points_here
from smart_vault.drill.selection import select_drills
from smart_vault.local.ebs_blocks import BlockModel
from smart_vault.restore.checks import find_recovery_point
from smart_vault.sim.blocks import FleetWrites, SimEBS, attack
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.scenario import DAY, Scenario
from smart_vault.sim.world import SimParams
from smart_vault.tags import BACKUP_SET_TAG, HOLD_TAG, SOURCE_INSTANCE_TAG, SUSPECT_TAG

ATTACK_HOUR = 12 * 3600.0


class Ransomware:
    def __init__(self, attacked: int, attack_day: int, drill_day: int, seed: int) -> None:
        self.attacked_count, self.attack_day, self.drill_day, self.seed = (
            attacked,
            attack_day,
            drill_day,
            seed,
        )
        self.days = 0  # the scenario's days of runs (`ransomware()` sets it)
        self.attacked: list[str] = []
        self.attack_at = 0.0
        self.drills: dict[str, dict[str, Any]] = {}
        self.restorable: dict[str, dict[str, Any]] = {}

    def __deepcopy__(self, memo: Any) -> str:  # the scenario's figures name it, nothing more
        return f"Ransomware(attacked={self.attacked_count}, day={self.attack_day})"

    def setup(self, world: Any, clients: Clients) -> Clients:
        start = world.clock
        self.fleet = FleetWrites(self.seed)
        self.model = BlockModel(daily=self.fleet.daily, start=start)
        for instance in world.instances:
            for index, mapping in enumerate(instance["BlockDeviceMappings"]):
                self.fleet.add_volume(mapping["Ebs"]["VolumeId"], index == 0, self.model)
        self.ebs = SimEBS(world, world.primary, self.fleet, self.model)
        rng = world.rng
        self.attacked = sorted(rng.sample([i["InstanceId"] for i in world.instances], self.attacked_count))
        self.attack_at = start + self.attack_day * DAY + ATTACK_HOUR
        volumes = [
            m["Ebs"]["VolumeId"]
            for i in self.attacked
            for m in world.instance_by_id[i]["BlockDeviceMappings"]
        ]
        world.at(self.attack_at, lambda: attack(self.model, self.fleet, volumes, self.attack_at))
        world.at(start + self.drill_day * DAY + ATTACK_HOUR, lambda: self._drill(world))
        self.runs_end = start + self.days * DAY
        world.at(self.runs_end - 60.0, lambda: self._restore(world))
        return Clients(ec2=clients.ec2, dr_ec2=clients.dr_ec2, ledger=clients.ledger, ebs=self.ebs)

    def _drill(self, world: Any) -> None:
        points = [c.point for c in recovery_points_here(cast(Any, SimEC2(world, world.primary)), world.now())]
        plan = select_drills(points, {}, len(self.attacked), instance_ids=self.attacked)
        for point in plan.planned:
            self.drills[point.instance_id] = {
                "backup_set_id": point.backup_set_id,
                "skipped_suspect": list(point.skipped_suspect),
            }

    def _restore(self, world: Any) -> None:
        for instance_id in self.attacked:
            row: dict[str, Any] = {}
            for region in (world.primary, world.dr):
                try:
                    items, warnings = find_recovery_point(
                        cast(Any, SimEC2(world, region)), instance_id, None, region
                    )
                except Exception as exc:  # noqa: BLE001 - a figure: this instance cannot be restored here
                    row[region] = {"error": f"{type(exc).__name__}: {exc}", "held": False}
                    continue
                tags = {t["Key"]: t["Value"] for t in items[0]["Tags"]}
                row[region] = {
                    "backup_set_id": tags[BACKUP_SET_TAG],
                    "held": all(_tag(i, HOLD_TAG) == "true" for i in items),
                    "suspect": any(_tag(i, SUSPECT_TAG) == "true" for i in items),
                    "completed": all(i["State"] == "completed" for i in items),
                    "created_at": min(i["StartTime"] for i in items).isoformat(),
                    "warnings": len(warnings),
                }
            self.restorable[instance_id] = row

    def finish(self, world: Any, sns: Any) -> dict[str, Any]:
        alarms = [
            json.loads(json.loads(m["Message"])["sqs"])
            for m in sns.messages
            if m["MessageAttributes"]["event_type"]["StringValue"] == "anomaly.detected"
        ]
        first_after = self._first_sets_after(world)
        detected = {
            a["instance_id"]
            for a in alarms
            if first_after.get(a["instance_id"]) == a["suspect_backup_set_id"]
        }
        false_alarms = [a for a in alarms if a["instance_id"] not in self.attacked]
        normal, requests = self._measured_volume_days(world)
        days = self.days
        volumes = sum(len(i["BlockDeviceMappings"]) for i in world.instances)
        pre_attack_sets = {i: self._last_set_before(world, i) for i in self.attacked}
        return {
            "anomaly": {
                "attacked_instances": self.attacked,
                "attack_at": datetime.fromtimestamp(self.attack_at, UTC).isoformat(),
                "notifications": len(alarms),
                "detected_at_first_snapshot_after": len(detected),
                "false_alarms": len(false_alarms),
                "false_alarm_samples": false_alarms[:3],
                "normal_volume_days": normal,
                "false_alarms_per_10000_volume_days": round(len(false_alarms) / normal * 10_000, 3)
                if normal
                else None,
                "drill": self.drills,
                "drill_picks_last_clean": sum(
                    1 for i, d in self.drills.items() if d["backup_set_id"] == pre_attack_sets.get(i)
                ),
                "restore_at_end": self.restorable,
                "held_and_restorable_at_end": sum(
                    1
                    for i, row in self.restorable.items()
                    if all(r["held"] and r["completed"] and not r["suspect"] for r in row.values())
                    and all(r.get("backup_set_id") == pre_attack_sets.get(i) for r in row.values())
                ),
                "ebs_direct_requests": requests,
                "ebs_direct_requests_per_volume_day": round(requests / (volumes * days), 3),
                "ebs_direct_throttled": self.ebs.throttled,
            }
        }

    def _sets(self, world: Any, instance_id: str) -> dict[str, float]:
        """Set id -> start of the instance's primary sets, deleted ones included."""
        items = list(world.snapshots[world.primary].values()) + [
            i for r, i in world.deleted if r == world.primary
        ]
        sets: dict[str, float] = {}
        for item in items:
            if _tag(item, SOURCE_INSTANCE_TAG) == instance_id and not _tag(
                item, "smart-vault:source-snapshot"
            ):
                at = item["StartTime"].timestamp()
                set_id = _tag(item, BACKUP_SET_TAG)
                sets[set_id] = min(sets.get(set_id, at), at)
        return sets

    def _first_sets_after(self, world: Any) -> dict[str, str]:
        out = {}
        for instance_id in self.attacked:
            later = [(at, s) for s, at in self._sets(world, instance_id).items() if at > self.attack_at]
            if later:
                out[instance_id] = min(later)[1]
        return out

    def _last_set_before(self, world: Any, instance_id: str) -> str | None:
        earlier = [(at, s) for s, at in self._sets(world, instance_id).items() if at < self.attack_at]
        return max(earlier)[1] if earlier else None

    def _measured_volume_days(self, world: Any) -> tuple[int, int]:
        """Judged measurements of volumes not attacked (one a volume-day), and the EBS direct requests."""
        attacked_volumes = {
            m["Ebs"]["VolumeId"]
            for i in self.attacked
            for m in world.instance_by_id[i]["BlockDeviceMappings"]
        }
        normal = 0
        for pk, items in world.table.items():
            if pk.startswith("change#") and pk[len("change#") :] not in attacked_volumes:
                normal += sum(1 for item in items.values() if item["method"]["S"] == "changed")
        requests = world.requests.get("ListChangedBlocks", 0) + world.requests.get("ListSnapshotBlocks", 0)
        return normal, requests


def _tag(item: Mapping[str, Any], key: str) -> str:
    return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == key), "")


def ransomware(instances: int = 500, days: int = 28, attacked: int = 5, seed: int = 1) -> Scenario:
    """`instances` x 3 volumes for `days` days, an attack on `attacked` instances on day 20, a drill on day 21."""
    extension = Ransomware(attacked, attack_day=min(20, days - 3), drill_day=min(21, days - 2), seed=seed)
    extension.days = days
    return Scenario(
        instances=instances, days=days, drain_days=0.5, params=SimParams(seed=seed), extension=extension
    )
