"""`make bench`: scale figures of the backup run. Prints them and writes bench/results.json.

1. AWS calls per protected instance (N=500, 3 volumes) and the ratio to the floor.
2. Wall time of a full run (N=1000, 2 volumes) against moto_server over HTTP, median of 3.
3. Under a simulated EC2 token bucket on CreateSnapshots: achieved rate / refill rate, failed instances.
4. Cold start: median import time of each handler module in a fresh interpreter, and its ratio to boto3,
   with tracing off and on (`python bench/run.py --figure cold-start` runs only this one).
5. With the Lambda budget shortened to a few seconds (N=10000): continuations, instances left unprotected.

Figures 1, 2 and 5 measure the engine with pacing off (moto does not throttle, and pacing at EC2's real
rates would only measure the sleep); figure 3 measures the pacing itself, scaled so that it runs in seconds.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import subprocess  # nosec B404 - the bench times fresh interpreters
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

harness.setup_environment()

from moto import mock_aws  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from smart_vault import aws, pacing  # noqa: E402
from smart_vault.backup import entry as backup  # noqa: E402

harness.speed_up_moto_tag_lookups()
from smart_vault.backup.invocation import Clients  # noqa: E402
from smart_vault.config import BackupSettings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results.json"


def _clients(paced_rates=None) -> Clients:
    from smart_vault.local import moto_fidelity

    moto_fidelity.apply()  # what moto lacks (v3: the snapshot locks every full run lists)
    ec2 = aws.client("ec2", harness.PRIMARY_REGION)
    dr = aws.client("ec2", harness.DR_REGION)
    if paced_rates is not None:
        pacing.pace(ec2, paced_rates)
        pacing.pace(dr, paced_rates)
    return Clients(ec2, dr)


def _run(event, context, clients):
    return backup.handle(event, context, BackupSettings.from_env(), datetime.now(UTC), clients=clients)


def figure_1_calls_per_instance(n: int = 500, volumes: int = 3) -> dict:
    with mock_aws():
        aws.reset_clients()
        clients = _clients()
        harness.create_topic_and_ledger(
            aws.client("sns", harness.PRIMARY_REGION), aws.client("dynamodb", harness.PRIMARY_REGION)
        )
        harness.seed_fleet(clients.ec2, n, volumes)
        counter = harness.CallCounter()
        for client in (clients.ec2, clients.dr_ec2, aws.client("sns", harness.PRIMARY_REGION)):
            counter.attach(client)
        report = _run(harness.scheduled_event("bench-calls"), harness.LambdaContext(), clients)
    protected = sum(1 for i in report["instances"] if i["status"] == "ok")
    # The floor: per instance 1 CreateSnapshots, V CreateTags, V CopySnapshot; plus the describe pages of
    # 1000 that real AWS would return for the instances and the snapshots of both regions, and (v3) one
    # DescribeLockedSnapshots listing per region (no locks here: one page each).
    pages = math.ceil(n / 1000) + 2 * math.ceil(n * volumes / 1000) + 2
    floor = n * (1 + 2 * volumes) + pages
    total = counter.total()
    return {
        "instances": n,
        "volumes_per_instance": volumes,
        "protected": protected,
        "copies_started": len(report["copies_started"]),
        "calls": dict(sorted(counter.calls.items())),
        "calls_total": total,
        "calls_per_instance": round(total / protected, 3),
        "floor_per_instance": round(floor / n, 3),
        "ratio_to_floor": round(total / floor, 4),
    }


def figure_2_wall_time_over_http(n: int = 1000, volumes: int = 2, runs: int = 3) -> dict:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request costs time
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    try:
        aws.reset_clients()
        clients = _clients()
        harness.create_topic_and_ledger(
            aws.client("sns", harness.PRIMARY_REGION), aws.client("dynamodb", harness.PRIMARY_REGION)
        )
        harness.seed_fleet(clients.ec2, n, volumes)
        times, reports = [], []
        for run in range(runs):
            started = time.perf_counter()
            reports.append(
                _run(harness.scheduled_event(f"bench-http-{run}"), harness.LambdaContext(), clients)
            )
            times.append(time.perf_counter() - started)
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
        aws.reset_clients()
        server.stop()
    return {
        "instances": n,
        "volumes_per_instance": volumes,
        "runs_seconds": [round(t, 2) for t in times],
        "median_seconds": round(harness.median(times), 2),
        "statuses": [r["status"] for r in reports],
        "snapshots_per_run": [len(r["snapshots_created"]) for r in reports],
    }


def figure_3_rate_under_token_bucket(n: int = 600, scale: float = 3.0) -> dict:
    refill = 5.0 * scale  # EC2's CreateSnapshots refill rate, sped up so that the run takes seconds
    capacity = int(20 * scale)
    with mock_aws():
        aws.reset_clients()
        clients = _clients(pacing.scaled(pacing.EC2_RATES, scale))
        harness.create_topic_and_ledger(
            aws.client("sns", harness.PRIMARY_REGION), aws.client("dynamodb", harness.PRIMARY_REGION)
        )
        harness.seed_fleet(clients.ec2, n, 1)
        bucket = harness.SimulatedBucket("CreateSnapshots", refill, capacity)
        bucket.attach(clients.ec2)
        started = time.perf_counter()
        report = _run(harness.scheduled_event("bench-bucket"), harness.LambdaContext(), clients)
        elapsed = time.perf_counter() - started
    achieved = bucket.achieved_rate()
    return {
        "instances": n,
        "bucket_refill_per_s": refill,
        "bucket_capacity": capacity,
        "achieved_create_snapshots_per_s": round(achieved, 2),
        "fraction_of_refill_rate": round(achieved / refill, 3),
        "throttled_answers": bucket.throttled,
        "failed_instances": sum(1 for i in report["instances"] if i["status"] == "failed"),
        "run_seconds": round(elapsed, 1),
    }


# Tracing off is what tests, the local stack and a function without active tracing see; tracing on is a
# Lambda function with X-Ray active tracing (LAMBDA_TASK_ROOT set, POWERTOOLS_TRACE_DISABLED false), where
# Powertools' Tracer loads the X-Ray SDK at import.
TRACING_ENV = {
    "off": {"POWERTOOLS_TRACE_DISABLED": "true"},
    "on": {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": str(harness.ROOT / "src")},
}


def _import_sample(module: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of a fresh interpreter's import of `module`; for a handler module, also its
    `handler` attribute, as the Lambda runtime resolves `module.handler` (a package may import it lazily)."""
    handler = "" if module == "boto3" else "; m.handler"
    code = (
        "import time, importlib; t = time.perf_counter(); c = time.process_time(); "
        f"m = importlib.import_module({module!r}){handler}; "
        "print(time.perf_counter() - t, time.process_time() - c)"
    )
    out = subprocess.run(  # nosec B603 - our own interpreter and a fixed command
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    wall, cpu = out.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _paired_import_seconds(module: str, repeats: int, extra_env: dict[str, str] | None = None) -> dict:
    """Medians for `module` and for `import boto3`, sampled alternately so that both see the same load (the
    machine is shared: a ratio of medians taken minutes apart measures the load, not the import)."""
    env = {**os.environ, "PYTHONPATH": str(harness.ROOT / "src"), **(extra_env or {})}
    samples: dict[str, list[tuple[float, float]]] = {"boto3": [], module: []}
    for _ in range(repeats):
        for name in ("boto3", module):
            samples[name].append(_import_sample(name, env))
    medians = {
        name: (harness.median([w for w, _ in pairs]), harness.median([c for _, c in pairs]))
        for name, pairs in samples.items()
    }
    (boto3_wall, boto3_cpu), (wall, cpu) = medians["boto3"], medians[module]
    return {
        "median_ms": round(wall * 1000, 1),
        "ratio_to_boto3": round(wall / boto3_wall, 2),
        "boto3_median_ms": round(boto3_wall * 1000, 1),
        "cpu_ms": round(cpu * 1000, 1),
        "cpu_ratio_to_boto3": round(cpu / boto3_cpu, 2),
    }


def figure_4_cold_start(repeats: int = 7) -> dict:
    tracing = {}
    for mode, extra_env in TRACING_ENV.items():
        tracing[mode] = {
            module: _paired_import_seconds(module, repeats, extra_env)
            for module in (
                "smart_vault.backup",
                "smart_vault.restore_api",
                "smart_vault.restore_worker",
                "smart_vault.drill",
            )
        }
    boto3_ms = [figure["boto3_median_ms"] for modules in tracing.values() for figure in modules.values()]
    return {"boto3_median_ms": harness.median(boto3_ms), "tracing": tracing, "repeats": repeats}


def print_figure_4(f4: dict) -> None:
    for mode, modules in f4["tracing"].items():
        for module, figure in modules.items():
            print(
                f"4. import {module}, tracing {mode}: {figure['median_ms']} ms = {figure['ratio_to_boto3']} x "
                f"import boto3 ({figure['boto3_median_ms']} ms, sampled alternately), median of {f4['repeats']}; "
                f"CPU {figure['cpu_ms']} ms = {figure['cpu_ratio_to_boto3']} x"
            )


def figure_5_continuations(n: int = 10_000, budget_s: float = 3.0, latency_s: float = 0.005) -> dict:
    import fake_ec2

    world = fake_ec2.World()
    ids = world.seed(n)
    clients = Clients(
        fake_ec2.FakeEC2(world, harness.PRIMARY_REGION, latency_s),
        fake_ec2.FakeEC2(world, harness.DR_REGION, latency_s),
    )
    with mock_aws():  # SNS and the Lambda client of the self-invocation
        aws.reset_clients()
        harness.create_topic_and_ledger(
            aws.client("sns", harness.PRIMARY_REGION), aws.client("dynamodb", harness.PRIMARY_REGION)
        )
        invocations = harness.SelfInvocations(aws.client("lambda", harness.PRIMARY_REGION))
        started = time.perf_counter()
        report = _run(harness.scheduled_event("bench-continue"), harness.LambdaContext(budget_s), clients)
        done = 0
        while done < len(invocations.payloads):
            payload = invocations.payloads[done]
            done += 1
            report = _run(payload, harness.LambdaContext(budget_s), clients)
        elapsed = time.perf_counter() - started
    run_filter = [{"Name": "tag:smart-vault:run-id", "Values": ["bench-continue"]}]
    snapshots = clients.ec2.find_snapshots(run_filter)
    covered = [t["Value"] for s in snapshots for t in s["Tags"] if t["Key"] == "smart-vault:source-instance"]
    return {
        "instances": n,
        "budget_seconds_per_invocation": budget_s,
        "latency_ms_per_call": latency_s * 1000,
        "emulator": "bench/fake_ec2.py (in-memory EC2; moto needs minutes to describe 10,000 instances)",
        "continuations": len(invocations.payloads),
        "instances_unprotected": len(set(ids) - set(covered)),
        "instances_backed_up_twice": len(covered) - len(set(covered)),
        "final_report_instances": len(report["instances"]),
        "final_status": report["status"],
        "copies_started_in_final_invocation": len(report["copies_started"]),
        "copies_deferred": report["copies_deferred"],
        "total_seconds": round(elapsed, 1),
    }


def _scenario_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/run.py")
    parser.add_argument("--scenario", choices=["copy-pipeline", "overload", "ransomware"], required=True)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--instances", "--fleet", type=int, default=500)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--drain-days", type=float, default=None, help="reconciliations after the last run")
    parser.add_argument("--copy-limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--overlap-rate", type=float, default=0.0)
    parser.add_argument("--kill-rate", type=float, default=0.0)
    parser.add_argument("--api-rate-scale", type=float, default=1.0)
    parser.add_argument("--copy-failure-rate", type=float, default=0.0)
    parser.add_argument("--attacked", type=int, default=5, help="ransomware: instances attacked on day 20")
    parser.add_argument(
        "--vault", action="store_true", help="(v3) with the vault account: the JSON gains the vault_* keys"
    )
    parser.add_argument(
        "--app-consistent-share", type=float, default=0.0, help="share of the fleet with pre-/post-scripts"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the run broke an invariant (sim/invariants.py)"
    )
    return parser


