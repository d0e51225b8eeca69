"""One drill: a full-instance restore of one recovery point into the drill network, validated, timed, torn down.

The drill runs the restore engine (`smart_vault.restore.engine`: `InstancePlan` and `InstanceRestore`, the
same engine the restore worker uses) with its own recorder that times every step. Its restore id is the
drill id, so everything it creates carries `smart-vault:restore-id=<drill_id>` (and `smart-vault:drill-id`),
and the teardown's final look for leftovers needs nothing but that id. Teardown always runs, with time kept
back for it from the Lambda's limit. A drill that fails in any way becomes a FAILED record; it never stops
the others. This module is imported with the first drill: a cold start (or a dry run) does not load the engine.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from smart_vault.change_rate import skipped_warning
from smart_vault.config import DrillSettings
from smart_vault.drill.candidates import Candidate
from smart_vault.drill.records import (
    FAILED,
    FINAL_RESERVE_SECONDS,
    PASSED,
    TEARDOWN_RESERVE_SECONDS,
    Clock,
    DrillClients,
    Monotonic,
    Record,
    iso_time,
    iso_time_ms,
    readable,
)
from smart_vault.drill.validation import ValidationFailed, private_ip, validate
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.restore.engine import (
    Deadline,
    InstancePlan,
    InstanceRestore,
    find_leftovers,
    tear_down_outcome,
)
from smart_vault.tags import DRILL_ID_TAG

# Below this, a drill cannot even register an image and launch: it fails at once and creates nothing.
MIN_DRILL_SECONDS = 30.0
# Steps of the engine that run after the instance passed its status checks: not part of the recovery time.
AFTER_RECOVERY_STEPS = frozenset({"deregister_image"})
STATUS_STEP = "wait_status_checks"
VALIDATION_STAGE = "validation"


class DrillStepFailed(Exception):
    """A step of the drill failed; the message says which and why (the Recorder protocol's StepFailed)."""

    def __init__(self, step: str, cause: BaseException):
        super().__init__(f"{step} failed: {readable(cause)}")
        self.step = step


class DrillRecorder:
    """The engine's Recorder for a drill: times every step (seconds) instead of writing a job."""

    def __init__(self, monotonic: Monotonic):
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.durations: dict[str, float] = {}
        self.ended_at: dict[str, float] = {}
        self.fields: dict[str, Any] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = self._monotonic()
        try:
            yield
        except DrillStepFailed:
            self._finish(name, started)
            raise
        except Exception as exc:
            self._finish(name, started)
            raise DrillStepFailed(name, exc) from exc
        self._finish(name, started)

    def _finish(self, name: str, started: float) -> None:
        now = self._monotonic()
        with self._lock:
            self.durations[name] = round(self.durations.get(name, 0.0) + now - started, 3)
            self.ended_at[name] = now

    def save(self, **fields: Any) -> None:
        with self._lock:
            self.fields.update(fields)


@dataclass
class DrillContext:
    """What every drill of a run shares."""

    settings: DrillSettings
    clients: DrillClients
    clock: Clock
    monotonic: Monotonic
    run_started: float
    seconds_left: float  # of the Lambda, at run_started
    availability_zone: str | None = None
    network_error: str | None = None

    def lambda_left(self) -> float:
        return self.seconds_left - (self.monotonic() - self.run_started)

    def deadline(self, seconds: float) -> Deadline:
        return Deadline(seconds_left=seconds, reserve_seconds=0.0, clock=self.monotonic)


@dataclass
class Drill:
    """One drill under way: its record, its timer, its deadline, and the restore once it started."""

    candidate: Candidate
    ctx: DrillContext
    drill_id: str
    record: Record
    recorder: DrillRecorder
    deadline: Deadline
    budget: float
    started: float
    restore: InstanceRestore | None = None

    @property
    def log(self) -> dict[str, str]:
        point = self.candidate.point
        return {
            "drill_id": self.drill_id,
            "instance_id": point.instance_id,
            "backup_set_id": point.backup_set_id,
        }


def _start(candidate: Candidate, ctx: DrillContext) -> Drill:
    point, drill_id = candidate.point, str(uuid.uuid4())
    started_at, started = ctx.clock(), ctx.monotonic()
    record: Record = {
        "drill_id": drill_id,
        "instance_id": point.instance_id,
        "name": point.name,
        "region": ctx.settings.region,
        "backup_set_id": point.backup_set_id,
        "recovery_point_time": iso_time(point.created_at),
        "started_at": iso_time_ms(started_at),
        "finished_at": None,
        "status": FAILED,
        "rto_seconds": None,
        "stages": {},
        "validation": None,
        "error": None,
        "torn_down": False,
        "leftovers": [],
    }
    budget = min(float(ctx.settings.timeout_seconds), ctx.lambda_left() - TEARDOWN_RESERVE_SECONDS)
    return Drill(
        candidate, ctx, drill_id, record, DrillRecorder(ctx.monotonic), ctx.deadline(budget), budget, started
    )


def drill_one(candidate: Candidate, ctx: DrillContext) -> Record:
    """Drill one recovery point; always a record, whatever happens (teardown included)."""
    drill = _start(candidate, ctx)
    logger.info("drill started", extra=drill.log)
    try:
        _restore_and_check(drill)
    except Exception as exc:  # noqa: BLE001 - any failure fails this drill only; teardown still follows
        _record_failure(drill, exc)
    record = drill.record
    record["stages"] = {
        name: seconds
        for name, seconds in drill.recorder.durations.items()
        if name not in AFTER_RECOVERY_STEPS
    }
    _tear_down(drill)
    record["finished_at"] = iso_time_ms(ctx.clock())
    try:
        ctx.clients.store.put(record)
    except AwsError as exc:
        logger.error("drill result not recorded", extra={**drill.log, "error": exc.readable()})
    logger.info(
        "drill finished",
        extra={**drill.log, "status": record["status"], "rto_seconds": record["rto_seconds"]},
    )
    return record


def _plan(drill: Drill) -> tuple[InstancePlan, list[str]]:
    """The engine's plan of this drill, and the warnings it gives; raises when the drill cannot start."""
    ctx, settings, point = drill.ctx, drill.ctx.settings, drill.candidate.point
    if ctx.network_error:
        raise RuntimeError(ctx.network_error)
    if drill.budget < MIN_DRILL_SECONDS:
        raise RuntimeError(
            f"only {max(drill.budget, 0):.0f} s of the invocation left for the drill; nothing was started"
        )
    instance_type = settings.instance_type or drill.candidate.instance_type
    if not instance_type:
        raise RuntimeError("the recovery point records no instance type; set DRILL_INSTANCE_TYPE")
    profile = drill.candidate.instance_profile_arn
    warnings = []
    if point.skipped_suspect:  # (v3) the drill restores the last clean recovery point
        warnings.append(
            skipped_warning(
                [{"backup_set_id": s, "created_at": "newer"} for s in point.skipped_suspect],
                point.backup_set_id,
            )
        )
    if profile and profile not in settings.allowed_instance_profile_arns:
        warnings.append(f"the recorded instance profile {profile} is not in ALLOWED_INSTANCE_PROFILE_ARNS")
        profile = None
    plan = InstancePlan(
        restore_id=drill.drill_id,
        region=settings.region,
        backup_set_id=point.backup_set_id,
        subnet_id=settings.subnet_id,
        availability_zone=ctx.availability_zone or "",
        security_group_ids=tuple(settings.security_group_ids),
        instance_type=instance_type,
        ami_id=None,
        instance_profile_arn=profile,
        extra_tags={DRILL_ID_TAG: drill.drill_id},
    )
    return plan, warnings


def _restore_and_check(drill: Drill) -> None:
    """Restore, validate, judge the RTO: the record PASSED, or an exception that says why not."""
    ctx, settings, record = drill.ctx, drill.ctx.settings, drill.record
    plan, warnings = _plan(drill)
    drill.restore = InstanceRestore(ctx.clients.ec2, plan, drill.recorder, drill.deadline)
    drill.restore.execute()
    recovered_at = drill.recorder.ended_at.get(STATUS_STEP, ctx.monotonic())
    rto = recovered_at - drill.started
    if settings.validation_function:
        rto += _validate(drill, drill.restore.instance_id or "", settings.validation_function)
    if rto > settings.timeout_seconds:
        raise TimeoutError(f"the drill took {rto:.0f} s, more than DRILL_TIMEOUT_SECONDS")
    record["status"] = PASSED
    record["rto_seconds"] = round(rto, 3)
    if warnings:
        logger.warning("drill warnings", extra={**drill.log, "warnings": warnings})
    if drill.candidate.point.skipped_suspect:  # (v3) the record says which suspect points the drill skipped
        record["warnings"] = warnings


def _validate(drill: Drill, instance_id: str, function: str) -> float:
    """Invoke the validation function on the restored instance; the seconds it took (part of the RTO)."""
    ctx, record = drill.ctx, drill.record
    if drill.deadline.remaining() <= 0:
        raise TimeoutError("no time left for the validation function")
    payload = {
        "drill_id": drill.drill_id,
        "instance_id": instance_id,
        "private_ip": private_ip(ctx.clients.ec2, instance_id),
        "source_instance_id": drill.candidate.point.instance_id,
        "region": ctx.settings.region,
    }
    validation_started = ctx.monotonic()
    try:
        record["validation"] = validate(
            ctx.clients.lambda_client, function, payload, drill.deadline.remaining()
        )
    except ValidationFailed as exc:
        record["validation"] = {"passed": False, "detail": str(exc)}
        raise
    except AwsError as exc:
        record["validation"] = {"passed": False, "detail": exc.readable()}
        raise ValidationFailed(f"the validation function could not be invoked: {exc.readable()}") from None
    finally:
        drill.recorder.durations[VALIDATION_STAGE] = round(ctx.monotonic() - validation_started, 3)
    if not record["validation"]["passed"]:
        raise ValidationFailed(f"validation failed: {record['validation']['detail']}")
    return drill.recorder.durations[VALIDATION_STAGE]


def _record_failure(drill: Drill, exc: Exception) -> None:
    error = readable(exc)
    if drill.deadline.remaining() <= 1.0 or isinstance(exc, TimeoutError):
        error = f"time limit reached (DRILL_TIMEOUT_SECONDS={drill.ctx.settings.timeout_seconds}): {error}"
    drill.record["error"] = error[:2000]
    # An AWS answer or a failed check is the drill's finding; anything else is a defect: log its traceback.
    expected = isinstance(exc, (AwsError, ValidationFailed, TimeoutError))
    logger.warning("drill failed", extra={**drill.log, "error": drill.record["error"]}, exc_info=not expected)


def _tear_down(drill: Drill) -> None:
    """Terminate, delete, deregister, then look for anything left; never raises."""
    ctx, record, restore, fields = drill.ctx, drill.record, drill.restore, drill.recorder.fields
    deadline = ctx.deadline(max(ctx.lambda_left() - FINAL_RESERVE_SECONDS, MIN_DRILL_SECONDS))
    instance_id = (restore and restore.instance_id) or fields.get("instance_id")
    image_id = (restore and restore.image_id) or fields.get("image_id")
    volume_ids = list((restore and restore.volume_ids) or fields.get("volume_ids") or [])
    try:
        leftovers = list(
            tear_down_outcome(
                ctx.clients.ec2, drill.drill_id, instance_id, image_id, volume_ids, deadline
            ).leftovers
        )
        problem = None
    except Exception as exc:  # noqa: BLE001 - a failed teardown is reported, then looked after
        problem = f"teardown failed: {readable(exc)}"
        try:
            leftovers = list(find_leftovers(ctx.clients.ec2, drill.drill_id))
        except Exception as again:  # noqa: BLE001 - the record must still be written
            leftovers = [f"unknown: the look for leftovers failed ({readable(again)})"]
    record["leftovers"] = leftovers
    record["torn_down"] = problem is None and not leftovers
    if not record["torn_down"]:
        note = problem or f"teardown left {', '.join(leftovers)}"
        record["error"] = f"{record['error']}; {note}" if record["error"] else note
        if record["status"] == PASSED:
            # A drill that leaves resources behind has not proven a clean recovery.
            record["status"], record["rto_seconds"] = FAILED, None
        logger.error("drill teardown incomplete", extra={"drill_id": drill.drill_id, "leftovers": leftovers})
