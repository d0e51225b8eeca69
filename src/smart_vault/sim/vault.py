"""(v3) The vault account in the simulation: sharing, announcements, and the vault's own copies and slots.

The vault account's snapshots live in the world as a third "region" (`VAULT_STORE`, indexed like the others)
in the DR region's place: the vault copies in the workload's DR region, with its own 20 copy slots, its own
lock table, its own ledger table and its own EventBridge deliveries (at least once: dropped, duplicated and
delayed like the world's). What is modelled, as AWS documents it:
- `ModifySnapshotAttribute` (createVolumePermission add) shares a DR copy; `DescribeSnapshots` with
  `RestorableByUserIds` lists what is shared; the vault sees a shared snapshot (by id) without its tags.
- `CopySnapshot` of a shared, completed snapshot into the vault: `pending` for a lognormal while (first copy of
  a volume: `first_copy_median_s`; later ones `incremental_copy_median_s`: GUESS, the same figures as the
  cross-region copies, since AWS publishes none for same-region copies of shared snapshots); at most
  `copy_limit` pending (`ResourceLimitExceeded` beyond); a `copySnapshot` completion event to the vault.
- `PutEvents` to the vault's bus: each entry delivered at least once to the vault function (delayed, sometimes
  twice), never dropped: EventBridge retries delivering a put event to its target for up to 24 hours (and
  Terraform gives the rule a dead-letter queue); the EBS `copySnapshot` events of the vault's own copies are
  best effort, dropped with the world's `drop_rate` like the workload's.
The vault account's EC2 request buckets are its own (a separate account), keyed by `VAULT_STORE`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.filters import matches
from smart_vault.sim.world import SimWorld, _error, _public

VAULT_ACCOUNT = "210987654321"
VAULT_STORE = "vault"  # the vault account's snapshots, in the world's maps


@dataclass
class VaultFigures:
    """What the week says about the vault, measured by the world (not by the code under test)."""

    pending: set[str] = field(default_factory=set)
    slot_time: float = 0.0  # integral of min(pending, limit) / limit while copies are owed
    owed_time: float = 0.0
    last_tick: float | None = None
    copies_of: dict[str, list[str]] = field(default_factory=dict)  # shared snapshot -> vault copies
    shared: set[str] = field(default_factory=set)
    volumes: set[str] = field(
        default_factory=set
    )  # source volumes with a vault copy (later ones incremental)
    announcements: int = 0
    dropped: int = 0  # the vault's own copy-completion events (EBS events are best effort)
    delivered: set[str] = field(default_factory=set)  # snapshots announced at least once and delivered


def _view_without_tags(item: dict[str, Any]) -> dict[str, Any]:
    view = dict(_public(item))
    view.pop("Tags", None)
    return view


class SharingSimEC2(SimEC2):
    """The workload's DR client: shares copies with the vault and lists what it shared."""

    def __init__(self, world: SimWorld, region: str, figures: VaultFigures) -> None:
        super().__init__(world, region)
        self.figures = figures

    def modify_snapshot_attribute(self, SnapshotId: str, OperationType: str, UserIds=(), **_: Any) -> dict:
        self._count("modify_snapshot_attribute")

        def call() -> dict:
            item = self.world.snapshots[self.region].get(SnapshotId)
            if item is None:
                raise _error(
                    "InvalidSnapshot.NotFound", f"no snapshot {SnapshotId}", "ModifySnapshotAttribute"
                )
            shared = item.setdefault("_shared", set())
            (shared.update if OperationType == "add" else shared.difference_update)(UserIds)
            self.figures.shared.add(SnapshotId)
            return {}

        return self.send("ModifySnapshotAttribute", call)

    def get_paginator(self, operation: str) -> Any:
        paginator = super().get_paginator(operation)
        return _Restorable(paginator, self._shared_with) if operation == "describe_snapshots" else paginator

    def _shared_with(self, view: dict[str, Any]) -> set[str]:
        item = self.world.snapshots[self.region].get(view["SnapshotId"]) or {}
        return item.get("_shared", set())


