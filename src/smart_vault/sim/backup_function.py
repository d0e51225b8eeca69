"""The backup function as Lambda runs it in the simulated world (`scenario.py` drives it): its context on
the virtual clock, its asynchronous invocation of itself, invocations cut off and retried, the process's AWS
seams pointed at the world while it runs, and the figures each invocation adds (requests by kind, failures,
the copy backlog, the ages its metrics emit).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

from smart_vault import aws
from smart_vault.authz.enforce import Enforcer
from smart_vault.backup import entry
from smart_vault.backup.invocation import Clients
from smart_vault.config import BackupSettings
from smart_vault.sim.world import ACCOUNT, InvocationKilled, SimParams, SimWorld

DAY = 86400.0
LAMBDA_TIMEOUT_S = 900.0
LAMBDA_RETRIES = 2  # an asynchronous invocation that fails is retried twice, after about 1 and 2 minutes
EC2_ACTIONS = ("Describe", "Create", "Copy", "Delete")
EBS_DIRECT_ACTIONS = ("ListChangedBlocks", "ListSnapshotBlocks")


def backup_environment(world: SimWorld, extra: dict[str, str]) -> dict[str, str]:
    """The backup function's environment in the simulated account, with `extra` added."""
    return {
        "AWS_REGION": world.primary,
        "SNS_TOPIC_ARN": f"arn:aws:sns:{world.primary}:{ACCOUNT}:smart-vault",
        "DR_REGION": world.dr,
        "DR_KMS_KEY_ID": f"arn:aws:kms:{world.dr}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        "COPY_LEDGER_TABLE": "smart-vault-copy-ledger",
        **extra,
    }


class SimContext:
    """The Lambda context, its remaining time read from the virtual clock."""

    function_name = "smart-vault-backup"

    def __init__(self, request_id: str, world: SimWorld) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:{world.primary}:{ACCOUNT}:function:smart-vault-backup"
        self.aws_request_id = request_id
        self._world = world
        self._deadline = world.clock + LAMBDA_TIMEOUT_S

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - self._world.monotonic()) * 1000), 0)


class SimLambda:
    """Lambda's asynchronous Invoke of the backup function itself: the payload runs about a second later."""

    def __init__(self, world: SimWorld, run: Any) -> None:
        self.world, self._run, self.continuations = world, run, 0

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        payload = json.loads(Payload)
        self.continuations += 1
        self.world.at(self.world.clock + 1.0, lambda: self.invoke_now(payload))
        return {"StatusCode": 202}

    def invoke_now(self, payload: dict[str, Any]) -> None:
        self._run(payload)


@contextlib.contextmanager
def simulated_aws(world: SimWorld, sns: Any, lam: Any) -> Iterator[None]:
    """While the world runs: the process's clock on the virtual one, SNS and Lambda of the primary region
    answered by the world, and the handler's INFO reports quiet (tens of thousands of invocations: their
    reports are not figures). Everything is put back afterwards."""
    previous = (aws._monotonic, aws._sleep)
    replaced = {key: aws._clients.get(key) for key in (("sns", world.primary), ("lambda", world.primary))}
    aws.set_clock(world.monotonic, world.sleep)
    aws._clients[("sns", world.primary)] = sns
    # A run that would outlast its invocation continues in a new one (`entry.start_continuation`).
    aws._clients[("lambda", world.primary)] = lam
    level = entry.logger.log_level
    entry.logger.setLevel("ERROR")
    try:
        yield
    finally:
        entry.logger.setLevel(level)
        aws.set_clock(*previous)
        for key, saved in replaced.items():
            if saved is None:
                aws._clients.pop(key, None)
            else:
                aws._clients[key] = saved


def event_kind(event: dict[str, Any]) -> str:
    if event.get("reconcile_copies"):
        return "reconcile"
    if event.get("source") == "aws.ec2":
        return "copy_event" if event["detail"].get("event") == "copySnapshot" else "snapshot_event"
    return "run"