def _scenario(args: argparse.Namespace) -> Any:
    from smart_vault.sim import scenario as sim

    build = {"copy-pipeline": sim.copy_pipeline, "overload": sim.overload}.get(args.scenario)
    if build is None:  # (v3) 4 weeks, an attack on day 20, a drill on day 21 (smart_vault/sim/ransomware.py)
        from smart_vault.sim.ransomware import ransomware

        build = functools.partial(ransomware, attacked=args.attacked)
    scenario = build(instances=args.instances, seed=args.seed, **({"days": args.days} if args.days else {}))
    assert scenario.params is not None
    if args.drain_days is not None:
        scenario.drain_days = args.drain_days
    scenario.params.copy_limit = args.copy_limit
    scenario.params.overlap_rate = args.overlap_rate
    scenario.params.kill_rate = args.kill_rate
    scenario.params.api_rate_scale = args.api_rate_scale
    scenario.params.copy_failure_rate = args.copy_failure_rate
    scenario.vault = args.vault
    scenario.app_consistent_share = args.app_consistent_share
    return scenario


def copy_pipeline_scenario(argv: list[str]) -> int:
    """`--scenario copy-pipeline|overload|ransomware [--json] [--instances|--fleet N] [--days D] [--drain-days D]
    [--copy-limit L] [--seed S] [--overlap-rate R] [--kill-rate R] [--api-rate-scale F]
    [--copy-failure-rate R] [--app-consistent-share R] [--attacked N] [--vault] [--check]`: the real backup handler in the simulated
    AWS with time (smart_vault.sim); prints one JSON object, the same bytes for the same arguments in any
    process (the wall time goes to stderr). The fault options add faults beyond the issue's scenario: copy
    invocations that overlap at the ledger, copy invocations cut off mid-way, EC2 token buckets shrunk to a
    share of the documented ones (other tools in the account), copies that fail. `--check`: exit 1 when the
    run broke an invariant (`sim/invariants.violations`), naming it on stderr."""
    from smart_vault.sim import scenario as sim
    from smart_vault.sim.invariants import violations

    args = _scenario_parser().parse_args(argv)
    started = time.perf_counter()
    figures = sim.run_scenario(_scenario(args))
    if args.scenario == "ransomware":  # how the rule was chosen: its false alarms on these normal days
        from smart_vault.sim.false_alarms import false_alarm_table

        days = args.days or 28
        figures["anomaly"]["rule_choice"] = false_alarm_table(args.instances * 3, days, args.seed)
    print(json.dumps(figures, default=str, indent=None if args.json else 2))
    # The wall time is no figure of the run (the JSON is a function of the seed alone): stderr.
    print(f"wall {time.perf_counter() - started:.1f} s", file=sys.stderr)
    broken = violations(figures) if args.check else []
    for line in broken:
        print(f"invariant broken: {line}", file=sys.stderr)
    return 1 if broken else 0


