"""(v3) The vault account in a simulated week: the vault function runs on its own deliveries (announcements,
its copy-completion events) and its 30-minute reconciliation, against the world's vault store.

`VaultSim` is attached by `scenario.run_scenario` when `Scenario.vault` is set. Its figures (the
copy-pipeline JSON's vault keys) are measured from the world, not taken from the code under test:
- `vault_duplicates`: vault copies beyond the first of one shared DR copy; `vault_lost`: DR copies that
  completed and have no live vault copy at the end;
- `vault_slot_utilisation`: time-weighted share of the vault's 20 slots busy while completed DR copies wait
  for their vault copy;
- `vault_rpo_gap_max_s`: once the first copies are done (every instance has a complete recovery point in the
  vault and the vault owes nothing), the longest time from a set becoming an instance's newest complete
  recovery point in DR to the same in the vault (seen at the vault's 30-minute reconciliations): the vault's
  RPO exceeds the DR's by at most that.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, cast

from smart_vault import aws
from smart_vault.backup.ledger import CopyLedger
from smart_vault.config import VaultSettings
from smart_vault.recovery_sets import newest_complete_points
from smart_vault.sim.dynamodb import SimDynamoDB, SimSNS
from smart_vault.sim.vault import (
    VAULT_ACCOUNT,
    VAULT_STORE,
    SharingSimEC2,
    SimEvents,
    VaultFigures,
    VaultSimEC2,
    add_vault_store,
    tick,
    vault_figures,
)
from smart_vault.sim.world import ACCOUNT, SimWorld, _public
from smart_vault.snapshot_model import Snapshot, snapshot_from_api
from smart_vault.vault import entry as vault_entry
from smart_vault.vault.copies import VaultClients

VAULT_LEDGER = "smart-vault-vault-ledger"
RECONCILE_S = 1800.0


class _OwnTable:
    """The world, seen by a second DynamoDB table (the vault account's ledger): its own items."""

    def __init__(self, world: SimWorld) -> None:
        self._world = world
        self.table: dict[str, dict[str, dict[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)


class VaultSim:
    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.figures = VaultFigures()
        self.completed_dr: set[str] = set()
        self.waiting = 0
        self.errors: list[str] = []
        self.rejected = 0
        self.gap_max: float | None = None
        self.covered_at: float | None = None
        self.set_time: dict[str, float] = {}  # backup set -> when its primary snapshots were taken
        self.dr_seen: dict[str, float] = {}  # backup set -> first reconciliation that saw it complete in DR
        self.vault_seen: dict[str, float] = {}  # the same in the vault
        self._newest: dict[str, tuple[tuple[int, ...], tuple[set[str], int]]] = {}  # store -> (views, answer)
        self._snapshots: dict[tuple[str, str], tuple[dict[str, Any], Snapshot]] = {}  # by (store, id)
        add_vault_store(world)
        self.bus_arn = f"arn:aws:events:{world.dr}:{VAULT_ACCOUNT}:event-bus/smart-vault-vault"
        self.settings = VaultSettings.from_env(
            {
                "AWS_REGION": world.dr,
                "SNS_TOPIC_ARN": f"arn:aws:sns:{world.dr}:{VAULT_ACCOUNT}:smart-vault-vault",
                "SOURCE_ACCOUNT_IDS": ACCOUNT,
                "VAULT_KMS_KEY_ID": f"arn:aws:kms:{world.dr}:{VAULT_ACCOUNT}:key/22222222-3333-4444-5555-666666666666",
                "VAULT_LEDGER_TABLE": VAULT_LEDGER,
                "LOCK_MODE": "compliance",
                "LOCK_COOL_OFF_HOURS": "24",
            }
        )
        self.ec2 = VaultSimEC2(world, self.figures, self.invoke)
        self.ledger_view = _OwnTable(world)
        self.clients = VaultClients(
            self.ec2, CopyLedger(cast(Any, SimDynamoDB(cast(Any, self.ledger_view))), VAULT_LEDGER, 35)
        )
        self.events = SimEvents(world, self.figures, self.invoke, ACCOUNT)
        self._watch_copies()

    def owed(self) -> int:
        """The vault's owed copies now (its ledger's owed queue): what its slots could be working on."""
        return len(self.ledger_view.table.get("owed", {}))

    def backup_env(self) -> dict[str, str]:
        return {"VAULT_ACCOUNT_ID": VAULT_ACCOUNT, "VAULT_EVENT_BUS_ARN": self.bus_arn}

    def dr_client(self) -> SharingSimEC2:
        return SharingSimEC2(self.world, self.world.dr, self.figures)

    def _watch_copies(self) -> None:
        """Count completed DR copies and first vault copies for the utilisation integral."""
        world, figures = self.world, self.figures
        copy_done, start_vault_copy, vault_done = world._copy_done, self.ec2._copy, self.ec2._done
        create_snapshots = world.create_snapshots

        def sets_taken(region: str, instance_id: str, tags: list[dict[str, str]]) -> list[dict[str, Any]]:
            created = create_snapshots(region, instance_id, tags)
            for tag in tags:
                if tag["Key"] == "smart-vault:backup-set":
                    self.set_time.setdefault(tag["Value"], world.clock)
            return created

        def dr_copy_done(item: dict[str, Any]) -> None:
            tick(world, figures, self.owed())
            copy_done(item)
            if item["State"] == "completed":
                self.completed_dr.add(item["SnapshotId"])
                self.waiting += item["SnapshotId"] not in figures.copies_of

        def vault_copy(source_id: str, specs: Any, kms: str) -> str:
            tick(world, figures, self.owed())
            first = source_id not in figures.copies_of
            copy_id = start_vault_copy(source_id, specs, kms)
            self.waiting -= int(first and source_id in self.completed_dr)
            return copy_id

        def vault_copy_done(item: dict[str, Any]) -> None:
            tick(world, figures, self.owed())
            vault_done(item)

        world._copy_done = dr_copy_done  # type: ignore[method-assign]
        world.create_snapshots = sets_taken  # type: ignore[method-assign]
        self.ec2._copy = vault_copy  # type: ignore[method-assign]
        self.ec2._done = vault_copy_done  # type: ignore[method-assign]

    def schedule(self, start: float, end: float) -> None:
        t = start + RECONCILE_S
        while t < end:
            self.world.at(t, lambda: self.invoke({"reconcile": True}, measure=True))
            t += RECONCILE_S

    def invoke(self, event: dict[str, Any], measure: bool = False) -> None:
        world = self.world
        tick(world, self.figures, self.owed())
        replaced = aws._clients.get(("sns", world.dr))
        aws._clients[("sns", world.dr)] = SimSNS()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                context = type(
                    "Ctx", (), {"aws_request_id": world.new_id("req"), "invoked_function_arn": ""}
                )()
                report = vault_entry.handle(event, context, self.settings, world.now(), self.clients)
            self.rejected += len(report.get("rejected", []))
        except Exception as exc:  # noqa: BLE001 - an invocation error is a figure, not a crash
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if replaced is None:
                aws._clients.pop(("sns", world.dr), None)
            else:
                aws._clients[("sns", world.dr)] = replaced
        tick(world, self.figures, self.owed())
        if measure:
            self._measure()

    def _newest_sets(self, store: str) -> tuple[set[str], int]:
        """The backup sets that are some instance's newest complete recovery point in `store`."""
        views = [_public(i) for i in self.world.snapshots[store].values()]
        seen = tuple(map(id, views))  # the same view objects (kept alive in _snapshots): the same answer
        last = self._newest.get(store)
        if last is not None and last[0] == seen:
            return last[1]
        points = newest_complete_points([self._as_snapshot(view, store) for view in views])
        answer = {p.set_id for p in points.values()}, len(points)
        self._newest[store] = (seen, answer)
        return answer

    def _as_snapshot(self, view: dict[str, Any], store: str) -> Snapshot:
        """`snapshot_from_api(view, store)`, built once per API view: the world makes a new view whenever an
        item changes (`world._changed`), so the same view object always reads as the same `Snapshot`."""
        key = (store, view["SnapshotId"])
        known = self._snapshots.get(key)
        if known is not None and known[0] is view:
            return known[1]
        snapshot = snapshot_from_api(view, store)
        self._snapshots[key] = (view, snapshot)
        return snapshot

    def _measure(self) -> None:
        """When each set became an instance's newest complete point in DR and in the vault: the vault's RPO
        stays within X of the DR's exactly when every set reaches the vault within X of reaching DR."""
        world = self.world
        vault_sets, covered = self._newest_sets(VAULT_STORE)
        if self.covered_at is None:
            # The first copies are done: every instance has a complete vault point and nothing is owed.
            if covered < len(world.instances) or self.owed() or self.figures.pending:
                return
            self.covered_at = world.clock
        dr_sets, _ = self._newest_sets(world.dr)
        for set_id in dr_sets:
            self.dr_seen.setdefault(set_id, world.clock)
        for set_id in vault_sets:
            self.vault_seen.setdefault(set_id, world.clock)
        lags = [
            self.vault_seen.get(set_id, world.clock) - seen
            for set_id, seen in self.dr_seen.items()
            if seen > self.covered_at
        ]
        if lags:
            self.gap_max = max(self.gap_max or 0.0, max(lags))

    def results(self, start: float) -> dict[str, Any]:
        figures = vault_figures(self.world, self.figures, self.completed_dr)
        figures.update(
            {
                "vault_rpo_gap_max_s": round(self.gap_max, 1) if self.gap_max is not None else None,
                "vault_covered_after_h": round((self.covered_at - start) / 3600.0, 2)
                if self.covered_at
                else None,
                "vault_rejected": self.rejected,
                "vault_invocation_errors": self.errors[:5],
            }
        )
        return figures


def vault_pipeline(instances: int = 500, days: int = 7, seed: int = 1) -> Any:
    """The week of the issue with the vault account: 500 x 3 volumes, daily runs, the vault's own 20 slots.

    Retention is 7 days in both regions: the vault copies a shared DR copy only while it exists, so DR
    retention must outlast the vault's backlog (first copies of a new fleet take days); docs/vault.md says so.
    """
    from smart_vault.sim.scenario import Scenario
    from smart_vault.sim.world import SimParams

    return Scenario(instances=instances, days=days, vault=True, params=SimParams(seed=seed))
