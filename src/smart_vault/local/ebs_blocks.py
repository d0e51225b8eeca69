"""The EBS direct APIs' view of volumes, for the simulation and the emulator (moto_ebs.py): which blocks changed.

moto's `ebs` backend only knows snapshots written through `StartSnapshot`/`PutSnapshotBlock`; for snapshots
EC2 takes of volumes it has no blocks at all (and raises KeyError). Here every volume has a write model:

- `used_fraction` of its blocks hold data (what `ListSnapshotBlocks` of its first snapshot returns);
- a daily changed fraction: each simulated day `d` the volume rewrites `daily_fraction(volume, d)` of its
  blocks (drawn by the caller's `daily` function; none by default, so tests write explicitly);
- explicit writes (`write(volume, fraction, at)`): an attack, a demo's "normal day".
Blocks changed between two snapshot times are the union of the writes between them, taken as independent
uniform writes: 1 - prod(1 - f). Block indexes are spread evenly over the volume (GUESS: AWS documents only
that indexes come in ascending order).

Paging, as the EBS FAQ describes it: an answer holds at most `MaxResults` blocks (100..10,000) and scans at
most `SCAN_WINDOW_BLOCKS` block indexes (GUESS: AWS does not document the window); where changed blocks are
scarce a page comes back empty with a `NextToken`. The request rate is a token bucket of `rate` per second
and `burst` (GUESS: the quota gives the rate only); an empty bucket answers `ThrottlingException`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

BLOCK_SIZE = 512 * 1024
BLOCKS_PER_GIB = 2**30 // BLOCK_SIZE
SCAN_WINDOW_BLOCKS = 131_072  # 64 GiB of block indexes per page (GUESS)
MIN_RESULTS, MAX_RESULTS = 100, 10_000
DAY = 86400.0


@dataclass
class VolumeWrites:
    used_fraction: float = 0.5
    writes: list[tuple[float, float]] = field(default_factory=list)  # (epoch seconds, fraction)


class BlockRange(Sequence[dict[str, Any]]):
    """Blocks k in [first, last) of `count` spread over `size` indexes, built only when read (the
    simulation's pages hold thousands of blocks that the product only counts)."""

    def __init__(self, first: int, last: int, count: int, size: int, changed: bool) -> None:
        self.first, self.last, self.total, self.size, self.changed = first, last, count, size, changed

    def __len__(self) -> int:
        return max(self.last - self.first, 0)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._block((self.first + index) * self.size // self.total)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The blocks in order, as indexing gives them (without Sequence's bounds check per block: a page is
        listed whole before it is answered)."""
        size, total = self.size, self.total
        return (self._block(k * size // total) for k in range(self.first, self.last))

    def _block(self, block: int) -> dict[str, Any]:
        if self.changed:
            return {"BlockIndex": block, "FirstBlockToken": f"t1-{block}", "SecondBlockToken": f"t2-{block}"}
        return {"BlockIndex": block, "BlockToken": f"t-{block}"}


class BlockModel:
    """Volumes' writes over time, and the pages of ListChangedBlocks / ListSnapshotBlocks they give."""

    def __init__(self, daily: Callable[[str, int], float] | None = None, start: float = 0.0) -> None:
        self.volumes: dict[str, VolumeWrites] = {}
        self.daily = daily  # (volume id, day index) -> fraction rewritten that day
        self.start = start  # epoch seconds of day 0

    def volume(self, volume_id: str) -> VolumeWrites:
        return self.volumes.setdefault(volume_id, VolumeWrites())

    def write(self, volume_id: str, fraction: float, at: float) -> None:
        self.volume(volume_id).writes.append((at, min(max(fraction, 0.0), 1.0)))

    def changed_fraction(self, volume_id: str, after: float, upto: float) -> float:
        """The fraction of the volume's blocks written in (after, upto]."""
        unchanged = 1.0
        for at, fraction in self.volume(volume_id).writes:
            if after < at <= upto:
                unchanged *= 1.0 - fraction
        if self.daily is not None and upto > after:
            first = 0 if math.isinf(after) else int((after - self.start) // DAY)
            last = int((upto - self.start) // DAY)
            for day in range(max(first, 0), last + 1):
                lo, hi = self.start + day * DAY, self.start + (day + 1) * DAY
                overlap = max(min(hi, upto) - max(lo, after), 0.0) / DAY
                unchanged *= 1.0 - self.daily(volume_id, day) * overlap
        return 1.0 - unchanged

    def changed_blocks(self, volume_id: str, after: float, upto: float, size_gib: int) -> int:
        return round(self.changed_fraction(volume_id, after, upto) * size_gib * BLOCKS_PER_GIB)

    def written_blocks(self, volume_id: str, upto: float, size_gib: int) -> int:
        used = self.volume(volume_id).used_fraction
        fraction = 1.0 - (1.0 - used) * (1.0 - self.changed_fraction(volume_id, float("-inf"), upto))
        return round(min(fraction, 1.0) * size_gib * BLOCKS_PER_GIB)


def page(
    count: int, size_gib: int, max_results: int | None, token: str | None, changed: bool
) -> dict[str, Any]:
    """One page of `count` blocks spread over a volume of `size_gib`, from `token` (a block index)."""
    size = max(size_gib * BLOCKS_PER_GIB, 1)
    limit = min(max(int(max_results or MAX_RESULTS), MIN_RESULTS), MAX_RESULTS)
    start = int(token) if token else 0
    end = min(start + SCAN_WINDOW_BLOCKS, size)
    # Blocks k sit at floor(k * size / count): those in [start, end) are k in [ceil(start*count/size), ...).
    first = math.ceil(start * count / size) if count else 0
    last = math.ceil(end * count / size) if count else 0
    if last - first > limit:
        last = first + limit
        end = (last - 1) * size // count + 1
    answer: dict[str, Any] = {
        "ChangedBlocks" if changed else "Blocks": BlockRange(first, last, count, size, changed),
        "BlockSize": BLOCK_SIZE,
        "VolumeSize": size_gib,
    }
    if end < size:
        answer["NextToken"] = str(end)
    return answer
