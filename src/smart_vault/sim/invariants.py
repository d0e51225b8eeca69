"""(v3) Invariants of retention and copying, checked by the simulated world at every step that could break them.

- `broken_recovery_points`: at every deletion, in either region, whether the instance's newest complete
  recovery point there (before the deletion) is no longer complete after it. Completeness is computed here
  independently of the product (`backup.recovery_sets`): distinct `smart-vault:device` values with a
  `completed` snapshot, at least the set's `smart-vault:set-size`.
- `copies_made_twice`: at every `CopySnapshot` that starts a copy, whether its primary had a copy that
  completed before (even one pruned since).
- `copies_wasted_on_pruned`: copy work thrown away by a deletion: a primary deleted while a copy of it was
  pending, or a copy deleted while pending.
- copies of a primary whose copies fail for good (`SimParams.permanent_copy_failure_rate`): when each started,
  for the figure "retries per day" (`retries_per_day`: in any 24 h from its third try on).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

INSTANCE_TAG = "smart-vault:source-instance"
SET_TAG = "smart-vault:backup-set"
DEVICE_TAG = "smart-vault:device"
SIZE_TAG = "smart-vault:set-size"
DAY = 86400.0


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def newest_complete_set(items: list[dict[str, Any]]) -> str | None:
    """The newest complete backup set among one instance's snapshot items of one region (None: none)."""
    sets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        set_id = _tags(item).get(SET_TAG)
        if set_id:
            sets[set_id].append(item)
    best: tuple[Any, str] | None = None
    for set_id, members in sets.items():
        tags = _tags(members[0])
        try:
            size = int(tags.get(SIZE_TAG, ""))
        except ValueError:
            continue
        done = {_tags(m).get(DEVICE_TAG) for m in members if m["State"] == "completed"}
        if len(done) >= size:
            key = (min(m["StartTime"] for m in members), set_id)
            if best is None or key > best:
                best = key
    return best[1] if best else None


class RetentionWatch:
    """Counts what the v3 rules forbid, as it happens in the simulated world."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.broken_recovery_points = 0
        self.broken_samples: list[dict[str, str]] = []
        self.copies_made_twice = 0
        self.copies_wasted_on_pruned = 0
        self.copied_once: set[str] = set()  # primaries whose copy completed at some time
        self.doomed_starts: dict[str, list[float]] = defaultdict(list)

    def _instance_items(self, region: str, instance_id: str) -> list[dict[str, Any]]:
        ids = self.world.by_tag[region].get((INSTANCE_TAG, instance_id), set())
        snaps = self.world.snapshots[region]
        return [snaps[i] for i in ids if i in snaps]

    def before_delete(self, region: str, item: dict[str, Any]) -> None:
        """A snapshot is about to be deleted: would its instance lose its newest complete recovery point?"""
        tags = _tags(item)
        instance_id = tags.get(INSTANCE_TAG)
        if instance_id:
            items = self._instance_items(region, instance_id)
            newest = newest_complete_set(items)
            if newest is not None and newest == tags.get(SET_TAG):
                after = [i for i in items if i["SnapshotId"] != item["SnapshotId"]]
                if newest_complete_set(after) != newest:
                    self.broken_recovery_points += 1
                    if len(self.broken_samples) < 5:
                        self.broken_samples.append(
                            {
                                "region": region,
                                "instance": instance_id,
                                "set": newest,
                                "snapshot": item["SnapshotId"],
                            }
                        )
        self._count_waste(region, item)

    def _count_waste(self, region: str, item: dict[str, Any]) -> None:
        if region == self.world.primary:
            pending = [c for c in self.world.copies_of.get(item["SnapshotId"], []) if c["State"] == "pending"]
            self.copies_wasted_on_pruned += len(pending)
        elif item["State"] == "pending":
            self.copies_wasted_on_pruned += 1

    def copy_started(self, source_id: str, doomed: bool) -> None:
        if source_id in self.copied_once:
            self.copies_made_twice += 1
        if doomed:
            self.doomed_starts[source_id].append(self.world.clock)

    def copy_completed(self, source_id: str) -> None:
        self.copied_once.add(source_id)

    def retries_per_day(self) -> tuple[int, int]:
        """(the most copies of one failing-for-good primary started in any 24 h from its third try on, which
        the back-off holds to 4; the most started in the 24 h from its first try, the three in a row
        included). A calendar day can hold 5 when the first three straddle midnight: hence the windows."""
        steady, first_day = 0, 0
        for starts in self.doomed_starts.values():
            first_day = max(first_day, sum(1 for t in starts if t < starts[0] + DAY))
            for index in range(2, len(starts)):
                window = sum(1 for t in starts[index:] if t < starts[index] + DAY)
                steady = max(steady, window)
        return steady, first_day

    def figures(self, start: float) -> dict[str, Any]:
        steady, first_day = self.retries_per_day()
        return {
            "broken_recovery_points": self.broken_recovery_points,
            "broken_recovery_point_samples": self.broken_samples,
            "copies_made_twice": self.copies_made_twice,
            "copies_wasted_on_pruned": self.copies_wasted_on_pruned,
            "failing_copy_primaries": len(self.doomed_starts),
            "failing_copy_retries_per_day_max": steady,
            "failing_copy_tries_first_day_max": first_day,
        }
