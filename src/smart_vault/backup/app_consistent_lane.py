"""(v3) The lane of opted-in instances in a backup run: batches of scripts beside the plain instances.

The run hands every instance tagged `Backup-Scripts` to the lane instead of its worker pool, so plain
instances never wait for a script. The lane groups them by document into batches of at most 50 (one
`SendCommand` each), and runs at most `BATCHES_IN_FLIGHT` batches at once; each batch:
pre-script (`app_consistent.run_pre_scripts`), its sets' `CreateSnapshots` in parallel, the post-script sent
as soon as the last of them answered, the per-volume tags, then the post-script's outcome.

Time: a batch holds its slot for at most the pre-script's timeout plus its EC2 calls (`batch_seconds`); the
post-scripts' outcomes are collected at the end, within one more timeout. The run asks
`fits()` before it hands over an instance, and stops starting instances when the batches the lane would
have to finish do not fit in what is left of the invocation (the continuation takes the rest).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smart_vault import aws, pacing
from smart_vault.backup.app_consistent import (
    MAX_TARGETS,
    POST_SCRIPT,
    SSM_RATES,
    Clock,
    ScriptResult,
    is_app_consistent_failure,
    post_failure,
    pre_outcome,
    run_pre_scripts,
    script_result,
    send_script,
    wait_for,
)
from smart_vault.backup.instances import Instance
from smart_vault.backup.report import INSTANCE_FAILED, OK, InstanceResult, instance_result
from smart_vault.backup.snapshots import SetResult, backup_set_id, start_snapshot_set, tag_snapshot_set
from smart_vault.config import BackupSettings
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.runtime import ExecutorFactory, thread_pool
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import APP_CONSISTENT_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

BATCHES_IN_FLIGHT = 3
SET_WORKERS = 8  # CreateSnapshots of one batch in parallel (paced to EC2's bucket all the same)
CREATE_RATE = pacing.EC2_RATES["CreateSnapshots"].per_second
MARGIN_SECONDS = 5.0


def batch_seconds(timeout: int, batch_size: int = MAX_TARGETS) -> float:
    """Pure: the longest a batch holds its slot: the pre-script's timeout, the CreateSnapshots of every
    batch in flight at EC2's rate (one batch creates at a time, see `AppConsistentLane`), and a margin for
    the describe, the polls and the post-script's SendCommand."""
    return timeout + BATCHES_IN_FLIGHT * batch_size / CREATE_RATE + MARGIN_SECONDS


def lane_fits(seconds_left: float | None, reserve: float, open_batches: int, timeout: int) -> bool:
    """Pure: whether `open_batches` batches (running or waiting) finish before the invocation's reserve:
    `BATCHES_IN_FLIGHT` at a time, then the last post-scripts' timeout."""
    if seconds_left is None:
        return True
    waves = math.ceil(open_batches / BATCHES_IN_FLIGHT)
    return seconds_left - reserve >= waves * batch_seconds(timeout) + timeout


@dataclass
class LaneOutcome:
    results: list[InstanceResult] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    app_consistent: set[str] = field(default_factory=set)  # instances whose set is tagged true
    script_failures: set[str] = field(default_factory=set)  # instances whose pre- or post-script failed


def ssm_client(ssm: SSMClient | None, region: str, clock: Clock) -> Any:
    """The given SSM client, else the cached one of `region`, paced to `SSM_RATES` on the run's clock (built
    only when an opted-in instance needs it; a client is paced once, like the EC2 ones)."""
    client: Any = ssm if ssm is not None else aws.client("ssm", region)  # it gets a pacer attribute
    if getattr(client, "_smart_vault_pacer", None) is None and hasattr(client, "meta"):
        pacer = pacing.Pacer(SSM_RATES, clock.monotonic, clock.sleep, service="ssm")
        pacer.attach(client)
        client._smart_vault_pacer = pacer
    return client