class BackupInvocations:
    """Every invocation of the backup function in one scenario: each runs the real handler on the world's
    runtime, may be cut off (Lambda then retries it) and adds to `figures`."""

    def __init__(
        self,
        world: SimWorld,
        params: SimParams,
        settings: BackupSettings,
        clients: Clients,
        enforcer: Enforcer,
        environment: dict[str, str],
        runs_end: float,
    ) -> None:
        self.world, self.params, self.settings, self.clients = world, params, settings, clients
        self.enforcer, self.environment, self.runs_end = enforcer, environment, runs_end
        self.runtime = world.runtime()  # virtual time, the seeded executor: the seed replays (issue 19)
        self.start = world.clock
        self.figures: dict[str, Any] = {
            "invocations": 0,
            "failures": 0,
            "copy_backlog_max": 0,
            "copy_backlog_last": 0,
            "oldest_owed_max_s": 0.0,
            "dr_age_max_s": 0.0,
            "errors": [],
            "failure_samples": [],
            "killed": 0,
            "requests": {},
            "backlog_by_day": {},
            "failing_copy_failures_reported": 0,
            "last_reconcile_at": 0.0,
            "unexpected_failures": [],
        }

    def invoke(self, event: dict[str, Any], attempt: int = 0) -> None:
        world, figures = self.world, self.figures
        figures["invocations"] += 1
        kind = event_kind(event)
        if kind == "reconcile":
            figures["last_reconcile_at"] = world.clock
        before = dict(world.requests)
        if kind != "run" and self.params.kill_rate and world.rng.random() < self.params.kill_rate:
            world.kill_after = world.rng.randint(1, 12)
        report, metric_set, out = self._handle(event)
        count_requests(figures["requests"], kind, before, world.requests)
        if report is None:
            figures["killed"] += 1
            if attempt < LAMBDA_RETRIES:  # Lambda retries a failed asynchronous invocation
                world.at(
                    world.clock + 60.0 * (attempt + 1), lambda: self.invoke(event, attempt + 1), delivery=True
                )
            return
        self._add_figures(report, metric_set, out)

    def _handle(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any], str]:
        """(the report, None when the invocation was cut off; the metrics it emitted; what it printed)."""
        out = io.StringIO()
        report: dict[str, Any] | None
        with contextlib.redirect_stdout(out):
            try:
                context = SimContext(self.world.new_id("req"), self.world)
                self.enforcer.check_invocation("backup", self.environment)  # the log stream, the key
                report = entry.handle(
                    event, context, self.settings, self.world.now(), self.clients, self.runtime
                )
            except InvocationKilled:
                report = None
            except Exception as exc:  # noqa: BLE001 - an invocation error is a figure, not a crash
                self.figures["errors"].append(f"{type(exc).__name__}: {exc}")
                report = {"failures": [], "copies_deferred": 0}
            finally:
                self.world.kill_after = None
            metric_set = dict(entry.metrics.metric_set)
            entry.metrics.clear_metrics()
        return report, metric_set, out.getvalue()

    def _add_figures(self, report: dict[str, Any], metric_set: dict[str, Any], out: str) -> None:
        world, figures = self.world, self.figures
        figures["failures"] += len(report.get("failures", []))
        # (v3) Failures of copies that fail for good: expected, each counted once (compared at the end).
        expected = [f for f in report.get("failures", []) if f.get("resource") in world.doomed]
        figures["failing_copy_failures_reported"] += len(expected)
        others = [f for f in report.get("failures", []) if f not in expected]
        figures["unexpected_failures"] += others[: 5 - len(figures["unexpected_failures"])]
        figures["failure_samples"] += report.get("failures", [])[: 5 - len(figures["failure_samples"])]
        if "copies_deferred" in report and "copies_started" in report:
            figures["copy_backlog_max"] = max(figures["copy_backlog_max"], report["copies_deferred"])
            figures["copy_backlog_last"] = report["copies_deferred"]
            day = int((world.clock - self.start) // DAY)
            by_day = figures["backlog_by_day"]
            by_day[day] = max(by_day.get(day, 0), report["copies_deferred"])
        owed = metric_set.get("OldestOwedCopySeconds", {}).get("Value")
        if owed:
            value = owed[-1] if isinstance(owed, list) else owed
            figures["oldest_owed_max_s"] = max(figures["oldest_owed_max_s"], float(value))
        if world.clock > self.runs_end:
            return  # the drain period has no runs: ages there grow by construction
        for line in out.splitlines():
            if '"RecoveryPointAgeSeconds"' in line and '"_aws"' in line:
                doc = json.loads(line)
                if doc.get("Region") == world.dr:
                    figures["dr_age_max_s"] = max(
                        figures["dr_age_max_s"], float(doc["RecoveryPointAgeSeconds"][0])
                    )


def count_requests(
    totals: dict[str, dict[str, int]], kind: str, before: dict[str, int], after: dict[str, int]
) -> None:
    """Add one invocation's requests to its kind's totals: EC2 describe pages, other EC2 calls, DynamoDB."""
    row = totals.setdefault(
        kind, {"invocations": 0, "ec2_describe": 0, "ec2_other": 0, "dynamodb": 0, "ebs_direct": 0}
    )
    row["invocations"] += 1
    for action, count in after.items():
        delta = count - before.get(action, 0)
        if not delta:
            continue
        if action.startswith("Describe"):
            row["ec2_describe"] += delta
        elif action in EBS_DIRECT_ACTIONS:
            row["ebs_direct"] += delta
        elif action.startswith(EC2_ACTIONS):
            row["ec2_other"] += delta
        else:
            row["dynamodb"] += delta


def requests_per_invocation(totals: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    return {
        kind: {k: round(v / row["invocations"], 2) for k, v in row.items() if k != "invocations"}
        | {"invocations": row["invocations"]}
        for kind, row in sorted(totals.items())
    }