class _Restorable:
    """DescribeSnapshots pages filtered by `RestorableByUserIds` (the accounts a snapshot is shared with)."""

    def __init__(self, paginator: Any, shared_with: Any) -> None:
        self.paginator, self.shared_with = paginator, shared_with

    def paginate(self, **kwargs: Any) -> Any:
        users = set(kwargs.pop("RestorableByUserIds", None) or [])
        for page in self.paginator.paginate(**kwargs):
            if users:
                page = {"Snapshots": [s for s in page["Snapshots"] if users & self.shared_with(s)]}
            yield page


class SimEvents:
    """EventBridge PutEvents to the vault's bus: every entry delivered at least once to `deliver`."""

    def __init__(self, world: SimWorld, figures: VaultFigures, deliver: Any, account: str) -> None:
        self.world, self.figures, self.deliver, self.account = world, figures, deliver, account

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        world = self.world
        world.request(world.dr, "PutEvents")
        answers = []
        for entry in Entries:
            event = {
                "id": world.new_id("evt"),
                "source": entry["Source"],
                "detail-type": entry["DetailType"],
                "account": self.account,
                "region": world.dr,
                "detail": json.loads(entry["Detail"]),
            }
            self.figures.announcements += 1
            answers.append({"EventId": event["id"]})
            self.figures.delivered.add(event["detail"].get("snapshot_id", ""))
            for _ in range(2 if world.rng.random() < world.p.duplicate_rate else 1):
                delay = world.rng.uniform(0.5, world.p.max_delay_s)
                world.at(world.clock + delay, partial(self.deliver, event), delivery=True)
        return {"FailedEntryCount": 0, "Entries": answers}


class VaultSimEC2(SimEC2):
    """The vault account's EC2 client in the DR region."""

    account = VAULT_ACCOUNT

    def __init__(self, world: SimWorld, figures: VaultFigures, deliver: Any) -> None:
        super().__init__(world, VAULT_STORE)
        self.figures, self.deliver = figures, deliver
        self.meta.region_name = world.dr

    def describe_snapshots(self, SnapshotIds=(), Filters=(), RestorableByUserIds=(), **_: Any) -> dict:
        """By id, a snapshot shared with the vault (without the owner's tags), or the vault's own."""
        self._count("describe_snapshots")

        def call() -> list[dict[str, Any]]:
            found = []
            for sid in SnapshotIds:
                own = self.world.snapshots[VAULT_STORE].get(sid)
                shared = self.world.snapshots[self.world.dr].get(sid)
                if own is not None and matches(own, Filters, "snapshot"):
                    found.append(_public(own))
                elif shared is not None and VAULT_ACCOUNT in shared.get("_shared", set()):
                    found.append(_view_without_tags(shared))
            return found

        found = self.send("DescribeSnapshots", call)
        if SnapshotIds and len(found) < len(set(SnapshotIds)):
            raise _error("InvalidSnapshot.NotFound", "a snapshot does not exist", "DescribeSnapshots")
        return {"Snapshots": found}

    def copy_snapshot(
        self, SourceRegion: str, SourceSnapshotId: str, KmsKeyId: str, TagSpecifications=(), **_: Any
    ):
        self._count("copy_snapshot")
        return {
            "SnapshotId": self.send(
                "CopySnapshot", lambda: self._copy(SourceSnapshotId, TagSpecifications, KmsKeyId)
            )
        }

    def _copy(self, source_id: str, specs: Any, kms: str) -> str:
        world, figures = self.world, self.figures
        world.preempt()
        source = world.snapshots[world.dr].get(source_id)
        if (
            source is None
            or VAULT_ACCOUNT not in source.get("_shared", set())
            or source["State"] != "completed"
        ):
            raise _error(
                "InvalidSnapshot.NotFound", f"no shared completed snapshot {source_id}", "CopySnapshot"
            )
        if len(figures.pending) >= world.p.copy_limit:
            raise _error("ResourceLimitExceeded", "too many snapshot copies in progress", "CopySnapshot")
        tags = [t for spec in specs for t in spec["Tags"]]
        item = world._new_snapshot(VAULT_STORE, "vol-ffffffff", tags, Encrypted=True, KmsKeyId=kms)
        item["OwnerId"] = VAULT_ACCOUNT
        volume = next((t["Value"] for t in tags if t["Key"] == "smart-vault:source-volume"), source_id)
        first = volume not in figures.volumes
        figures.volumes.add(volume)
        figures.copies_of.setdefault(source_id, []).append(item["SnapshotId"])
        figures.pending.add(item["SnapshotId"])
        median = world.p.first_copy_median_s if first else world.p.incremental_copy_median_s
        world.at(world.clock + world.lognormal(median), partial(self._done, item))
        return item["SnapshotId"]

    def _done(self, item: dict[str, Any]) -> None:
        world = self.world
        self.figures.pending.discard(item["SnapshotId"])
        if item["SnapshotId"] not in world.snapshots[VAULT_STORE]:
            return
        world.set_state(VAULT_STORE, item, "completed")
        world.locks.setdefault(VAULT_STORE, type(world.locks[world.dr])()).completed(
            item["SnapshotId"], world.now()
        )
        event = {
            "id": world.new_id("evt"),
            "source": "aws.ec2",
            "detail-type": "EBS Snapshot Notification",
            "region": world.dr,
            "account": VAULT_ACCOUNT,
            "detail": {
                "event": "copySnapshot",
                "result": "succeeded",
                "snapshot_id": f"arn:aws:ec2::{world.dr}:snapshot/{item['SnapshotId']}",
            },
        }
        if world.rng.random() < world.p.drop_rate:  # EBS events are best effort
            self.figures.dropped += 1
            return
        world.at(
            world.clock + world.rng.uniform(0.5, world.p.max_delay_s),
            lambda: self.deliver(event),
            delivery=True,
        )

    def delete_snapshot(self, SnapshotId: str, **_: Any) -> dict:
        self._count("delete_snapshot")

        def call() -> dict:
            world = self.world
            if SnapshotId in world.snapshots[VAULT_STORE]:
                world.locks[VAULT_STORE].check_delete(SnapshotId, world.now())
            item = world.remove(VAULT_STORE, SnapshotId)
            if item is None:
                raise _error("InvalidSnapshot.NotFound", f"no snapshot {SnapshotId}", "DeleteSnapshot")
            world.locks[VAULT_STORE].deleted(SnapshotId)
            return {}

        return self.send("DeleteSnapshot", call)