def draw_configuration(rng: Any) -> list[str]:
    """Pure: one small random configuration of the swarm, as the arguments that replay it."""
    config = {
        "--scenario": rng.choice(["copy-pipeline", "overload"]),
        "--seed": rng.randrange(1, 2**31),
        "--fleet": rng.randint(1, 8),
        "--days": rng.randint(1, 3),
        "--drain-days": rng.choice([0.5, 1.0]),
        "--copy-limit": rng.randint(1, 3),
        "--overlap-rate": rng.choice([0.0, 0.0, 0.2, 0.5]),
        "--kill-rate": rng.choice([0.0, 0.0, 0.1, 0.3]),
        "--api-rate-scale": rng.choice([1.0, 1.0, 0.2]),
        "--copy-failure-rate": rng.choice([0.0, 0.0, 0.1]),
        "--app-consistent-share": rng.choice([0.0, 0.0, 0.5]),
    }
    return [part for key, value in config.items() for part in (key, str(value))]


def swarm(argv: list[str]) -> int:
    """`--swarm N [--swarm-seed S]`: N runs of random seeds and small random configurations (fleet size,
    slots, days, fault rates; `draw_configuration`), each checked against the invariants
    (`sim/invariants.violations`); a failing run prints the command that replays it, and the swarm exits 1.
    The configurations themselves come from `--swarm-seed` (printed), so a whole swarm replays too."""
    import random

    from smart_vault.sim import scenario as sim
    from smart_vault.sim.invariants import violations

    parser = argparse.ArgumentParser(prog="bench/run.py --swarm")
    parser.add_argument("--swarm", type=int, required=True)
    parser.add_argument("--swarm-seed", type=int, default=None)
    args = parser.parse_args(argv)
    swarm_seed = args.swarm_seed if args.swarm_seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(swarm_seed)  # nosec B311 - seeded simulation, not security
    print(f"swarm of {args.swarm} runs, --swarm-seed {swarm_seed}", flush=True)
    failed, seconds = 0, []
    started = time.perf_counter()
    for index in range(args.swarm):
        configuration = draw_configuration(rng)
        one = time.perf_counter()
        try:
            broken = violations(sim.run_scenario(_scenario(_scenario_parser().parse_args(configuration))))
        except Exception as exc:  # a crash of the simulation is a failure to replay too
            broken = [f"the run raised {type(exc).__name__}: {exc}"]
        seconds.append(time.perf_counter() - one)
        if broken:
            failed += 1
            print(f"run {index + 1}: {'; '.join(broken)}")
            print(f"  reproduce with: python bench/run.py {' '.join(configuration)} --check", flush=True)
    total = time.perf_counter() - started
    median = sorted(seconds)[len(seconds) // 2] if seconds else 0.0
    print(
        f"swarm: {args.swarm} runs, {failed} failed, {total:.1f} s wall "
        f"(median {median:.2f} s, max {max(seconds, default=0.0):.2f} s a run)"
    )
    return 1 if failed else 0


def drill_scenario(argv: list[str]) -> int:
    """`--scenario drill [--json] [--instances N] [--runs R] [--seed S] [--api-rate-scale X]`: weekly drill runs
    on the simulation; RTO p50/p95, the EC2 API calls per drill and the requests (and throttled ones) EC2 saw
    (smart_vault/sim/drill_scenario.py)."""
    from smart_vault.observability import logger
    from smart_vault.sim.drill_scenario import run_drill_scenario

    parser = argparse.ArgumentParser(prog="bench/run.py")
    parser.add_argument("--scenario", choices=["drill"], required=True)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--runs", type=int, default=4, help="weekly drill runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-rate-scale", type=float, default=1.0, help="shrinks EC2's token buckets")
    args = parser.parse_args(argv)
    logger.setLevel("WARNING")  # the drills' own progress lines would bury the figure
    figures = run_drill_scenario(args.instances, args.runs, args.seed, args.api_rate_scale)
    summary = figures.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"drill on the simulation: {summary['drills']} drills ({args.instances} instances x {args.runs} runs), "
            f"{summary['passed']} passed; RTO p50 {summary['rto_p50_s']} s, p95 {summary['rto_p95_s']} s; "
            f"{summary['ec2_calls_per_drill']} EC2 calls per drill; {summary['leftovers']} left over"
        )
        print(json.dumps(summary, indent=2))
    return 0 if summary["passed"] == summary["drills"] and summary["leftovers"] == 0 else 1


