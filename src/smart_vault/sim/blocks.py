"""The EBS direct APIs in the simulated world: volumes that write every day, and attacks that encrypt them.

Each volume gets a size, a used fraction and a base daily changed fraction, drawn once from the seed; each
day it rewrites base x a day-to-day factor of its blocks (`FleetWrites`). The figures are GUESSES of a
typical fleet, not AWS figures (AWS publishes none):

- size: root volumes 8, 16 or 30 GiB; data volumes 50, 100, 200 or 500 GiB (uniform choice);
- used fraction: uniform 0.3..0.8;
- base daily changed fraction: lognormal, median 2 %, sigma 0.8 (10th percentile 0.7 %, 90th 5.6 %),
  clipped to 0.1..30 %;
- day to day: lognormal factor, sigma 0.3; weekends x 0.6 (less traffic);
- legitimate bursts (a batch job, a reindex, a log rotation): 2 in 1,000 volume-days, x lognormal median 2,
  sigma 0.4.
An attack (`attack`) rewrites 60-95 % of each volume of an instance at one moment.

`SimEBS` answers ListChangedBlocks / ListSnapshotBlocks from `ebs_blocks` (real paging, empty pages with a
NextToken) for the primary region's snapshots, counts every page as a request and applies the per-account
request rate (50 a second, burst 50: GUESS of the burst) with `ThrottlingException`.
"""

from __future__ import annotations

import math
import random
from typing import Any

from botocore.exceptions import ClientError

from smart_vault.local.ebs_blocks import BlockModel, page

RATE_PER_SECOND = 50.0
BURST = 50.0
ROOT_SIZES = (8, 16, 30)
DATA_SIZES = (50, 100, 200, 500)
DAY = 86400.0


class FleetWrites:
    """The seeded write model of every volume (pure given the seed)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.sizes: dict[str, int] = {}
        self.base: dict[str, float] = {}

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("/".join(map(str, (self.seed, *parts))))  # noqa: S311  # nosec B311 - simulation

    def add_volume(self, volume_id: str, root: bool, model: BlockModel) -> None:
        rng = self._rng("volume", volume_id)
        self.sizes[volume_id] = rng.choice(ROOT_SIZES if root else DATA_SIZES)
        model.volume(volume_id).used_fraction = rng.uniform(0.3, 0.8)
        self.base[volume_id] = min(max(0.02 * math.exp(rng.gauss(0.0, 0.8)), 0.001), 0.30)

    def daily(self, volume_id: str, day: int) -> float:
        rng = self._rng("day", volume_id, day)
        fraction = self.base.get(volume_id, 0.0) * math.exp(rng.gauss(0.0, 0.3))
        if day % 7 in (5, 6):
            fraction *= 0.6
        if rng.random() < 0.002:
            fraction *= 2.0 * math.exp(rng.gauss(0.0, 0.4))
        return min(fraction, 0.95)


class SimEBS:
    """The EBS direct client of the primary region, on the world's clock."""

    def __init__(self, world: Any, region: str, fleet: FleetWrites, model: BlockModel) -> None:
        self.world, self.region, self.fleet, self.model = world, region, fleet, model
        self.tokens, self.stamp = BURST, world.clock
        self.throttled = 0

    def _take(self, action: str) -> None:
        with self.world.api_lock:
            self.world.request(None, action)
            now = self.world.clock
            self.tokens = min(BURST, self.tokens + (now - self.stamp) * RATE_PER_SECOND)
            self.stamp = now
            if self.tokens < 1.0:
                self.throttled += 1
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, action
                )
            self.tokens -= 1.0

    def _snapshot(self, snapshot_id: str, action: str) -> dict[str, Any]:
        item = self.world.snapshots[self.region].get(snapshot_id)
        if item is None or item["State"] != "completed":
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": f"no snapshot {snapshot_id}"}},
                action,
            )
        return item

    def list_changed_blocks(self, FirstSnapshotId, SecondSnapshotId, MaxResults=None, NextToken=None):
        self._take("ListChangedBlocks")
        first = self._snapshot(FirstSnapshotId, "ListChangedBlocks")
        second = self._snapshot(SecondSnapshotId, "ListChangedBlocks")
        volume = second["VolumeId"]
        size = self.fleet.sizes.get(volume, 8)
        count = self.model.changed_blocks(
            volume, first["StartTime"].timestamp(), second["StartTime"].timestamp(), size
        )
        return page(count, size, MaxResults, NextToken, changed=True)

    def list_snapshot_blocks(self, SnapshotId, MaxResults=None, NextToken=None):
        self._take("ListSnapshotBlocks")
        item = self._snapshot(SnapshotId, "ListSnapshotBlocks")
        volume = item["VolumeId"]
        size = self.fleet.sizes.get(volume, 8)
        count = self.model.written_blocks(volume, item["StartTime"].timestamp(), size)
        return page(count, size, MaxResults, NextToken, changed=False)


def attack(model: BlockModel, fleet: FleetWrites, volume_ids: list[str], at: float) -> dict[str, float]:
    """Encrypt the volumes at `at`: each rewrites a uniform 60-95 % of its blocks. Returns the fractions."""
    fractions = {}
    for volume_id in volume_ids:
        fractions[volume_id] = fleet._rng("attack", volume_id).uniform(0.60, 0.95)
        model.write(volume_id, fractions[volume_id], at)
    return fractions
