"""Scenarios of the copy pipeline: the real backup handler in the simulated world, invariants over the run.

Figures (see docs/scale.md):
- `slot_utilisation`: time-average of pending copies / copy limit over the time some copy was owed.
- `dr_complete_vs_bound`: (time the last copy completed in DR - time the first copy became owed) divided by
  (the copy work, the sum of the durations of every completed copy, / copy limit): 1.0 is the best any
  scheduler could do with that many slots.
- `duplicates`: primaries copied while an earlier copy of theirs was pending or completed.
- `lost`: completed primaries with no completed DR copy at the end that are neither pending nor counted in
  the last reported backlog (`copies_deferred`), nor `unseen_at_end` (completed, or their copy failed, after
  the last reconciliation with their event dropped: the next reconciliation would see them): a copy the
  pipeline forgot.
- `unsafe_deletions`: primaries deleted before a copy of theirs completed in DR.
- `spurious_failures`: failures the handler reported although the world injected none.
- (v3, `invariants.py`, checked at every deletion and copy) `broken_recovery_points` (an instance lost its
  newest complete recovery point in a region), `copies_made_twice` (a primary copied again after a copy of
  it completed, pruned or not), `copies_wasted_on_pruned` (a copy pending when it or its primary was
  deleted), and, of the primaries whose every copy fails (`permanent_copy_failure_rate`), the most tries of
  one in any 24 h from its third try on (`failing_copy_retries_per_day_max`, the back-off allows 4) and in
  the 24 h from its first (`failing_copy_tries_first_day_max`, three in a row included).
- overload: `copy_backlog_max` (largest `copies_deferred` of an invocation), the last `CopyBacklog`, the
  largest `OldestOwedCopySeconds` and DR `RecoveryPointAgeSeconds` emitted, and whether the latter passed
  the DR RPO alarm threshold (`dr_age_alarm`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from smart_vault import pacing
from smart_vault.backup.invocation import Clients
from smart_vault.backup.ledger import CopyLedger
from smart_vault.config import BackupSettings
from smart_vault.sim.app_consistent_scenario import opt_in
from smart_vault.sim.authz import SimFacts, authorized
from smart_vault.sim.authz_cache import CachingEnforcer
from smart_vault.sim.backup_function import (
    DAY,
    BackupInvocations,
    SimLambda,
    backup_environment,
    requests_per_invocation,
    simulated_aws,
)
from smart_vault.sim.dynamodb import SimDynamoDB, SimSNS
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.vault_scenario import VaultSim
from smart_vault.sim.world import ACCOUNT, SimParams, SimWorld

PRIMARY, DR = "eu-west-1", "eu-central-1"
START = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass
class Scenario:
    instances: int = 500
    volumes: int = 3
    days: int = 7
    reconcile_minutes: int = 30
    drain_days: float = 3.0  # after the last run: reconciliations only, until every copy completed
    dr_rpo_alarm_hours: float = 36.0
    retention_days: int = 7
    params: SimParams | None = None
    # (v3) DR_RETENTION_DAYS (None: as RETENTION_DAYS); the share of instances tagged
    # Backup-Retention-Days=`short_retention_days`; GiB of data volumes, each drawn from these (root: 8 GiB;
    # empty: every volume the world's reference size).
    dr_retention_days: int | None = None
    short_retention_share: float = 0.0
    short_retention_days: int = 1
    data_volume_sizes: tuple[int, ...] = ()
    # (v3) Adds to the world and the clients before the run (`setup(world, clients) -> clients`) and to the
    # figures after it (`finish(world, sns) -> dict`): the ransomware scenario (sim/ransomware.py).
    extension: Any = None
    # (v3) A vault account in the DR region (sim/vault_scenario.py): sharing, announcements, its own slots.
    vault: bool = False
    # (v3) Share of the fleet tagged Backup-Scripts (its scripts modelled by sim/ssm.py).
    app_consistent_share: float = 0.0


def run_scenario(scenario: Scenario) -> dict[str, Any]:
    params = scenario.params or SimParams()
    world = SimWorld(params, START, PRIMARY, DR)
    for _ in range(scenario.instances):
        add_instance(world, scenario)
    vault = VaultSim(world) if scenario.vault else None
    environment = backup_environment(
        world,
        {
            "RETENTION_DAYS": str(scenario.retention_days),
            **({"DR_RETENTION_DAYS": str(scenario.dr_retention_days)} if scenario.dr_retention_days else {}),
            "MAX_CONCURRENT_COPIES": str(params.copy_limit),
            **(vault.backup_env() if vault else {}),
        },
    )
    settings = BackupSettings.from_env(environment)
    # Every call goes through the authorization layer, the ledger encrypted with the primary key (backup.tf).
    ssm = opt_in(world, scenario.app_consistent_share) if scenario.app_consistent_share else None
    facts = SimFacts(
        world,
        ACCOUNT,
        {settings.copy_ledger_table: f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/primary"},
        ssm.model if ssm is not None else None,
    )
    enforcer = CachingEnforcer(facts)  # each distinct request decided once (sim/authz_cache.py)

    def checked(client: Any, service: str, region: str = PRIMARY) -> Any:
        return authorized(client, service, region, enforcer, environment)

    clients = _backup_clients(world, scenario, settings, checked, vault, ssm)
    sns = SimSNS()
    start = world.clock
    invocations = BackupInvocations(
        world, params, settings, clients, enforcer, environment, start + scenario.days * DAY
    )
    world.deliver = invocations.invoke
    end = _schedule(world, scenario, invocations.invoke)
    if vault:
        vault.schedule(start, end)
    sim_lambda = SimLambda(world, lambda payload: invocations.invoke(payload))
    with simulated_aws(world, checked(sns, "sns"), checked(sim_lambda, "lambda")):
        while world.step():
            pass
    figures = invocations.figures
    figures["continuations"] = sim_lambda.continuations
    figures["ssm_requests"] = sum(ssm.model.requests.values()) if ssm else 0
    result = _figures(world, scenario, params, figures)
    if scenario.extension is not None:
        result["scenario"]["extension"] = type(scenario.extension).__name__
        result.update(scenario.extension.finish(world, sns))
    if vault:
        result.update(vault.results(start))
    return result


def _backup_clients(
    world: SimWorld,
    scenario: Scenario,
    settings: BackupSettings,
    checked: Callable[..., Any],
    vault: VaultSim | None,
    ssm: Any,
) -> Clients:
    """The backup function's clients in the world, each call authorized (`checked`) and paced as the
    handler paces its own (`entry._clients`), on the virtual clock."""
    ec2, dr_ec2 = SimEC2(world, PRIMARY), (vault.dr_client() if vault else SimEC2(world, DR))
    for client in (ec2, dr_ec2):
        pacing.Pacer(pacing.EC2_RATES, clock=lambda: world.clock, sleep=world.sleep).attach(client)
    clients = Clients(
        ec2=checked(ec2, "ec2"),
        dr_ec2=checked(dr_ec2, "ec2", DR),
        ledger=CopyLedger(checked(SimDynamoDB(world), "dynamodb"), settings.copy_ledger_table),
        events=checked(vault.events, "events", DR) if vault else None,
        ssm=checked(ssm, "ssm") if ssm is not None else None,
    )
    if scenario.extension is not None:
        clients = scenario.extension.setup(world, clients)
        if clients.ebs is not None:  # (v3) the EBS direct client the extension adds, authorized as the others
            clients = dataclasses.replace(clients, ebs=checked(clients.ebs, "ebs"))
    return clients


def _schedule(world: SimWorld, scenario: Scenario, invoke: Callable[[dict[str, Any]], None]) -> float:
    """The scheduled runs (one a day) and the reconciliations (every `reconcile_minutes`, through the drain
    days); returns when the scenario ends."""
    start = world.clock
    for day in range(scenario.days):
        event = {
            "version": "0",
            "id": f"schedule-day-{day}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "region": PRIMARY,
            "detail": {},
        }
        world.at(start + day * DAY + 3600, partial(invoke, event))
    end = start + (scenario.days + scenario.drain_days) * DAY
    step = scenario.reconcile_minutes * 60.0
    t = start + step
    while t < end:
        world.at(t, lambda: invoke({"reconcile_copies": True}))
        t += step
    return end


ROOT_VOLUME_GIB = 8


def add_instance(world: SimWorld, scenario: Scenario) -> str:
    """One instance of the scenario's fleet: its volume sizes and its retention override, drawn from the
    world's random source only when the scenario asks for them (older scenarios replay unchanged)."""
    sizes: tuple[int, ...] = ()
    if scenario.data_volume_sizes:
        data = [world.rng.choice(scenario.data_volume_sizes) for _ in range(scenario.volumes - 1)]
        sizes = (ROOT_VOLUME_GIB, *data)
    tags = {}
    if scenario.short_retention_share and world.rng.random() < scenario.short_retention_share:
        tags["Backup-Retention-Days"] = str(scenario.short_retention_days)
    return world.add_instance(scenario.volumes, sizes=sizes, tags=tags)