class AppConsistentLane:
    def __init__(
        self,
        ssm: SSMClient | None,
        ec2: EC2Client,
        run_id: str,
        settings: BackupSettings,
        clock: Clock | None = None,
        executor: ExecutorFactory = thread_pool,
    ) -> None:
        self._ssm_given = ssm
        self._ssm: Any = None
        self._ec2, self._run_id, self._settings = ec2, run_id, settings
        self._clock = clock or Clock.default()
        self._groups: dict[str, list[Instance]] = {}
        self._futures: list[Future[Callable[[], LaneOutcome]]] = []
        self._executor = executor  # the run's (`Runtime.executor`): threads, or the simulation's seeded one
        self._pool: Executor | None = None
        self._lock = threading.Lock()
        self._pipeline = Pipeline()

    def open_batches(self, document: str | None = None) -> int:
        """Batches not finished yet (with the one `document`'s next instance would open)."""
        running = sum(1 for f in self._futures if not f.done())
        grouped = len(self._groups)
        opens = 1 if document is not None and document not in self._groups else 0
        return running + grouped + opens

    def yield_to_frozen(self) -> None:
        self._pipeline.yield_to_frozen()

    def fits(self, instance: Instance, seconds_left: float | None, reserve: float) -> bool:
        return lane_fits(
            seconds_left,
            reserve,
            self.open_batches(instance.scripts_document),
            self._settings.app_consistent_timeout_seconds,
        )

    def add(self, instance: Instance) -> None:
        group = self._groups.setdefault(instance.scripts_document, [])
        group.append(instance)
        if len(group) >= MAX_TARGETS:
            self._submit(self._groups.pop(instance.scripts_document))

    def start_grouped(self) -> None:
        """Start the batches not full yet (the run calls this once it handed over its last instance)."""
        for document in list(self._groups):
            self._submit(self._groups.pop(document))

    def finish(self) -> LaneOutcome:
        """Start what is grouped, wait for every batch, and merge their outcomes."""
        self.start_grouped()
        merged = LaneOutcome()
        for future in self._futures:
            outcome = future.result()()
            merged.results += outcome.results
            merged.created += outcome.created
            merged.app_consistent |= outcome.app_consistent
            merged.script_failures |= outcome.script_failures
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return merged

    def _submit(self, batch: list[Instance]) -> None:
        if self._pool is None:
            self._pool = self._executor(BATCHES_IN_FLIGHT, "scripts")
        self._futures.append(self._pool.submit(self._run_batch, batch))

    def _client(self) -> Any:
        with self._lock:
            if self._ssm is None:
                self._ssm = ssm_client(self._ssm_given, self._settings.region, self._clock)
            return self._ssm

    def _run_batch(self, batch: list[Instance]) -> Callable[[], LaneOutcome]:
        try:
            return back_up_batch(
                self._client(),
                self._ec2,
                batch,
                self._run_id,
                self._settings,
                self._clock,
                self._pipeline,
                self._executor,
            )
        except Exception as exc:  # noqa: BLE001 - an unforeseen error fails this batch only, never the run
            logger.exception("application-consistent batch failed unexpectedly")
            error = f"unexpected error: {type(exc).__name__}: {exc}"
            results = [
                instance_result(
                    i.instance_id, backup_set_id(self._run_id, i.instance_id), [], INSTANCE_FAILED, error
                )
                for i in batch
            ]
            return lambda: LaneOutcome(results=results)


class Pipeline:
    """How the batches of a lane share EC2 while their instances are frozen.

    One batch takes its sets at a time: its instances are frozen, so its CreateSnapshots go first instead of
    sharing EC2's bucket with other frozen batches (which would stretch every freeze). And a batch sends its
    pre-script only while no other batch is frozen and waiting for its turn: with scripts of a few seconds,
    the next batch freezes about when the current one is done; with slow or timing-out scripts, batches
    wait for their scripts side by side (up to BATCHES_IN_FLIGHT), so that a run's time stays bounded.
    """

    def __init__(self) -> None:
        self._turn = threading.Lock()
        self._changed = threading.Condition()
        self._waiting = 0  # batches whose pre-script is over, waiting for their turn to take their sets
        self._taking = 0  # batches taking their sets now

    def yield_to_frozen(self, patience: float = 60.0) -> None:
        """Plain instances call this before their CreateSnapshots: while frozen instances wait for theirs,
        those go first (EC2's bucket is the account's; a plain instance waits seconds, never for a script)."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting == 0 and self._taking == 0, timeout=patience)

    @contextlib.contextmanager
    def pre_script(self, patience: float = 600.0) -> Iterator[None]:
        """Around a batch's pre-script. The batch is `waiting` from its end until `taking_sets` (the batch
        goes there directly; `taking_sets` also settles a batch that never came, so nothing waits forever)."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting <= 0, timeout=patience)
        yield
        with self._changed:
            self._waiting += 1

    @contextlib.contextmanager
    def taking_sets(self) -> Iterator[None]:
        with self._turn:
            with self._changed:
                self._waiting = max(self._waiting - 1, 0)
                self._taking += 1
                self._changed.notify_all()
            try:
                yield
            finally:
                with self._changed:
                    self._taking -= 1
                    self._changed.notify_all()


def _in_parallel(
    work: Callable[[Instance], Any], instances: list[Instance], executor: ExecutorFactory = thread_pool
) -> dict[str, Any]:
    if not instances:
        return {}
    with executor(min(SET_WORKERS, len(instances)), "sets") as pool:
        return dict(zip((i.instance_id for i in instances), pool.map(work, instances), strict=True))