def add_vault_store(world: SimWorld) -> None:
    """The vault account's maps in the world (snapshots, indexes, locks)."""
    world.snapshots.setdefault(VAULT_STORE, {})
    world.by_state.setdefault(VAULT_STORE, {})
    world.by_tag.setdefault(VAULT_STORE, {})
    world.locks.setdefault(VAULT_STORE, type(world.locks[world.dr])())


def tick(world: SimWorld, figures: VaultFigures, owed: int) -> None:
    """Advance the slot-utilisation integral to now (call before the state changes)."""
    now = world.clock
    if figures.last_tick is not None and owed > 0:
        dt = now - figures.last_tick
        figures.owed_time += dt
        figures.slot_time += dt * min(len(figures.pending), world.p.copy_limit) / world.p.copy_limit
    figures.last_tick = now


def vault_figures(world: SimWorld, figures: VaultFigures, completed_shared_ever: set[str]) -> dict[str, Any]:
    """The copy-pipeline JSON's vault keys."""
    live = {
        source: [c for c in copies if (world.snapshots[VAULT_STORE].get(c) or {}).get("State") != "error"]
        for source, copies in figures.copies_of.items()
    }
    duplicates = sum(max(len(copies) - 1, 0) for copies in figures.copies_of.values())
    # Lost: a completed DR copy the vault heard of (an announcement was delivered) without a live vault copy.
    # One whose every announcement was dropped waits for the next full run's re-announcement.
    lost = sorted(s for s in completed_shared_ever & figures.delivered if not live.get(s))
    unheard = sorted(s for s in completed_shared_ever - figures.delivered if not live.get(s))
    return {
        "vault_copies": sum(len(c) for c in figures.copies_of.values()),
        "vault_duplicates": duplicates,
        "vault_lost": len(lost),
        "vault_lost_sample": lost[:5],
        "vault_unannounced_at_end": len(unheard),
        "vault_announcements": figures.announcements,
        "vault_copy_events_dropped": figures.dropped,
        "vault_slot_utilisation": round(figures.slot_time / figures.owed_time, 4)
        if figures.owed_time
        else None,
        "vault_owed_hours": round(figures.owed_time / 3600.0, 2),
    }
