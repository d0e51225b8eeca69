"""Restore drills on the simulation: the real drill run (`smart_vault.drill.run`) and the real full-instance
engine against the simulated EC2 of sim/compute.py, in virtual time.

Each scheduled run drills every protected instance (one complete recovery point each in the DR region); the
figures are the recovery time per drill (p50, p95), the EC2 API calls a drill costs, and the requests EC2 saw
(every call and every retry of a throttled one, through `SimEC2.send`; `api_rate_scale` shrinks the buckets). After every run the
invariant is checked: nothing tagged with a drill's restore id is left (instance, volume or image).

The simulation's clock is single-threaded, so a run's drills go one after another here (in AWS they run in
parallel); each gets the time a parallel drill would have. A drill's recovery time is its own stages either
way. The results table is kept in memory (the simulation models EC2's timing, not DynamoDB).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_vault import aws
from smart_vault.config import DrillSettings
from smart_vault.drill.run import PASSED, DrillClients, DrillRequest, run_drills
from smart_vault.sim.dynamodb import SimSNS
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.world import SimParams, SimWorld

PRIMARY, DR = "eu-west-1", "eu-central-1"
START = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
LAMBDA_SECONDS = 900.0


class MemoryDrillResults:
    """The results store's interface (`put`, `last_drilled`, `latest`), in memory."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def put(self, record: dict[str, Any]) -> None:
        self.records.append(dict(record))

    def latest(self) -> list[dict[str, Any]]:
        newest: dict[str, dict[str, Any]] = {}
        for record in self.records:
            current = newest.get(record["instance_id"])
            if current is None or record["started_at"] >= current["started_at"]:
                newest[record["instance_id"]] = record
        return sorted(newest.values(), key=lambda r: r["started_at"], reverse=True)

    def last_drilled(self) -> dict[str, datetime]:
        return {
            r["instance_id"]: datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
            for r in self.latest()
        }


def seed_recovery_points(world: SimWorld, instances: int, volumes: int = 2) -> list[str]:
    """One complete recovery point per instance in the DR region, tagged as the backup tags DR copies."""
    instance_ids = []
    for n in range(instances):
        instance_id = world.new_id("i")
        # From the seed, not from `secrets` (a seed replays its drill reports too) nor the world's random
        # source (the draws of the run stay where they were).
        set_id = "bset-" + hashlib.sha256(f"{world.p.seed}:{n}".encode()).hexdigest()[:20]
        devices = ["/dev/xvda"] + [f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1)]
        for device in devices:
            snapshot_id = world.new_id("snap")
            tags = {
                "ManagedBy": "smart-vault",
                "Name": f"app-{n + 1}",
                "smart-vault:source-instance": instance_id,
                "smart-vault:source-volume": world.new_id("vol"),
                "smart-vault:device": device,
                "smart-vault:backup-set": set_id,
                "smart-vault:run-id": "sim-run",
                "smart-vault:set-size": str(volumes),
                "smart-vault:instance-type": "t3.small",
                "smart-vault:architecture": "x86_64",
                "smart-vault:platform": "Linux/UNIX",
                "smart-vault:root-device": "/dev/xvda",
                "smart-vault:ena": "true",
                "smart-vault:volume-type": "gp3",
                "smart-vault:delete-on-termination": "true",
                "smart-vault:source-region": PRIMARY,
            }
            world.add_snapshot(
                DR,
                {
                    "SnapshotId": snapshot_id,
                    "VolumeId": "vol-ffffffff",
                    "State": "completed",
                    "StartTime": world.now() - timedelta(hours=2),
                    "OwnerId": "123456789012",
                    "VolumeSize": 8,
                    "Encrypted": True,
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    "_visible_at": 0.0,
                },
            )
        instance_ids.append(instance_id)
    return instance_ids


def leftovers(world: SimWorld) -> list[str]:
    """What a drill left in the DR region, read from the world's state (not through the API, so that the
    check is no request of the run): live drill instances, volumes, images."""
    compute = world.compute.get(DR)
    if compute is None:
        return []
    drills = [{"Name": "tag-key", "Values": ["smart-vault:drill-id"]}]
    left = [i["InstanceId"] for i in compute.listing(drills) if i["State"]["Name"] != "terminated"]
    left += world.volumes.live(DR)
    left += list(compute.images)
    return left


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class DrillFigures:
    drills: int = 0
    passed: int = 0
    rto: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    ec2_calls: dict[str, int] = field(default_factory=dict)
    leftovers_after_runs: list[list[str]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # what reached EC2, retries included
    throttled: dict[str, int] = field(default_factory=dict)  # RequestLimitExceeded answers

    def summary(self) -> dict[str, Any]:
        calls = sum(self.ec2_calls.values())
        return {
            "drills": self.drills,
            "passed": self.passed,
            "rto_p50_s": round(percentile(self.rto, 0.5), 1),
            "rto_p95_s": round(percentile(self.rto, 0.95), 1),
            "rto_max_s": round(max(self.rto, default=0.0), 1),
            "stage_p50_s": {k: round(percentile(v, 0.5), 1) for k, v in sorted(self.stages.items())},
            "ec2_calls_per_drill": round(calls / self.drills, 1) if self.drills else 0.0,
            "ec2_calls_by_operation": dict(sorted(self.ec2_calls.items())),
            "ec2_requests_by_action": dict(sorted(self.requests.items())),
            "ec2_throttled_by_action": dict(sorted(self.throttled.items())),
            "leftovers": sum(len(x) for x in self.leftovers_after_runs),
        }


def run_drill_scenario(
    instances: int = 5, runs: int = 4, seed: int = 1, api_rate_scale: float = 1.0
) -> DrillFigures:
    """`runs` weekly drill runs of `instances` protected instances; the figures and the invariant's record."""
    world = SimWorld(SimParams(seed=seed, api_rate_scale=api_rate_scale), START, PRIMARY, DR)
    seed_recovery_points(world, instances)
    ec2 = SimEC2(world, DR)
    clients = DrillClients(ec2=ec2, lambda_client=None, store=MemoryDrillResults(), sns=SimSNS())  # type: ignore[arg-type]
    settings = DrillSettings(
        region=DR,
        sns_topic_arn=f"arn:aws:sns:{DR}:123456789012:smart-vault-dr-notifications",
        results_table="memory",
        subnet_id="subnet-0123456789abcdef0",
        security_group_ids=("sg-0123456789abcdef0",),
        max_instances=instances,
    )
    figures = DrillFigures()
    aws.set_clock(world.monotonic, world.sleep)
    try:
        for week in range(runs):
            world.advance_to((START + timedelta(days=7 * week)).timestamp())
            report = run_drills(
                DrillRequest(drill_run_id=f"sim-week-{week + 1}"),
                settings,
                clients,
                seconds_left=LAMBDA_SECONDS * instances,
                clock=world.now,
                max_parallel=1,
            )
            figures.reports.append(report)
            for drill in report["drills"]:
                figures.drills += 1
                if drill["status"] == PASSED:
                    figures.passed += 1
                    figures.rto.append(drill["rto_seconds"])
                    for name, seconds in drill["stages"].items():
                        figures.stages.setdefault(name, []).append(seconds)
            figures.leftovers_after_runs.append(leftovers(world))
    finally:
        aws.set_clock(None, None)
    figures.ec2_calls = dict(ec2.calls)
    figures.requests, figures.throttled = dict(world.requests), dict(world.buckets.throttled)
    return figures