def back_up_batch(
    ssm: SSMClient,
    ec2: EC2Client,
    batch: list[Instance],
    run_id: str,
    settings: BackupSettings,
    clock: Clock,
    pipeline: Pipeline | None = None,
    executor: ExecutorFactory = thread_pool,
) -> Callable[[], LaneOutcome]:
    """Pre-script, sets and post-script of one batch (one document, at most 50 instances).

    Returns once the post-script is sent and the sets tagged; the returned `finish()` waits for the
    post-script's outcome, so that the batch's slot goes to the next batch meanwhile."""
    document = batch[0].scripts_document
    timeout = settings.app_consistent_timeout_seconds
    ids = [i.instance_id for i in batch]
    pipeline = pipeline or Pipeline()
    with pipeline.pre_script():
        pre = run_pre_scripts(ssm, document, ids, run_id, timeout, clock)
    decisions = {i: pre_outcome(pre[i], settings.app_consistent_on_failure) for i in ids}

    def start(instance: Instance) -> Any:
        flag = "true" if decisions[instance.instance_id][1] else "false"
        return start_snapshot_set(ec2, instance, run_id, settings, {APP_CONSISTENT_TAG: flag})

    to_take = [i for i in batch if decisions[i.instance_id][0]]
    with pipeline.taking_sets():
        started = _in_parallel(start, to_take, executor)
    # Thaw at once: the snapshots are initiated, their completion is not waited for.
    frozen = [i for i in ids if pre[i].sent]
    post_command, post_error, post_started = None, "", clock.monotonic()
    if frozen:
        try:
            post_command = send_script(ssm, document, POST_SCRIPT, frozen, run_id, timeout)
        except AwsError as exc:
            post_error = f"{POST_SCRIPT} of {document} not sent: {exc.readable()}"

    def tag(instance: Instance) -> SetResult:
        result, initiated = started[instance.instance_id]
        if initiated is not None:
            tag_snapshot_set(ec2, instance, result, initiated, settings)
        return result

    sets = _in_parallel(tag, to_take, executor)

    def finish() -> LaneOutcome:
        post = _post_results(ssm, post_command, post_error, frozen, document, timeout, clock, post_started)
        return _outcome(batch, run_id, pre, decisions, sets, post)

    return finish


def _post_results(
    ssm: SSMClient,
    command_id: str | None,
    error: str,
    frozen: list[str],
    document: str,
    timeout: int,
    clock: Clock,
    started: float,
) -> dict[str, ScriptResult]:
    if error or command_id is None:
        return {i: ScriptResult(False, error, True) for i in frozen}
    try:
        statuses = wait_for(ssm, command_id, frozen, timeout, clock, started)
    except Exception as exc:  # noqa: BLE001 - the sets exist: report the unknown thaw, never lose the batch
        readable = exc.readable() if isinstance(exc, AwsError) else f"{type(exc).__name__}: {exc}"
        reason = f"{POST_SCRIPT} of {document}: its status could not be read: {readable}"
        return {i: ScriptResult(False, reason, True) for i in frozen}
    return {i: script_result(POST_SCRIPT, statuses.get(i), timeout, document) for i in frozen}


def _outcome(
    batch: list[Instance],
    run_id: str,
    pre: dict[str, ScriptResult],
    decisions: dict[str, tuple[bool, bool | None, str]],
    sets: dict[str, SetResult],
    post: dict[str, ScriptResult],
) -> LaneOutcome:
    outcome = LaneOutcome()
    for instance in batch:
        iid = instance.instance_id
        take, flag, error = decisions[iid]
        result = sets.get(iid)
        ids = result.snapshot_ids if result is not None else []
        errors = [error] if error else []
        if result is not None and result.error:
            errors.append(result.error)
        if iid in post and not post[iid].ok:
            errors.append(post_failure(iid, post[iid]))
        if take and flag and result is not None and ids:
            outcome.app_consistent.add(iid)
        if not decisions[iid][1] or (iid in post and not post[iid].ok):
            outcome.script_failures.add(iid)
            if take and not flag:
                logger.warning(
                    "pre-script failed: crash-consistent set taken instead",
                    extra={"instance_id": iid, "reason": pre[iid].reason},
                )
        status = INSTANCE_FAILED if errors else OK
        outcome.results.append(
            instance_result(iid, backup_set_id(run_id, iid), ids, status, "; ".join(errors) or None)
        )
        outcome.created += ids
        if errors:
            logger.warning(
                "application-consistent backup failed", extra={"instance_id": iid, "error": errors}
            )
    return outcome


def app_consistent_figures(
    results: Sequence[InstanceResult],
    covered: dict[str, list[Snapshot]],
    lane: LaneOutcome,
    after: str | None,
) -> dict[str, int]:
    """Pure: AppConsistentSets (sets of this run tagged true) and AppConsistentFailures (instances whose pre-
    or post-script failed, whether a crash-consistent set was taken or not), over this invocation (the lane's
    outcome) and the earlier ones of the run (their sets' tags, and their failures carried in `results`)."""
    earlier = {i: snaps for i, snaps in covered.items() if after is not None and i <= after}
    flags = {i: {s.tags.get(APP_CONSISTENT_TAG) for s in snaps} for i, snaps in earlier.items()}
    sets = {i for i, f in flags.items() if "true" in f} | lane.app_consistent
    failed = {i for i, f in flags.items() if "false" in f} | lane.script_failures
    failed |= {r["instance_id"] for r in results if is_app_consistent_failure(r["error"])}
    return {"app_consistent_sets": len(sets), "app_consistent_failures": len(failed)}