def instance_restore_scenario(argv: list[str]) -> int:
    """`--scenario instance-restore [--json] [--restores N] [--volumes V] [--seed S]`: full-instance restores
    in the DR region on the simulation; the RTO (p50/p95, and one restore's steps) and its EC2 calls."""
    from smart_vault.observability import logger
    from smart_vault.sim.restore_scenario import run_restore_scenario

    parser = argparse.ArgumentParser(prog="bench/run.py --scenario instance-restore")
    parser.add_argument("--scenario", choices=["instance-restore"], required=True)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--restores", type=int, default=20)
    parser.add_argument("--volumes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logger.setLevel("WARNING")
    summary = run_restore_scenario(restores=args.restores, volumes=args.volumes, seed=args.seed)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        one = summary["one_restore"]
        print(
            f"full-instance restore on the simulation ({args.volumes} volumes, DR region): RTO p50 "
            f"{summary['rto_p50_s']} s, p95 {summary['rto_p95_s']} s over {args.restores} restores; one restore: "
            f"RTO {one['rto_s']} s ({', '.join(f'{k} {v} s' for k, v in one['steps_s'].items())}), "
            f"{one['ec2_calls']} EC2 calls ({one['ec2_calls_by_operation']}); "
            f"{summary['primary_region_calls']} calls to the primary region, {summary['images_left']} images left"
        )
    return 0 if summary["primary_region_calls"] == 0 and summary["images_left"] == 0 else 1


def print_figure_1(f1: dict) -> None:
    print(
        f"1. AWS calls per protected instance (N={f1['instances']}, {f1['volumes_per_instance']} volumes): "
        f"{f1['calls_per_instance']} (floor {f1['floor_per_instance']}), ratio {f1['ratio_to_floor']}"
    )


def all_figures() -> int:
    """Every scale figure, printed as it comes and written to bench/results.json, then the summary."""
    results: dict = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    steps = [
        ("1_calls_per_instance", figure_1_calls_per_instance),
        ("2_wall_time_http", figure_2_wall_time_over_http),
        ("3_token_bucket", figure_3_rate_under_token_bucket),
        ("4_cold_start", figure_4_cold_start),
        ("5_continuations", figure_5_continuations),
    ]
    for name, step in steps:
        started = time.perf_counter()
        results[name] = step()
        print(f"{name} ({time.perf_counter() - started:.0f} s): {json.dumps(results[name])}", flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    f1, f2, f3, f4, f5 = (results[name] for name, _ in steps)
    print("\nSmart Vault backup: scale figures")
    print_figure_1(f1)
    print(
        f"2. full run, N={f2['instances']} x {f2['volumes_per_instance']} volumes, moto_server over HTTP: "
        f"median {f2['median_seconds']} s of {f2['runs_seconds']}"
    )
    print(
        f"3. CreateSnapshots under a {f3['bucket_refill_per_s']}/s bucket: {f3['achieved_create_snapshots_per_s']}/s "
        f"= {f3['fraction_of_refill_rate']} of refill, {f3['failed_instances']} failed instances"
    )
    print_figure_4(f4)
    print(
        f"5. N={f5['instances']}, {f5['budget_seconds_per_invocation']} s per invocation: "
        f"{f5['continuations']} continuations, {f5['instances_unprotected']} unprotected"
    )
    print(f"\nwritten to {RESULTS.relative_to(harness.ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "instance-restore" in argv or "--scenario=instance-restore" in argv:
        return instance_restore_scenario(argv)
    if "drill" in argv or "--scenario=drill" in argv:
        return drill_scenario(argv)
    if any(a.startswith("--swarm") for a in argv):
        return swarm(argv)
    if any(a.startswith("--scenario") for a in argv):
        return copy_pipeline_scenario(argv)
    parser = argparse.ArgumentParser(
        description="Smart Vault scale figures (--scenario copy-pipeline|overload: the simulation)"
    )
    parser.add_argument(
        "--figure",
        choices=["cold-start", "calls"],
        help="run only this figure and print it (bench/results.json is left as it is)",
    )
    parser.add_argument("--instances", type=int, default=500, help="fleet size of --figure calls")
    args = parser.parse_args(argv)
    if args.figure == "calls":
        f1 = figure_1_calls_per_instance(n=args.instances)
        print(json.dumps(f1))
        print_figure_1(f1)
        return 0
    if args.figure == "cold-start":
        f4 = figure_4_cold_start()
        print(json.dumps(f4))
        print_figure_4(f4)
        return 0
    return all_figures()


if __name__ == "__main__":
    sys.exit(main())