def _figures(
    world: SimWorld, scenario: Scenario, params: SimParams, figures: dict[str, Any]
) -> dict[str, Any]:
    """The figures of a run: a function of the scenario and its seed alone (no wall time, no order of a set
    or of an id), so that one seed gives byte-identical JSON in any process (issue 19)."""
    span = (world.last_set_complete_at - world.first_owed_at) if world.first_owed_at else 0.0
    bound = world.copy_work / params.copy_limit if world.copy_work else 0.0
    return {
        "scenario": {**asdict(scenario), "params": asdict(params)},
        "slot_utilisation": round(world.slot_time / world.owed_time, 4) if world.owed_time else None,
        "dr_complete_vs_bound": round(span / bound, 4) if bound else None,
        **_pipeline_counts(world, figures),
        "unsafe_deletions": world.unsafe_deletions,
        "spurious_failures": figures["failures"] - figures["failing_copy_failures_reported"]
        if params.copy_failure_rate == 0
        else None,
        "failing_copy_failures": sum(
            1 for sid in world.doomed for c in world.copies_of.get(sid, []) if c["State"] == "error"
        ),
        "failing_copy_failures_reported": figures["failing_copy_failures_reported"],
        "unexpected_failure_samples": figures["unexpected_failures"],
        "copies_started": len(world.copy_calls),
        "copy_work_hours": round(world.copy_work / 3600, 1),
        "dr_complete_hours": round(span / 3600, 1),
        "copy_backlog_max": figures["copy_backlog_max"],
        "copy_backlog_last": figures["copy_backlog_last"],
        "oldest_owed_max_hours": round(figures["oldest_owed_max_s"] / 3600, 1),
        "dr_recovery_point_age_max_hours": round(figures["dr_age_max_s"] / 3600, 1),
        "dr_age_alarm": figures["dr_age_max_s"] > scenario.dr_rpo_alarm_hours * 3600,
        "events": {
            "sent": world.events_sent,
            "dropped": world.events_dropped,
            "duplicated": world.events_duplicated,
        },
        "invocations": figures["invocations"],
        "invocations_killed": figures["killed"],
        "run_continuations": figures["continuations"],
        "ssm_requests": figures["ssm_requests"],  # (v3) scripts of the opted-in share
        "overlapping_invocations": world.overlaps,
        "requests_per_invocation": requests_per_invocation(figures["requests"]),
        "throttled_requests": sum(world.buckets.throttled.values()),
        "throttled_by_action": dict(sorted(world.buckets.throttled.items())),
        "copy_backlog_max_by_day": [figures["backlog_by_day"].get(d, 0) for d in range(scenario.days)],
        "invocation_errors": figures["errors"][:5],
        "failure_samples": figures["failure_samples"],
        **world.watch.figures(START.timestamp()),
    }


