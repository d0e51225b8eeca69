"""The drill run: select recovery points, restore each one in parallel, validate, measure, tear down, record.

A drill is a full-instance restore (`smart_vault.restore.instance`, the same engine the restore worker uses)
into the isolated drill network, with its own recorder that times every step. Each drill's restore id is its
drill id, so everything it creates carries `smart-vault:restore-id=<drill_id>` (and `smart-vault:drill-id`),
and the teardown's final look for leftovers needs nothing but that id. Teardown always runs, and gets time
kept back for it from the Lambda's limit. A drill that fails in any way becomes a FAILED record; it never
stops the others.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.change_rate import skipped_warning
from smart_vault.config import DrillSettings
from smart_vault.drill.results import DrillResultStore
from smart_vault.drill.selection import RecoveryPoint, count_overdue, select_drills
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.restore.recovery_points import group_recovery_points
from smart_vault.runtime import Runtime
from smart_vault.tags import (
    BACKUP_SET_TAG,
    DRILL_ID_TAG,
    INSTANCE_PROFILE_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sns import SNSClient

PASSED, FAILED, PARTIAL, NOTHING_TO_DRILL = "PASSED", "FAILED", "PARTIAL", "NOTHING_TO_DRILL"
# Kept back from the Lambda's time for the teardown (terminate and wait, delete volumes, deregister, look for
# leftovers). DRILL_TIMEOUT_SECONDS is at most 840: with Lambda's 900 s limit, exactly this much is left.
TEARDOWN_RESERVE_SECONDS = 60.0
# Kept back from the teardown for writing the result and publishing the report.
FINAL_RESERVE_SECONDS = 10.0
# Below this, a drill cannot even register an image and launch: it fails at once and creates nothing.
MIN_DRILL_SECONDS = 30.0
# Steps of the engine that run after the instance passed its status checks: not part of the recovery time.
AFTER_RECOVERY_STEPS = frozenset({"deregister_image"})
STATUS_STEP = "wait_status_checks"
VALIDATION_STAGE = "validation"
PAGE_SIZE = 1000

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]
Record = dict[str, Any]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def iso_time(moment: datetime) -> str:
    """ISO 8601 UTC to the second (the recovery point's time)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_time_ms(moment: datetime) -> str:
    """ISO 8601 UTC to the millisecond: a drill's start orders its history (sort key) and the latest item, so
    two drills of one instance started within a second still sort by time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def readable(exc: BaseException) -> str:
    if isinstance(exc, AwsError):
        return exc.readable()
    return str(exc) or type(exc).__name__


def default_engine() -> Any:
    """The full-instance restore engine (imported on first use: a cold start of the handler does not pay it)."""
    from smart_vault.restore import instance

    return instance


# ------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class DrillRequest:
    drill_run_id: str
    dry_run: bool = False
    instance_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Candidate:
    """A recovery point with what the drill needs beyond the selection's view of it."""

    point: RecoveryPoint
    instance_type: str | None
    instance_profile_arn: str | None


@dataclass
class DrillClients:
    ec2: EC2Client
    lambda_client: LambdaClient
    store: DrillResultStore
    sns: SNSClient | None = None


def _managed_snapshots(ec2: EC2Client) -> Iterator[dict[str, Any]]:
    return aws.paginate(
        ec2,
        "describe_snapshots",
        "Snapshots",
        page_size=PAGE_SIZE,
        OwnerIds=["self"],
        Filters=[{"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]}],
    )


def recovery_points_here(ec2: EC2Client, now: datetime) -> list[Candidate]:
    """Every recovery point in the client's region, read from that region only (one paginated listing:
    the overdue count needs all of them, also in a manual run of a few instances)."""
    items = list(_managed_snapshots(ec2))
    profiles: dict[str, str] = {}
    for item in items:
        tags = aws.tags_to_dict(item.get("Tags"))
        if tags.get(INSTANCE_PROFILE_TAG) and tags.get(BACKUP_SET_TAG):
            profiles[tags[BACKUP_SET_TAG]] = tags[INSTANCE_PROFILE_TAG]
    candidates = []
    for point in group_recovery_points(items, now):
        if not point["instance_id"]:
            continue
        created = datetime.fromisoformat(point["created_at"].replace("Z", "+00:00"))
        candidates.append(
            Candidate(
                point=RecoveryPoint(
                    instance_id=point["instance_id"],
                    backup_set_id=point["backup_set_id"],
                    created_at=created,
                    complete=point["complete"],
                    platform=point["instance"]["platform"],
                    name=point["instance"]["name"],
                    suspect=point["suspect"],
                ),
                instance_type=point["instance"]["instance_type"],
                instance_profile_arn=profiles.get(point["backup_set_id"]),
            )
        )
    return candidates


# ------------------------------------------------------------------------------------------ one drill


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


class ValidationFailed(Exception):
    pass


def validate(lambda_client: LambdaClient, function: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke the validation function synchronously; its answer `{"passed": bool, "detail": str}`.

    Raises ValidationFailed with a readable reason when the function fails or answers something else.
    """
    with aws.aws_errors("Invoke"):
        response = lambda_client.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode("utf-8"),
        )
    raw: Any = response.get("Payload")  # a StreamingBody from boto3; bytes from the simulation
    body = raw.read() if hasattr(raw, "read") else (raw or b"")
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        answer = None
    if response.get("FunctionError"):
        if isinstance(answer, dict) and answer.get("errorMessage"):
            reason = f"{answer.get('errorType', 'Error')}: {answer['errorMessage']}"
        else:
            reason = str(response["FunctionError"])
        raise ValidationFailed(f"the validation function {function} failed: {reason}"[:1000])
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("passed"), bool)
        or not isinstance(answer.get("detail", ""), str)
    ):
        raise ValidationFailed(
            f'the validation function {function} answered {str(answer)[:200]!r}, not {{"passed": bool, "detail": str}}'
        )
    return {"passed": answer["passed"], "detail": str(answer.get("detail", ""))[:1000]}


def _private_ip(ec2: EC2Client, instance_id: str) -> str | None:
    reservations = aws.retry_not_found(
        lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"], "DescribeInstances"
    )
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            return instance.get("PrivateIpAddress")
    return None


@dataclass
class DrillContext:
    """What every drill of a run shares."""

    settings: DrillSettings
    clients: DrillClients
    engine: Any
    clock: Clock
    monotonic: Monotonic
    run_started: float
    seconds_left: float  # of the Lambda, at run_started
    availability_zone: str | None = None
    network_error: str | None = None

    def lambda_left(self) -> float:
        return self.seconds_left - (self.monotonic() - self.run_started)

    def deadline(self, seconds: float, reserve: float) -> Any:
        from smart_vault.restore.steps import Deadline

        return Deadline(seconds_left=seconds, reserve_seconds=reserve, clock=self.monotonic)


def drill_one(candidate: Candidate, ctx: DrillContext) -> Record:
    """Drill one recovery point; always a record, whatever happens (teardown included)."""
    settings, point = ctx.settings, candidate.point
    drill_id = str(uuid.uuid4())
    started_at = ctx.clock()
    started = ctx.monotonic()
    recorder = DrillRecorder(ctx.monotonic)
    record: Record = {
        "drill_id": drill_id,
        "instance_id": point.instance_id,
        "name": point.name,
        "region": settings.region,
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
    log = {"drill_id": drill_id, "instance_id": point.instance_id, "backup_set_id": point.backup_set_id}
    logger.info("drill started", extra=log)
    restore: Any = None
    budget = min(float(settings.timeout_seconds), ctx.lambda_left() - TEARDOWN_RESERVE_SECONDS)
    deadline = ctx.deadline(budget, 0.0)
    try:
        if ctx.network_error:
            raise RuntimeError(ctx.network_error)
        if budget < MIN_DRILL_SECONDS:
            raise RuntimeError(
                f"only {max(budget, 0):.0f} s of the invocation left for the drill; nothing was started"
            )
        instance_type = settings.instance_type or candidate.instance_type
        if not instance_type:
            raise RuntimeError("the recovery point records no instance type; set DRILL_INSTANCE_TYPE")
        profile = candidate.instance_profile_arn
        warnings = []
        if point.skipped_suspect:  # (v3) the drill restores the last clean recovery point
            warnings.append(
                skipped_warning(
                    [{"backup_set_id": s, "created_at": "newer"} for s in point.skipped_suspect],
                    point.backup_set_id,
                )
            )
        if profile and profile not in settings.allowed_instance_profile_arns:
            warnings.append(
                f"the recorded instance profile {profile} is not in ALLOWED_INSTANCE_PROFILE_ARNS"
            )
            profile = None
        plan = ctx.engine.InstancePlan(
            restore_id=drill_id,
            region=settings.region,
            backup_set_id=point.backup_set_id,
            subnet_id=settings.subnet_id,
            availability_zone=ctx.availability_zone,
            security_group_ids=tuple(settings.security_group_ids),
            instance_type=instance_type,
            ami_id=None,
            instance_profile_arn=profile,
            extra_tags={DRILL_ID_TAG: drill_id},
        )
        restore = ctx.engine.InstanceRestore(ctx.clients.ec2, plan, recorder, deadline)
        restore.execute()
        recovered_at = recorder.ended_at.get(STATUS_STEP, ctx.monotonic())
        rto = recovered_at - started
        if settings.validation_function:
            if deadline.remaining() <= 0:
                raise TimeoutError("no time left for the validation function")
            payload = {
                "drill_id": drill_id,
                "instance_id": restore.instance_id,
                "private_ip": _private_ip(ctx.clients.ec2, restore.instance_id),
                "source_instance_id": point.instance_id,
                "region": settings.region,
            }
            validation_started = ctx.monotonic()
            try:
                record["validation"] = validate(
                    ctx.clients.lambda_client, settings.validation_function, payload
                )
            except ValidationFailed as exc:
                record["validation"] = {"passed": False, "detail": str(exc)}
                raise
            except AwsError as exc:
                record["validation"] = {"passed": False, "detail": exc.readable()}
                raise ValidationFailed(
                    f"the validation function could not be invoked: {exc.readable()}"
                ) from None
            finally:
                recorder.durations[VALIDATION_STAGE] = round(ctx.monotonic() - validation_started, 3)
            rto += recorder.durations[VALIDATION_STAGE]
            if not record["validation"]["passed"]:
                raise ValidationFailed(f"validation failed: {record['validation']['detail']}")
        if rto > settings.timeout_seconds:
            raise TimeoutError(f"the drill took {rto:.0f} s, more than DRILL_TIMEOUT_SECONDS")
        record["status"] = PASSED
        record["rto_seconds"] = round(rto, 3)
        if warnings:
            logger.warning("drill warnings", extra={**log, "warnings": warnings})
        if point.skipped_suspect:  # (v3) the record says which suspect recovery points the drill skipped
            record["warnings"] = warnings
    except Exception as exc:  # noqa: BLE001 - any failure fails this drill only; teardown still follows
        error = readable(exc)
        if deadline.remaining() <= 1.0 or isinstance(exc, TimeoutError):
            error = f"time limit reached (DRILL_TIMEOUT_SECONDS={settings.timeout_seconds}): {error}"
        record["error"] = error[:2000]
        # An AWS answer or a failed check is the drill's finding; anything else is a defect: log its traceback.
        expected = isinstance(exc, (AwsError, ValidationFailed, TimeoutError))
        logger.warning("drill failed", extra={**log, "error": record["error"]}, exc_info=not expected)
    record["stages"] = {
        name: seconds for name, seconds in recorder.durations.items() if name not in AFTER_RECOVERY_STEPS
    }
    _tear_down(restore, drill_id, recorder, record, ctx)
    record["finished_at"] = iso_time_ms(ctx.clock())
    try:
        ctx.clients.store.put(record)
    except AwsError as exc:
        logger.error("drill result not recorded", extra={**log, "error": exc.readable()})
    logger.info(
        "drill finished",
        extra={**log, "status": record["status"], "rto_seconds": record["rto_seconds"]},
    )
    return record


def _tear_down(
    restore: Any, drill_id: str, recorder: DrillRecorder, record: Record, ctx: DrillContext
) -> None:
    """Terminate, delete, deregister, then look for anything left; never raises."""
    deadline = ctx.deadline(max(ctx.lambda_left() - FINAL_RESERVE_SECONDS, MIN_DRILL_SECONDS), 0.0)
    instance_id = getattr(restore, "instance_id", None) or recorder.fields.get("instance_id")
    image_id = getattr(restore, "image_id", None) or recorder.fields.get("image_id")
    volume_ids = list(getattr(restore, "volume_ids", None) or recorder.fields.get("volume_ids") or [])
    try:
        leftovers = list(
            ctx.engine.tear_down(ctx.clients.ec2, drill_id, instance_id, image_id, volume_ids, deadline)
        )
        problem = None
    except Exception as exc:  # noqa: BLE001 - a failed teardown is reported, then looked after
        problem = f"teardown failed: {readable(exc)}"
        try:
            leftovers = list(ctx.engine.find_leftovers(ctx.clients.ec2, drill_id))
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
        logger.error("drill teardown incomplete", extra={"drill_id": drill_id, "leftovers": leftovers})


# ------------------------------------------------------------------------------------------ the run


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
    engine: Any = None,
    clock: Clock = _utc_now,
    max_parallel: int | None = None,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    """One drill run: the report of the contract (publishing and metrics are the caller's). Durations and
    parallelism come from `runtime` (default: the production one; its clock is the one of every reading)."""
    runtime = runtime or Runtime.default()
    monotonic = runtime.monotonic
    run_started = monotonic()
    now = clock()
    candidates = recovery_points_here(clients.ec2, now)
    by_set = {c.point.backup_set_id: c for c in candidates}
    points = [c.point for c in candidates]
    last_drilled = clients.store.last_drilled()
    plan = select_drills(points, last_drilled, settings.max_instances, request.instance_ids)
    planned = [{"instance_id": p.instance_id, "backup_set_id": p.backup_set_id} for p in plan.planned]
    skipped = [{"instance_id": i, "reason": reason} for i, reason in plan.skipped]
    records: list[Record] = []
    if plan.planned and not request.dry_run:
        zone, network_error = _subnet_zone(clients.ec2, settings.subnet_id)
        ctx = DrillContext(
            settings=settings,
            clients=clients,
            engine=engine or default_engine(),
            clock=clock,
            monotonic=monotonic,
            run_started=run_started,
            seconds_left=seconds_left,
            availability_zone=zone,
            network_error=network_error,
        )
        workers = max_parallel or len(plan.planned)
        with runtime.executor(workers, "drill") as pool:
            futures = [pool.submit(drill_one, by_set[p.backup_set_id], ctx) for p in plan.planned]
            records = [future.result() for future in futures]
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
        "planned": planned,
        "skipped": skipped,
        "overdue": count_overdue(points, last_drilled, clock(), settings.rotation_days),
    }


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
    }
