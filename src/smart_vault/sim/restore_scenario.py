"""One full-instance restore on the simulation: the real engine (`smart_vault.restore.engine`) against the
simulated EC2 of sim/compute.py, in virtual time, in the DR region while the primary is not called at all.

The figures: the recovery time (the restore's start until the instance passes its status checks), the time of
each step, and the EC2 API calls the restore made, by operation. Repeated over seeds, the recovery time's
median and p95 show the spread of the launch and status-check times the simulation draws.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from smart_vault import aws
from smart_vault.restore.engine import Deadline, InstancePlan, InstanceRestore, find_leftovers
from smart_vault.sim.drill_scenario import DR, PRIMARY, START, percentile, seed_recovery_points
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.world import SimParams, SimWorld

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

RECOVERED_AFTER = "wait_status_checks"  # the instance is back once its status checks pass


@dataclass
class TimingRecorder:
    """The engine's Recorder: each step's virtual start and end."""

    clock: Any
    steps: list[tuple[str, float, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = self.clock()
        yield
        self.steps.append((name, started, self.clock()))

    def save(self, **fields: Any) -> None:
        pass


def restore_once(seed: int, volumes: int = 3) -> dict[str, Any]:
    world = SimWorld(SimParams(seed=seed), START, PRIMARY, DR)
    seed_recovery_points(world, 1, volumes=volumes)
    tags = aws.tags_to_dict(next(iter(world.snapshots[DR].values()))["Tags"])
    dr, primary = SimEC2(world, DR), SimEC2(world, PRIMARY)
    plan = InstancePlan(
        restore_id=str(uuid.UUID(int=seed)),
        region=DR,
        backup_set_id=tags["smart-vault:backup-set"],
        subnet_id="subnet-0123456789abcdef0",
        availability_zone=f"{DR}a",
        security_group_ids=("sg-0123456789abcdef0",),
        instance_type=tags["smart-vault:instance-type"],
    )
    recorder = TimingRecorder(world.monotonic)
    aws.set_clock(world.monotonic, world.sleep)
    try:
        started = world.monotonic()
        engine = InstanceRestore(
            cast("EC2Client", dr), plan, recorder, Deadline(900.0, 180.0, clock=world.monotonic)
        )
        engine.execute()
        ended = world.monotonic()
        calls, requests = dict(dr.calls), dict(world.requests)
        left_after_restore = find_leftovers(cast("EC2Client", dr), plan.restore_id)
    finally:
        aws.set_clock(None, None)
    recovered = next(end for name, _, end in recorder.steps if name == RECOVERED_AFTER)
    return {
        "rto_s": round(recovered - started, 1),
        "total_s": round(ended - started, 1),
        "steps_s": {name: round(end - begin, 1) for name, begin, end in recorder.steps},
        "ec2_calls": sum(calls.values()),
        "ec2_calls_by_operation": dict(sorted(calls.items())),
        "ec2_requests_by_action": dict(sorted(requests.items())),  # what EC2 saw (SimEC2.send)
        "primary_region_calls": sum(primary.calls.values()),
        "volumes": len(engine.volume_ids),
        # What a finished restore leaves: the instance and its volumes, and no image.
        "images_left": sorted(x for x in left_after_restore if x.startswith("ami-")),
    }


def run_restore_scenario(restores: int = 20, volumes: int = 3, seed: int = 1) -> dict[str, Any]:
    """`restores` independent full-instance restores of a `volumes`-volume instance in the DR region."""
    results = [restore_once(seed + n, volumes) for n in range(restores)]
    rtos = [r["rto_s"] for r in results]
    return {
        "restores": restores,
        "volumes": volumes,
        "one_restore": results[0],
        "rto_p50_s": round(percentile(rtos, 0.5), 1),
        "rto_p95_s": round(percentile(rtos, 0.95), 1),
        "ec2_calls_p50": percentile([r["ec2_calls"] for r in results], 0.5),
        "primary_region_calls": sum(r["primary_region_calls"] for r in results),
        "images_left": sum(len(r["images_left"]) for r in results),
    }
