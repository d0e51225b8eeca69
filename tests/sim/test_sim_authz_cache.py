"""The simulation's decision cache (smart_vault.sim.authz_cache) decides as the Enforcer does: a decision is
reused only for the same request while the world answers the same, and decided again when it changed."""

from __future__ import annotations

from datetime import UTC, datetime

from smart_vault.authz.enforce import Call, Enforcer
from smart_vault.sim.authz import SimFacts
from smart_vault.sim.authz_cache import CachingEnforcer
from smart_vault.sim.world import ACCOUNT, SimParams, SimWorld

PRIMARY, DR = "eu-west-1", "eu-central-1"
ENV = {"AWS_REGION": PRIMARY, "DR_REGION": DR, "COPY_LEDGER_TABLE": "smart-vault-copy-ledger"}


def _delete(enforcer: Enforcer, snapshot_id: str) -> list[bool]:
    outcomes, _, _ = enforcer.decide(
        Call("backup", "ec2", "DeleteSnapshot", {"SnapshotId": snapshot_id}, PRIMARY, ENV)
    )
    return [o.allowed for o in outcomes]


def test_a_cached_decision_follows_the_world_and_matches_the_enforcer(monkeypatch):
    world = SimWorld(SimParams(seed=3), datetime(2026, 1, 1, tzinfo=UTC), PRIMARY, DR)
    instance = world.add_instance(1)
    managed = [{"Key": "ManagedBy", "Value": "smart-vault"}]
    snapshot = world.create_snapshots(PRIMARY, instance, managed)[0]
    facts = SimFacts(world, ACCOUNT, {})
    cached, fresh = CachingEnforcer(facts), Enforcer(facts)
    decided = []
    decide = Enforcer.decide
    monkeypatch.setattr(
        Enforcer, "decide", lambda self, call: decided.append(call.operation) or decide(self, call)
    )

    first = _delete(cached, snapshot["SnapshotId"])
    again = _delete(cached, snapshot["SnapshotId"])
    assert first == again == _delete(fresh, snapshot["SnapshotId"]) and all(first)
    assert decided == ["DeleteSnapshot", "DeleteSnapshot"]  # the cache's first and the plain Enforcer's

    world.set_tags(PRIMARY, snapshot, {"Name": "not ours any more"})
    changed = _delete(cached, snapshot["SnapshotId"])
    assert changed == _delete(fresh, snapshot["SnapshotId"]) and not all(changed)
    assert len(decided) == 4  # decided again: the snapshot's tags answered differently


def test_dynamodb_calls_are_keyed_on_their_tables_only(monkeypatch):
    world = SimWorld(SimParams(seed=3), datetime(2026, 1, 1, tzinfo=UTC), PRIMARY, DR)
    facts = SimFacts(
        world, ACCOUNT, {"smart-vault-copy-ledger": f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/primary"}
    )
    cached, fresh = CachingEnforcer(facts), Enforcer(facts)
    decided = []
    decide = Enforcer.decide
    monkeypatch.setattr(
        Enforcer, "decide", lambda self, call: decided.append(call.params) or decide(self, call)
    )

    def put(enforcer: Enforcer, table: str, pk: str) -> list[tuple[str, bool]]:
        params = {"TableName": table, "Item": {"pk": {"S": pk}}}
        outcomes, _, _ = enforcer.decide(Call("backup", "dynamodb", "PutItem", params, PRIMARY, ENV))
        return [(o.request.resource, o.allowed) for o in outcomes]

    assert put(cached, "smart-vault-copy-ledger", "a") == put(cached, "smart-vault-copy-ledger", "b")
    assert put(cached, "other", "a") == put(fresh, "other", "a") != put(fresh, "smart-vault-copy-ledger", "a")
    assert [p["Item"]["pk"]["S"] for p in decided] == ["a", "a", "a", "a"]  # "b" reused the decision of "a"


class _TwoAccountFacts(SimFacts):
    """Facts that answer for another account through `for_account`, as the local stack's MotoFacts do."""

    def __init__(self, world, account, keys, others=None):
        super().__init__(world, account, keys)
        self.others = others or {}

    def for_account(self, account):
        return self.others[account]


def test_a_decision_read_through_another_accounts_facts_is_never_reused(monkeypatch):
    world = SimWorld(SimParams(seed=3), datetime(2026, 1, 1, tzinfo=UTC), PRIMARY, DR)
    instance = world.add_instance(1)
    snapshot = world.create_snapshots(PRIMARY, instance, [{"Key": "ManagedBy", "Value": "smart-vault"}])[0]
    vault = "210987654321"
    facts = _TwoAccountFacts(world, ACCOUNT, {}, {vault: SimFacts(world, vault, {})})
    cached = CachingEnforcer(facts)
    decided = []
    decide = Enforcer.decide
    monkeypatch.setattr(
        Enforcer, "decide", lambda self, call: decided.append(call.operation) or decide(self, call)
    )
    for _ in range(2):
        cached.decide(
            Call(
                "backup", "ec2", "DeleteSnapshot", {"SnapshotId": snapshot["SnapshotId"]}, PRIMARY, ENV, vault
            )
        )
    assert decided == ["DeleteSnapshot", "DeleteSnapshot"]
    for _ in range(2):  # the workload account's own facts: recorded, so reused
        cached.decide(
            Call("backup", "ec2", "DeleteSnapshot", {"SnapshotId": snapshot["SnapshotId"]}, PRIMARY, ENV)
        )
    assert len(decided) == 3
