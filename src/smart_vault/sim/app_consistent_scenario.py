"""(v3) Application-consistent sets on the simulation: opted-in instances, their agents and scripts.

`opt_in` tags a share of the simulated fleet `Backup-Scripts` and gives each opted-in instance an agent and
scripts (`ScriptBehaviour`: lognormal durations around GUESSED medians, optional failure and offline rates);
it returns the SSM client the backup handler gets (`Clients.ssm`). `one_run` runs one scheduled backup of a
fleet in a single simulated Lambda invocation (15 minutes) and reports its figures: the run's simulated
duration, continuations, SSM requests per opted-in instance, how long applications stayed frozen.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from smart_vault import aws, pacing
from smart_vault.backup import entry
from smart_vault.backup.invocation import Clients
from smart_vault.backup.ledger import CopyLedger
from smart_vault.config import BackupSettings
from smart_vault.sim.dynamodb import SimDynamoDB, SimSNS
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.ssm import ScriptBehaviour, SimSSM, SsmModel
from smart_vault.sim.world import ACCOUNT, SimParams, SimWorld
from smart_vault.tags import SCRIPTS_TAG

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

DOCUMENT = "smart-vault-fsfreeze"


@dataclass
class ScriptProfile:
    """GUESS: what scripts of a fleet do (a fsfreeze takes about a second, a database flush a few)."""

    pre_median_s: float = 2.0
    post_median_s: float = 0.5
    pre_failure_rate: float = 0.0
    post_failure_rate: float = 0.0
    offline_rate: float = 0.0


def opt_in(world: SimWorld, share: float, profile: ScriptProfile | None = None) -> SimSSM:
    """Tag every `round(1/share)`-th instance (evenly spread, so continuations see a mix) and model it."""
    profile = profile or ScriptProfile()
    # On the latest time of all threads, as the EC2 pacer: a batch thread that waited for a lock (real time)
    # must not send its post-script "in the past" of the CreateSnapshots its workers made.
    model = SsmModel(clock=lambda: world.clock, seed=world.p.seed, documents={DOCUMENT})
    # Its own random source: opting a share in must not shift the world's draws (pending times, event
    # drops), so that a scenario with and without scripts differs by the scripts only.
    rng = random.Random(world.p.seed + 22)  # noqa: S311  # nosec B311 - seeded simulation, not security

    def lognormal(median: float) -> float:
        return median * math.exp(rng.gauss(0.0, world.p.sigma))

    opted = 0
    for index, instance in enumerate(world.instances):
        if share <= 0 or opted >= round(share * (index + 1)):
            continue
        opted += 1
        instance["Tags"].append({"Key": SCRIPTS_TAG, "Value": DOCUMENT})
        instance.pop("_td", None)
        model.behaviour[instance["InstanceId"]] = ScriptBehaviour(
            online=rng.random() >= profile.offline_rate,
            pre_seconds=lognormal(profile.pre_median_s),
            post_seconds=lognormal(profile.post_median_s),
            pre_status="Failed" if rng.random() < profile.pre_failure_rate else "Success",
            post_status="Failed" if rng.random() < profile.post_failure_rate else "Success",
        )
    return SimSSM(model, world.sleep, world.api_lock, rng)


def one_run(
    instances: int = 1000,
    volumes: int = 2,
    share: float = 1.0,
    seed: int = 1,
    profile: ScriptProfile | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One scheduled run of `instances` (a `share` of them opted in) in one simulated invocation."""
    from smart_vault.sim.backup_function import SimContext, SimLambda
    from smart_vault.sim.scenario import DR, PRIMARY, START

    world = SimWorld(SimParams(seed=seed), START, PRIMARY, DR)
    for _ in range(instances):
        world.add_instance(volumes)
    ssm = opt_in(world, share, profile)
    settings = BackupSettings.from_env(
        {
            "AWS_REGION": PRIMARY,
            "SNS_TOPIC_ARN": f"arn:aws:sns:{PRIMARY}:{ACCOUNT}:smart-vault",
            "DR_REGION": DR,
            "DR_KMS_KEY_ID": f"arn:aws:kms:{DR}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
            "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
            **(env or {}),
        }
    )
    clients = Clients(  # the simulated services answer as the clients do
        ec2=cast("EC2Client", SimEC2(world, PRIMARY)),
        dr_ec2=cast("EC2Client", SimEC2(world, DR)),
        ledger=CopyLedger(cast("DynamoDBClient", SimDynamoDB(world)), settings.copy_ledger_table),
        ssm=cast("SSMClient", ssm),
    )
    for client in (clients.ec2, clients.dr_ec2):
        pacing.Pacer(pacing.EC2_RATES, clock=lambda: world.clock, sleep=world.sleep).attach(client)
    lam = SimLambda(world, lambda payload: None)
    saved = (aws._monotonic, aws._sleep), dict(aws._clients)
    aws.set_clock(world.monotonic, world.sleep)
    aws._clients[("sns", PRIMARY)] = SimSNS()
    aws._clients[("lambda", PRIMARY)] = lam
    level = entry.logger.log_level
    entry.logger.setLevel("ERROR")
    start = world.clock
    event: dict[str, Any] = {
        "id": "app-consistent-run",
        "source": "aws.events",
        "detail-type": "Scheduled Event",
    }
    event |= {"version": "0", "account": ACCOUNT, "region": PRIMARY, "detail": {}}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            report = entry.handle(
                event, SimContext("req-1", world), settings, world.now(), clients, world.runtime()
            )
    finally:
        entry.logger.setLevel(level)
        aws.set_clock(*saved[0])
        aws._clients.clear()
        aws._clients.update(saved[1])
        entry.metrics.clear_metrics()
    return _figures(world, ssm.model, report, start, lam.continuations)


def _figures(
    world: SimWorld, model: SsmModel, report: dict[str, Any], start: float, continuations: int
) -> dict:
    opted = len(model.behaviour)
    freezes = model.freeze_seconds()
    statuses = [i["status"] for i in report["instances"]]
    return {
        "instances": len(report["instances"]),
        "opted_in": opted,
        "instances_ok": statuses.count("ok"),
        "instances_failed": statuses.count("failed"),
        "run_seconds": round(world.clock - start, 1),
        "continuations": continuations,
        "ssm_requests": dict(sorted(model.requests.items())),
        "ssm_requests_per_opted_in_instance": round(sum(model.requests.values()) / opted, 3)
        if opted
        else 0.0,
        "ssm_throttled": sum(model.throttled.values()),
        "ec2_throttled": sum(world.buckets.throttled.values()),
        "freeze_seconds_median": round(statistics.median(freezes), 1) if freezes else None,
        "freeze_seconds_max": round(max(freezes), 1) if freezes else None,
        "thawed_by_post_script": sum(
            1 for fs in model.freezes.values() for f in fs if f.thawed_by == "post-script"
        ),
        "failures": report["failures"][:5],
    }
