"""The drill run: select recovery points, drill each one in parallel (`drill.one`), and report.

Each drill is a full-instance restore by the restore engine into the isolated drill network (`drill.one`);
this module chooses what to drill, runs the drills side by side, and builds the report of the contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.config import DrillSettings
from smart_vault.drill.candidates import Candidate, recovery_points_here
from smart_vault.drill.records import (
    FAILED,
    NOTHING_TO_DRILL,
    PARTIAL,
    PASSED,
    Clock,
    DrillClients,
    DrillRequest,
    Record,
    utc_now,
)
from smart_vault.drill.selection import Plan, count_overdue, select_drills
from smart_vault.drill.sweep import shrink_sweep, sweep_budget, sweep_leftovers, sweep_lines
from smart_vault.errors import AwsError
from smart_vault.runtime import Runtime

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# What the handler (entry) and the simulations import from here; the statuses and clients live in `records`.
__all__ = [
    "FAILED",
    "PASSED",
    "DrillClients",
    "DrillRequest",
    "recovery_points_here",
    "run_drills",
    "shrink",
    "summary_text",
]


def run_status(records: Sequence[Record]) -> str:
    if not records:
        return NOTHING_TO_DRILL
    passed = sum(1 for r in records if r["status"] == PASSED)
    if passed == len(records):
        return PASSED
    return FAILED if passed == 0 else PARTIAL


def _subnet_zone(ec2: EC2Client, subnet_id: str) -> tuple[str | None, str | None]:
    try:
        with aws.aws_errors("DescribeSubnets"):
            subnets = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    except AwsError as exc:
        return None, f"DRILL_SUBNET_ID {subnet_id} could not be read: {exc.readable()}"
    if not subnets:
        return None, f"DRILL_SUBNET_ID {subnet_id} was not found"
    return subnets[0]["AvailabilityZone"], None


def run_drills(
    request: DrillRequest,
    settings: DrillSettings,
    clients: DrillClients,
    *,
    seconds_left: float,
    clock: Clock = utc_now,
    max_parallel: int | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """One drill run: the report of the contract (publishing and metrics are the caller's). Durations and
    parallelism come from `runtime` (default: the production one; its clock is the one of every reading)."""
    runtime = runtime or Runtime.default()
    run_started = runtime.monotonic()
    # First what earlier drills left (a dry run changes nothing): it takes only what the drills can spare.
    sweep = None
    if not request.dry_run:
        budget = sweep_budget(seconds_left, settings.timeout_seconds)
        sweep = sweep_leftovers(clients.ec2, clock(), budget, runtime)
    candidates = recovery_points_here(clients.ec2, clock())
    points = [c.point for c in candidates]
    last_drilled = clients.store.last_drilled()
    plan = select_drills(points, last_drilled, settings.max_instances, request.instance_ids)
    records: list[Record] = []
    if plan.planned and not request.dry_run:
        records = _drill_planned(
            plan, candidates, settings, clients, clock, runtime, run_started, seconds_left, max_parallel
        )
        for record in records:
            last_drilled[record["instance_id"]] = datetime.fromisoformat(
                record["started_at"].replace("Z", "+00:00")
            )
    if request.dry_run:
        status = PASSED if plan.planned else NOTHING_TO_DRILL
    else:
        status = run_status(records)
    return {
        "drill_run_id": request.drill_run_id,
        "region": settings.region,
        "dry_run": request.dry_run,
        "status": status,
        "drills": records,
        "planned": [{"instance_id": p.instance_id, "backup_set_id": p.backup_set_id} for p in plan.planned],
        "skipped": [{"instance_id": i, "reason": reason} for i, reason in plan.skipped],
        "overdue": count_overdue(points, last_drilled, clock(), settings.rotation_days),
        "sweep": sweep,
    }


def _drill_planned(
    plan: Plan,
    candidates: Sequence[Candidate],
    settings: DrillSettings,
    clients: DrillClients,
    clock: Clock,
    runtime: Runtime,
    run_started: float,
    seconds_left: float,
    max_parallel: int | None,
) -> list[Record]:
    """Drill the planned recovery points side by side; a record of each, in the plan's order."""
    # The restore engine comes with the first drill: a cold start and a dry run do not load it.
    from smart_vault.drill.one import DrillContext, drill_one

    by_set = {c.point.backup_set_id: c for c in candidates}
    zone, network_error = _subnet_zone(clients.ec2, settings.subnet_id)
    ctx = DrillContext(
        settings, clients, clock, runtime.monotonic, run_started, seconds_left, zone, network_error
    )
    with runtime.executor(max_parallel or len(plan.planned), "drill") as pool:
        futures = [pool.submit(drill_one, by_set[p.backup_set_id], ctx) for p in plan.planned]
        return [future.result() for future in futures]


def summary_text(report: Mapping[str, Any]) -> str:
    """The readable summary the email subscribers get."""
    lines = [
        f"Smart Vault drill run {report['drill_run_id']} in {report['region']}: {report['status']}"
        + (" (dry run)" if report["dry_run"] else ""),
        f"Overdue instances (not drilled within the rotation): {report['overdue']}",
    ]
    if report["dry_run"]:
        lines.append("Planned:")
        lines.extend(f"  {p['instance_id']} from {p['backup_set_id']}" for p in report["planned"])
    for drill in report["drills"]:
        rto = f"RTO {drill['rto_seconds']:.0f} s" if drill["rto_seconds"] is not None else "no RTO"
        slowest = max(drill["stages"].items(), key=lambda kv: kv[1], default=None)
        slow = f", slowest stage {slowest[0]} {slowest[1]:.0f} s" if slowest else ""
        lines.append(
            f"  {drill['instance_id']} ({drill['name'] or '-'}): {drill['status']}, {rto}{slow}, "
            f"torn down: {'yes' if drill['torn_down'] else 'NO'}"
            + (f", leftovers: {', '.join(drill['leftovers'])}" if drill["leftovers"] else "")
        )
        if drill["error"]:
            lines.append(f"    error: {drill['error']}")
    for item in report["skipped"]:
        lines.append(f"  skipped {item['instance_id']}: {item['reason']}")
    lines.extend(sweep_lines(report.get("sweep")))
    return "\n".join(lines)


def shrink(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report cut down for SNS: counts, and the failed drills in full."""
    drills = report.get("drills") or []
    return {
        **{k: report[k] for k in ("drill_run_id", "region", "dry_run", "status", "overdue") if k in report},
        "counts": {
            "drills": len(drills),
            "passed": sum(1 for d in drills if d["status"] == PASSED),
            "planned": len(report.get("planned") or []),
            "skipped": len(report.get("skipped") or []),
        },
        "drills": [d for d in drills if d["status"] != PASSED],
        "sweep": shrink_sweep(report.get("sweep")),
    }