def _pipeline_counts(world: SimWorld, figures: dict[str, Any]) -> dict[str, int]:
    """Copies made twice, and primaries lost, left uncopied or unseen at the end (the module's docstring)."""
    duplicates = 0
    for copies in world.copies_of.values():
        live = [c for c in copies if c["State"] != "error"]
        if len(live) > 1:
            duplicates += len(live) - 1
    # Primaries whose every copy fails are not lost: they are reported, and backed off (`failing_copy_*`).
    uncopied = sum(
        1
        for sid in world.completed_primaries
        if "completed" not in world.copy_state(sid) and sid not in world.doomed
    )
    # Not lost: copies still pending, and the owed ones the last invocation counted in its backlog.
    pending = sum(1 for sid in world.completed_primaries if "pending" in world.copy_state(sid))
    # Nor unseen (issue 19, found by the swarm with short drains): uncopied primaries that completed, or whose
    # copy failed, after the last reconciliation, their event dropped; the next reconciliation would see them.
    unseen = sum(
        1
        for sid in world.completed_primaries
        if sid not in world.doomed
        and not world.copy_state(sid) & {"completed", "pending"}
        and max(
            [world.completed_at.get(sid, 0.0)]
            + [c.get("_ended_at", 0.0) for c in world.copies_of.get(sid, [])]
        )
        > figures["last_reconcile_at"]
    )
    lost = max(uncopied - pending - figures["copy_backlog_last"] - unseen, 0)
    return {"duplicates": duplicates, "lost": lost, "uncopied_at_end": uncopied, "unseen_at_end": unseen}


def copy_pipeline(instances: int = 500, days: int = 7, seed: int = 1) -> Scenario:
    """(v3) The week of the issue with what makes retention hard: data volumes of mixed sizes (their sets
    complete hours apart), 1 % of primaries whose copies fail for good, retention shorter than the week
    (3 days, DR 1 day, a fifth of the instances 1 day in both regions), so that pruning runs every day."""
    return Scenario(
        instances=instances,
        days=days,
        retention_days=3,
        dr_retention_days=1,
        short_retention_share=0.2,
        data_volume_sizes=(50, 200, 1000, 4000),
        params=SimParams(seed=seed, permanent_copy_failure_rate=0.01),
    )


def overload(instances: int = 500, days: int = 4, seed: int = 1) -> Scenario:
    """More copy work a day than 20 slots carry: incremental copies of 3 h median (GUESS of a heavy churn)."""
    return Scenario(
        instances=instances,
        days=days,
        drain_days=0.5,
        params=SimParams(seed=seed, first_copy_median_s=4 * 3600.0, incremental_copy_median_s=3 * 3600.0),
    )
