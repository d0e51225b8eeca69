"""An in-memory EC2 (two regions), DynamoDB and EventBridge with a virtual clock and seeded randomness.

Why not moto: moto completes snapshots and copies at once, has no clock, and needs seconds per describe of
thousands of snapshots; 1,500 volumes over 7 days means tens of thousands of invocations. This world answers
only what the backup function sends (same operations, parameters, error codes) and keeps time itself.

Modelled (the numbers are guesses, marked GUESS, not AWS figures):
- snapshots stay `pending` for a lognormal while (GUESS: first of a volume 30 min median, later 5 min, for a
  volume of `reference_size_gib`; (v3) scaled by each volume's size over it: AWS documents that a first
  snapshot copies every written block and later ones the changed blocks, so larger volumes take longer;
  linear in size is a GUESS), so the volumes of one set complete at different times;
- copies stay `pending` for a lognormal while (first copy of a volume: `first_copy_median_s`, later ones:
  `incremental_copy_median_s`, sigma 0.5 GUESS; not scaled by size); `copy_failure_rate` of them end in
  `error`; (v3) `permanent_copy_failure_rate` of the primaries fail every copy (a key the DR region cannot
  use: GUESS that such a copy is accepted, stays pending as long as any, then ends in `error`);
- (v3) EBS Snapshot Lock per region (`local.snapshot_lock`, as AWS documents it): LockSnapshot,
  UnlockSnapshot, DescribeLockedSnapshots, and DeleteSnapshot's refusal of a locked snapshot;
- (v3) `invariants.RetentionWatch` checks at every deletion and copy that no instance loses its newest
  complete recovery point in a region and that no primary is copied twice;
- at most `copy_limit` (20) copies pending per destination region: `ResourceLimitExceeded` beyond;
- a created snapshot is invisible to describes (and answers `InvalidSnapshot.NotFound` to CreateTags) for
  a uniform 0..`invisible_max_s` seconds;
- EventBridge is at least once: each event is dropped with `drop_rate`, duplicated with `duplicate_rate`,
  delivered after a uniform 0.5..`max_delay_s` s delay (so out of order);
- EC2's request-token buckets per action (`throttle.py`, from the EC2 developer guide): every request, and
  every page of a describe, takes a token; an empty bucket answers `RequestLimitExceeded`, which botocore's
  standard retry (replayed in virtual time by `throttle.RetryingCall`) turns into waits;
- describes answer in pages of the requested `MaxResults` (1000 at most), each page one request;
- overlapping invocations (`overlap_rate`): at a ledger write or a CopySnapshot, another delivery due within
  `overlap_window_s` runs there and then, to its end, before the interrupted invocation goes on: the two
  interleave at the ledger as concurrent Lambdas do;
- invocations cut off at their time limit: `kill_after` makes the N-th simulated call of an invocation
  raise `InvocationKilled` (a BaseException, as the runtime's end is no error the code can catch).
Describes are served from indexes (by state, by tag, by id), so a simulated week of 1,500 volumes runs in
minutes: the figures count the requests the product would send to AWS, not the simulation's own work.

The clients that answer from this world are `ec2.SimEC2` (every call one request through `SimEC2.send`) and
`dynamodb.SimDynamoDB` / `SimSNS`. Every EBS volume is in one store (`world.volumes`, `volumes.py`), the
instances and images restores launch in `compute.py`, and every Describe* filters with `filters.py`. This module
stays over 400 lines for one reason: `SimWorld` is the one model the services share (the clock and its event
queue, the request path every call takes, and the snapshots with their indexes, which CreateSnapshots,
CopySnapshot, DeleteSnapshot and the describes all update together); cutting it would split one state
across modules that would then have to reach into each other.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from smart_vault import aws
from smart_vault.local.snapshot_lock import LockTable
from smart_vault.runtime import Runtime, seeded_executors
from smart_vault.sim.compute import Compute
from smart_vault.sim.filters import select, tag_dict
from smart_vault.sim.invariants import RetentionWatch
from smart_vault.sim.throttle import RequestBuckets, throttling_error
from smart_vault.sim.volumes import FLEET_IOPS, FLEET_THROUGHPUT, VolumeStore

ACCOUNT = "123456789012"
MAX_RESULTS = 1000  # DescribeSnapshots, DescribeInstances and DescribeVolumes return at most 1000 a page


class InvocationKilled(BaseException):
    """The Lambda runtime ended the invocation (its time limit) in the middle of a call."""


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class SimParams:
    seed: int = 1
    copy_limit: int = 20
    first_snapshot_median_s: float = 1800.0  # GUESS
    incremental_snapshot_median_s: float = 300.0  # GUESS
    first_copy_median_s: float = 3600.0
    incremental_copy_median_s: float = 600.0
    sigma: float = 0.5  # GUESS: lognormal spread of every duration
    copy_failure_rate: float = 0.0
    permanent_copy_failure_rate: float = 0.0  # (v3) primaries whose every copy ends in error
    reference_size_gib: float = 100.0  # (v3) the volume size the snapshot medians are for
    invisible_max_s: float = 5.0
    drop_rate: float = 0.05
    duplicate_rate: float = 0.05
    max_delay_s: float = 30.0
    api_rate_scale: float = 1.0  # 1.0: EC2's documented bucket sizes and refill rates
    overlap_rate: float = 0.0
    overlap_window_s: float = 120.0
    # Share of copy invocations cut off mid-way (at a random call among their first 12).
    kill_rate: float = 0.0
    volume_error_rate: float = 0.0  # volumes of CreateVolume that end in `error` (volumes.py)


@dataclass(order=True)
class _Item:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    delivery: bool = field(default=False, compare=False)
    cancelled: bool = field(default=False, compare=False)


class SimWorld:
    """The shared state and the event heap. `clock` is epoch seconds of virtual time."""

    def __init__(self, params: SimParams, start: datetime, primary: str, dr: str) -> None:
        self.p = params
        self.rng = random.Random(params.seed)  # noqa: S311  # nosec B311 - seeded simulation, not security
        self.clock = start.timestamp()
        self.primary, self.dr = primary, dr
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = {primary: {}, dr: {}}
        # Indexes of the snapshots of each region: by state, and by (tag key, tag value).
        self.by_state: dict[str, dict[str, set[str]]] = {primary: {}, dr: {}}
        self.by_tag: dict[str, dict[tuple[str, str], set[str]]] = {primary: {}, dr: {}}
        self.instances: list[dict[str, Any]] = []
        self.instance_by_id: dict[str, dict[str, Any]] = {}
        self.volumes = VolumeStore(self, params.volume_error_rate)  # every EBS volume (sim/volumes.py)
        # On the latest time of all threads, as the product's pacer (EC2 refills in real time, not per thread).
        self.buckets = RequestBuckets(lambda: self.clock, params.api_rate_scale)
        self.requests: dict[str, int] = {}  # every simulated request (a describe page is one), by action
        self.kill_after: int | None = None  # the current invocation ends at its N-th simulated call
        self.depth = 0  # > 0 while an overlapping invocation runs inside another
        # Worker threads (the backup run's pool) sleep in parallel: each has its own time, the clock is the
        # latest of them, so eight threads sleeping 16 s move the clock 16 s, not 128 s.
        self._thread = threading.local()
        self._lock = threading.Lock()
        # (issue 19) The tasks of the run's executor (`runtime.SeededExecutor`) run one at a time on the
        # calling thread, each on its own time from its submission: the innermost running task's time.
        self._task_times: list[float] = []
        self.schedule_rng = random.Random(f"schedule:{params.seed}")  # noqa: S311  # nosec B311 - the order of tasks
        # Every simulated request runs under this lock: the run's worker threads never interleave inside
        # the world's state (the heap, the indexes). Reentrant: an overlapping invocation runs inside one.
        self.api_lock = threading.RLock()
        self.epoch = 0
        self.overlaps = 0
        self.copied_volumes: set[str] = set()  # source volumes with a copy already (later ones incremental)
        self.snapshotted_volumes: set[str] = set()
        self.pending_copies: set[str] = set()
        self.table: dict[str, dict[str, dict[str, Any]]] = {}  # pk -> sk -> item
        self.heap: list[_Item] = []
        self.seq = itertools.count()
        self.ids = itertools.count(1)
        self.deliver: Callable[[dict[str, Any]], None] = lambda _event: None
        self.copy_calls: list[str] = []  # source snapshot of every CopySnapshot that started a copy
        self.deleted: list[tuple[str, dict[str, Any]]] = []  # (region, snapshot) of every deletion
        self.events_sent = self.events_dropped = self.events_duplicated = 0
        self.on_change: Callable[[], None] = lambda: None
        # Owed copies (completed primaries without a live copy), kept incrementally, and the time integrals.
        self.completed_primaries: set[str] = set()
        self.completed_at: dict[str, float] = {}  # primary -> when it completed
        self.live_copies: dict[str, int] = {}
        self.owed: set[str] = set()
        self.first_owed_at: float | None = None
        self.owed_time = 0.0
        self.slot_time = 0.0
        self.copy_work = 0.0  # seconds of every copy that completed
        self.last_set_complete_at = 0.0
        self.unsafe_deletions = 0
        self.copies_of: dict[str, list[dict[str, Any]]] = {}
        self.compute: dict[str, Compute] = {}  # region -> its instances and images (sim/compute.py)
        self.doomed: set[str] = set()  # (v3) primaries whose every copy fails
        self.locks = {primary: LockTable(), dr: LockTable()}  # (v3) EBS Snapshot Lock
        self.watch = RetentionWatch(self)  # (v3) invariants of retention and copying

    # ------------------------------------------------------------------ time
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock, UTC)

    def monotonic(self) -> float:
        if self._task_times:
            return self._task_times[-1]
        if threading.current_thread() is threading.main_thread():
            return self.clock
        return self._thread_time()

    def runtime(self) -> Runtime:
        """The runtime a handler runs on in this world: virtual time, and the seeded executor (its tasks on
        one thread, in an order drawn from the seed), so that a seed replays exactly."""
        return Runtime(
            client=aws.client,
            monotonic=self.monotonic,
            sleep=self.sleep,
            executor=seeded_executors(self.schedule_rng, self),
            random=self.rng,
        )

    @contextlib.contextmanager
    def task(self, start: float) -> Iterator[None]:
        """Run a task of the seeded executor on its own time, from `start` (the time it was submitted)."""
        self._task_times.append(start)
        try:
            yield
        finally:
            self._task_times.pop()

    def _thread_time(self) -> float:
        local = self._thread
        if getattr(local, "epoch", None) != self.epoch:
            local.epoch, local.time = self.epoch, self.clock
        return local.time

    def sleep(self, seconds: float) -> None:
        if self._task_times:
            self._task_times[-1] += max(seconds, 0.0)
            self._tick(self._task_times[-1])
            return
        if threading.current_thread() is threading.main_thread():
            self.advance_to(self.clock + max(seconds, 0.0))
            return
        self._thread.time = self._thread_time() + max(seconds, 0.0)
        with self._lock:
            self._tick(self._thread.time)

    def at(self, when: float, action: Callable[[], None], delivery: bool = False) -> None:
        heapq.heappush(self.heap, _Item(when, next(self.seq), action, delivery))

    def advance_to(self, when: float) -> None:
        """Move the clock (a handler sleeping); due heap items run after the invocation returns."""
        self._tick(when)

    def _tick(self, when: float) -> None:
        if when > self.clock:
            if self.owed:
                dt = when - self.clock
                self.owed_time += dt
                self.slot_time += dt * min(len(self.pending_copies), self.p.copy_limit) / self.p.copy_limit
            self.clock = when

    def step(self) -> bool:
        """Run the next heap item; False when the heap is empty."""
        if not self.heap:
            return False
        item = heapq.heappop(self.heap)
        if item.cancelled:
            return True
        self.epoch += 1
        self._tick(item.at)
        item.action()
        return True

    # ------------------------------------------------------------------ calls, overlaps, time limits
    def request(self, region: str | None, action: str, filtered: bool = True) -> None:
        """One request reaching EC2 (or DynamoDB, `region` None): counted, cut off, throttled."""
        if self.kill_after is not None:
            self.kill_after -= 1
            if self.kill_after <= 0:
                self.kill_after = None
                raise InvocationKilled(action)
        self.requests[action] = self.requests.get(action, 0) + 1
        if region is not None and not self.buckets.take(region, action, filtered):
            raise throttling_error(action)

    def preempt(self) -> None:
        """Maybe run another due delivery here, to its end, inside the current invocation (an overlap)."""
        if self.depth or self.p.overlap_rate <= 0 or self.rng.random() >= self.p.overlap_rate:
            return
        horizon = self.clock + self.p.overlap_window_s
        due = [i for i in self.heap if i.delivery and not i.cancelled and i.at <= horizon]
        if not due:
            return
        item = min(due)
        item.cancelled = True
        self.overlaps += 1
        self.depth += 1
        saved, self.kill_after = self.kill_after, None
        try:
            item.action()
        finally:
            self.depth -= 1
            self.kill_after = saved

    def lognormal(self, median: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, self.p.sigma))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):017x}"

    # ------------------------------------------------------------------ EventBridge
    def emit(self, event: dict[str, Any]) -> None:
        """At-least-once delivery: dropped, delayed, duplicated."""
        self.events_sent += 1
        if self.rng.random() < self.p.drop_rate:
            self.events_dropped += 1
            return
        copies = 2 if self.rng.random() < self.p.duplicate_rate else 1
        self.events_duplicated += copies - 1
        for _ in range(copies):
            delay = self.rng.uniform(0.5, self.p.max_delay_s)
            self.at(self.clock + delay, lambda: self.deliver(event), delivery=True)

    def _ebs_event(self, region: str, snapshot_id: str, kind: str, result: str) -> dict[str, Any]:
        return {
            "version": "0",
            "id": self.new_id("evt"),
            "detail-type": "EBS Snapshot Notification",
            "source": "aws.ec2",
            "account": ACCOUNT,
            "region": region,
            "resources": [f"arn:aws:ec2::{region}:snapshot/{snapshot_id}"],
            "detail": {
                "event": kind,
                "result": result,
                "cause": "" if result == "succeeded" else "simulated copy failure",
                "snapshot_id": f"arn:aws:ec2::{region}:snapshot/{snapshot_id}",
            },
        }

    # ------------------------------------------------------------------ EC2 behaviour
    def add_instance(
        self,
        volumes: int,
        tag_key: str = "Backup-Tier",
        tag_value: str = "Gold",
        sizes: tuple[int, ...] = (),
        tags: dict[str, str] | None = None,
    ) -> str:
        instance_id = self.new_id("i")
        devices = ["/dev/xvda"] + [f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1)]
        mappings: list[dict[str, Any]] = [
            {"DeviceName": d, "Ebs": {"VolumeId": self.new_id("vol")}} for d in devices
        ]
        self.instances.append(
            {
                "InstanceId": instance_id,
                "State": {"Name": "running"},
                "Tags": [
                    {"Key": tag_key, "Value": tag_value},
                    {"Key": "Name", "Value": instance_id},
                    *({"Key": k, "Value": v} for k, v in (tags or {}).items()),
                ],
                "BlockDeviceMappings": mappings,
            }
        )
        self.instance_by_id[instance_id] = self.instances[-1]
        self.compute.setdefault(self.primary, Compute(self, self.primary)).adopt(self.instances[-1])
        sizes = (*sizes, *[round(self.p.reference_size_gib)] * (len(mappings) - len(sizes)))
        for mapping, size in zip(mappings, sizes, strict=False):
            self.volumes.attached(
                self.primary,
                mapping["Ebs"]["VolumeId"],
                instance_id,
                mapping["DeviceName"],
                availability_zone=f"{self.primary}a",
                size=size,
                iops=FLEET_IOPS,
                throughput=FLEET_THROUGHPUT,
            )
        return instance_id

    # ------------------------------------------------------------------ the snapshot indexes
    def add_snapshot(self, region: str, item: dict[str, Any]) -> None:
        """Put a ready-made snapshot item into a region (scenarios seeding recovery points), indexed."""
        self.snapshots[region][item["SnapshotId"]] = item
        self._index(region, item)

    def _index(self, region: str, item: dict[str, Any]) -> None:
        self.by_state[region].setdefault(item["State"], set()).add(item["SnapshotId"])
        for tag in item["Tags"]:
            self.by_tag[region].setdefault((tag["Key"], tag["Value"]), set()).add(item["SnapshotId"])

    def _unindex(self, region: str, item: dict[str, Any]) -> None:
        self.by_state[region].get(item["State"], set()).discard(item["SnapshotId"])
        for tag in item["Tags"]:
            self.by_tag[region].get((tag["Key"], tag["Value"]), set()).discard(item["SnapshotId"])

    def set_state(self, region: str, item: dict[str, Any], state: str) -> None:
        self.by_state[region].get(item["State"], set()).discard(item["SnapshotId"])
        item["State"] = state
        self.by_state[region].setdefault(state, set()).add(item["SnapshotId"])
        _changed(item)

    def set_tags(self, region: str, item: dict[str, Any], tags: dict[str, str]) -> None:
        self._unindex(region, item)
        item["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._index(region, item)
        _changed(item)

    def remove(self, region: str, snapshot_id: str) -> dict[str, Any] | None:
        item = self.snapshots[region].pop(snapshot_id, None)
        if item is not None:
            self._unindex(region, item)
        return item

    def find_snapshots(self, region: str, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The visible snapshots of `region` matching `filters` (all of them), in creation order.

        The filters the indexes answer (snapshot-id, status, tag:) are decided by membership of their sets
        (each set is exactly the items that filter matches: an item's state and tags change only through
        `set_state` and `set_tags`, which keep the indexes, and EC2 allows a tag key once per resource);
        only the others go through the filter engine, which still refuses an unknown name first."""
        snaps = self.snapshots[region]
        indexed: list[set[str]] = []
        rest: list[dict[str, Any]] = []
        for f in filters:
            name, values = f["Name"], f["Values"]
            if name == "snapshot-id":
                indexed.append({v for v in values if v in snaps})
            elif name == "status":
                indexed.append(set().union(*(self.by_state[region].get(v, set()) for v in values)))
            elif name.startswith("tag:"):
                indexed.append(set().union(*(self.by_tag[region].get((name[4:], v), set()) for v in values)))
            else:
                rest.append(f)
        best = min(indexed, key=len) if indexed else None  # the first of the smallest, as before
        ids = snaps.keys() if best is None or len(best) > len(snaps) // 2 else sorted(best)
        now = self.monotonic()
        # The ids in every indexed filter's set, worked out once instead of per item.
        matching = (
            snaps.keys() if not indexed else indexed[0] if len(indexed) == 1 else set.intersection(*indexed)
        )
        visible = (snaps[sid] for sid in ids if sid in matching and snaps[sid]["_visible_at"] <= now)
        return [_public(item) for item in select(visible, rest, "snapshot", _cached_tags)]

    def _new_snapshot(
        self, region: str, volume_id: str, tags: list[dict[str, str]], **extra: Any
    ) -> dict[str, Any]:
        snapshot_id = self.new_id("snap")
        item = {
            "SnapshotId": snapshot_id,
            "VolumeId": volume_id,
            "State": "pending",
            "StartTime": self.now(),
            "OwnerId": ACCOUNT,
            "VolumeSize": 8,
            "Tags": [dict(t) for t in tags],
            "_visible_at": self.monotonic() + self.rng.uniform(0.0, self.p.invisible_max_s),
            **extra,
        }
        self.snapshots[region][snapshot_id] = item
        self._index(region, item)
        return item

    def create_snapshots(
        self, region: str, instance_id: str, tags: list[dict[str, str]]
    ) -> list[dict[str, Any]]:
        instance = self.instance_by_id.get(instance_id)
        if instance is None:
            raise _error("InvalidInstanceID.NotFound", f"no instance {instance_id}", "CreateSnapshots")
        created = []
        for mapping in instance["BlockDeviceMappings"]:
            volume = mapping["Ebs"]["VolumeId"]
            item = self._new_snapshot(region, volume, tags)
            first = volume not in self.snapshotted_volumes
            self.snapshotted_volumes.add(volume)
            median = self.p.first_snapshot_median_s if first else self.p.incremental_snapshot_median_s
            median *= self._volume_gib(region, volume) / self.p.reference_size_gib
            self.at(self.clock + self.lognormal(median), partial(self._snapshot_done, region, item))
            created.append(item)
        return created

    def _volume_gib(self, region: str, volume_id: str) -> float:
        volume = self.volumes.get(region, volume_id)
        return float(volume.size) if volume is not None else self.p.reference_size_gib

    def _snapshot_done(self, region: str, item: dict[str, Any]) -> None:
        if item["SnapshotId"] not in self.snapshots[region]:
            return
        self.set_state(region, item, "completed")
        self.locks[region].completed(item["SnapshotId"], self.now())
        if region == self.primary:
            sid = item["SnapshotId"]
            self.completed_primaries.add(sid)
            self.completed_at[sid] = self.clock
            if not self.live_copies.get(sid):
                self.owed.add(sid)
                if self.first_owed_at is None:
                    self.first_owed_at = self.clock
        self.on_change()
        self.emit(self._ebs_event(region, item["SnapshotId"], "createSnapshot", "succeeded"))

    def copy_snapshot(self, source_region: str, source_id: str, tags: list[dict[str, str]], kms: str) -> str:
        self.preempt()
        source = self.snapshots[source_region].get(source_id)
        if source is None or source["State"] != "completed":
            raise _error("InvalidSnapshot.NotFound", f"no completed snapshot {source_id}", "CopySnapshot")
        if len(self.pending_copies) >= self.p.copy_limit:
            raise _error("ResourceLimitExceeded", "too many snapshot copies in progress", "CopySnapshot")
        volume = tag_dict(source).get("smart-vault:source-volume") or source["VolumeId"]
        item = self._new_snapshot(self.dr, "vol-ffffffff", tags, Encrypted=True, KmsKeyId=kms)
        rate = self.p.permanent_copy_failure_rate
        if rate and source_id not in self.copies_of and self.rng.random() < rate:
            self.doomed.add(source_id)
        self.watch.copy_started(source_id, source_id in self.doomed)
        self.pending_copies.add(item["SnapshotId"])
        self.copy_calls.append(source_id)
        item["_source"] = source_id
        self.copies_of.setdefault(source_id, []).append(item)
        item["_started"] = self.clock
        self.live_copies[source_id] = self.live_copies.get(source_id, 0) + 1
        self.owed.discard(source_id)
        first = volume not in self.copied_volumes
        self.copied_volumes.add(volume)
        median = self.p.first_copy_median_s if first else self.p.incremental_copy_median_s
        self.at(self.clock + self.lognormal(median), partial(self._copy_done, item))
        self.on_change()
        return item["SnapshotId"]

    def _copy_gone(self, item: dict[str, Any]) -> None:
        source = item["_source"]
        self.live_copies[source] = self.live_copies.get(source, 1) - 1
        # (v3) Owed again only after a failed copy: a primary whose copy completed once is owed nothing after
        # DR pruning, and one whose copies fail for good is backed off and reported, nothing the pipeline
        # could do: neither counts as owed time in the utilisation figure.
        owed_again = source not in self.doomed and source not in self.watch.copied_once
        if not self.live_copies[source] and source in self.completed_primaries and owed_again:
            self.owed.add(source)

    def copy_state(self, source_id: str) -> set[str]:
        return {s["State"] for s in self.copies_of.get(source_id, [])}

    def _copy_done(self, item: dict[str, Any]) -> None:
        self.pending_copies.discard(item["SnapshotId"])
        item["_ended_at"] = self.clock
        failed = self.rng.random() < self.p.copy_failure_rate or item["_source"] in self.doomed
        self.set_state(self.dr, item, "error" if failed else "completed")
        if failed:
            self._copy_gone(item)
        else:
            self.watch.copy_completed(item["_source"])
            self.locks[self.dr].completed(item["SnapshotId"], self.now())
            self.copy_work += self.clock - item["_started"]
            self.last_set_complete_at = self.clock
        self.on_change()
        self.emit(
            self._ebs_event(self.dr, item["SnapshotId"], "copySnapshot", "failed" if failed else "succeeded")
        )


def _cached_tags(item: dict[str, Any]) -> dict[str, str]:
    """A snapshot's tags as a dict, kept on the item until it changes (`_changed`)."""
    tags = item.get("_td")
    if tags is None:
        tags = item["_td"] = tag_dict(item)
    return tags


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """The API view of an item, cached until the item changes (`_changed`)."""
    view = item.get("_pub")
    if view is None:
        view = item["_pub"] = {k: v for k, v in item.items() if not k.startswith("_")}
    return view


def _changed(item: dict[str, Any]) -> None:
    item.pop("_pub", None)
    item.pop("_td", None)
