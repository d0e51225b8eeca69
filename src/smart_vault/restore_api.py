"""The restore API: `POST /restore`, `GET /restore/{restore_id}`, `GET /recovery-points` and `GET /drills` behind API Gateway (REST, proxy).

Routes parse and validate, call one service function and shape the answer; every error the services raise
is turned into HTTP in one place (`_error_response` and the exception handlers below), and a 5xx never
carries internals: the details go to the log under the request id that the answer shows.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths

from smart_vault import aws
from smart_vault.backup.change_ledger import ChangeLedger
from smart_vault.config import RestoreApiSettings
from smart_vault.errors import AwsError, Conflict, NotFound, ValidationError
from smart_vault.observability import (
    METRICS_NAMESPACE,
    SERVICE,
    MetricUnit,
    logger,
    single_metric,
    trace,
    trace_handler,
)
from smart_vault.restore.jobs import (
    INSTANCE_MODE,
    PENDING,
    VOLUME_MODE,
    Job,
    RestoreJobStore,
    abandoned,
    new_job,
    public_view,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_lambda import LambdaClient

    from smart_vault.restore.request import AnyRestoreRequest

# Each route imports the modules only it needs (request parsing and pre-checks for POST /restore, recovery
# points for GET /recovery-points): a cold start compiles only the API's core (bench figure 4).

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
RESTORE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RESTORE_NOT_FOUND = "RestoreNotFound"

app = APIGatewayRestResolver()


# ---------------------------------------------------------------------------------------------- services


def _prechecked_job(
    request: AnyRestoreRequest,
    settings: RestoreApiSettings,
    restore_id: str,
    ec2: EC2Client | None,
    now: datetime,
) -> tuple[Job, dict[str, Any]]:
    """The PENDING job of a request that passed its pre-checks, and what to log about it."""
    # Imported here: the pre-checks (and the backup metadata they read) are only for POST /restore, so the
    # other routes, and every cold start, do not pay for their imports (bench figure 4).
    from smart_vault.restore.checks import run_instance_prechecks, run_prechecks
    from smart_vault.restore.request import InstanceRestoreRequest

    if isinstance(request, InstanceRestoreRequest):
        instance = run_instance_prechecks(request, settings, ec2=ec2)
        job = new_job(
            restore_id,
            instance.region,
            instance.to_request(),
            now,
            mode=INSTANCE_MODE,
            backup_set_id=instance.backup_set_id,
            warnings=instance.warnings,
        )
        return job, {"instance_id": instance.instance_id, "backup_set_id": instance.backup_set_id}
    volume = run_prechecks(request, ec2=ec2)
    job = new_job(restore_id, volume.region, volume.to_dict(), now, mode=VOLUME_MODE)
    return job, {"snapshot_id": volume.snapshot_id}


@trace
def start_restore(
    request: AnyRestoreRequest,
    settings: RestoreApiSettings,
    *,
    store: RestoreJobStore,
    ec2: EC2Client | None = None,
    lambda_client: LambdaClient | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Pre-check the request in its target region, record a PENDING job and start the worker on it."""
    now = now or datetime.now(UTC)
    restore_id = str(uuid.uuid4())
    job, described = _prechecked_job(request, settings, restore_id, ec2, now)
    store.create(job)
    lambda_client = lambda_client or aws.client("lambda")
    try:
        with aws.aws_errors("Invoke"):
            lambda_client.invoke(
                FunctionName=settings.restore_worker_function,
                InvocationType="Event",
                Payload=json.dumps({"restore_id": restore_id}).encode("utf-8"),
            )
    except AwsError as exc:
        # The job must not stay PENDING forever: nothing will ever pick it up.
        store.fail_unstarted(restore_id, f"the restore worker could not be started ({exc.code})", now)
        raise
    logger.info(
        "restore accepted",
        extra={"restore_id": restore_id, "mode": job["mode"], "region": job["region"], **described},
    )
    return {"restore_id": restore_id, "status": PENDING, "status_url": f"/restore/{restore_id}"}


@functools.lru_cache(maxsize=4)
def _persistence_layer(table: str, dynamodb: Any) -> Any:
    """The idempotency store of `table` through the cached `dynamodb` client, built once per process.

    Powertools' DynamoDBPersistenceLayer registers a User-Agent handler (a new function each time) on the
    client it is given, and configures itself once from the first config (ours is the same on every request).
    One layer per request added a handler to the process's client on every request, without end."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)


def start_restore_once(
    request: AnyRestoreRequest,
    settings: RestoreApiSettings,
    idempotency_key: str,
    *,
    store: RestoreJobStore,
    persistence: Any = None,
    lambda_context: Any = None,
) -> dict[str, Any]:
    """`start_restore`, at most once per Idempotency-Key and 24 h; the same key with another body is 409."""
    # Imported here: only a POST /restore with an Idempotency-Key needs Powertools' idempotency utility (and
    # the JMESPath it brings); the other routes and the cold start do without it (bench figure 4).
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="idempotency_key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    if lambda_context is not None:
        # Lets Powertools expire an in-progress record when this invocation dies before it finishes.
        config.register_lambda_context(lambda_context)
    persistence = persistence or _persistence_layer(settings.idempotency_table, aws.client("dynamodb"))

    @idempotent_function(
        data_keyword_argument="attempt",
        persistence_store=persistence,
        config=config,
        key_prefix="smart-vault-restore",
    )
    def start(attempt: dict[str, Any]) -> dict[str, Any]:
        return start_restore(request, settings, store=store)

    try:
        return start(attempt={"idempotency_key": idempotency_key, "request": request.to_dict()})
    except IdempotencyValidationError:
        raise Conflict(
            f"{IDEMPOTENCY_HEADER} {idempotency_key!r} was already used with another request body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            f"a request with {IDEMPOTENCY_HEADER} {idempotency_key!r} is still in progress; retry shortly"
        ) from None


def get_restore(restore_id: str, store: RestoreJobStore, now: datetime | None = None) -> dict[str, Any]:
    """The job of `restore_id`, as the API shows it. A job that no worker can finish any more (every attempt
    timed out or crashed, or the invocation expired unrun) is finished FAILED here, once, with why."""
    normalized = restore_id.strip().lower()
    if not RESTORE_ID_RE.match(normalized):
        raise ValidationError(f"restore_id must be a UUID, got {restore_id!r}", field="restore_id")
    job = store.get(normalized)
    if job is None:
        raise NotFound(f"restore {normalized} was not found", error=RESTORE_NOT_FOUND)
    now = now or datetime.now(UTC)
    if abandoned(job, now):
        job, finished = store.fail_abandoned(job, now)
        if finished:  # counted once, as the worker counts the restores it fails (RestoreFailed)
            logger.warning("restore abandoned by its worker, failed", extra={"restore_id": normalized})
            with single_metric(
                name="RestoreFailed",
                unit=MetricUnit.Count,
                value=1,
                namespace=METRICS_NAMESPACE,
                default_dimensions={"service": SERVICE},  # the worker's metric, dimension and all
            ):
                pass
    return public_view(job)


# ------------------------------------------------------------------------------------------------ routes


def _settings() -> RestoreApiSettings:
    return RestoreApiSettings.from_env()


def _raw_body() -> bytes | None:
    """The request body as bytes; API Gateway base64-encodes bodies of binary media types."""
    event = app.current_event
    body = event.body
    if body is None:
        return None
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("the request body is not valid base64", field=None) from None
    return body.encode("utf-8")


def _idempotency_key() -> str | None:
    key = app.current_event.headers.get(IDEMPOTENCY_HEADER)  # Powertools headers are case-insensitive
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError(
            f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters without spaces",
            field=IDEMPOTENCY_HEADER,
        )
    return key


def _location(restore_id: str) -> str:
    """Where the job can be read, including the stage prefix (e.g. `/v1`) the caller used."""
    context_path = app.current_event.request_context.path or ""
    own_path = app.current_event.path or ""
    prefix = context_path[: -len(own_path)] if own_path and context_path.endswith(own_path) else ""
    return f"{prefix}/restore/{restore_id}"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


@app.post("/restore")
def post_restore() -> Response:
    settings = _settings()
    from smart_vault.restore.request import parse_restore_request

    request = parse_restore_request(_raw_body(), settings)
    key = _idempotency_key()
    store = RestoreJobStore(settings.restore_jobs_table)
    if key is None:
        accepted = start_restore(request, settings, store=store)
    else:
        accepted = start_restore_once(request, settings, key, store=store, lambda_context=app.lambda_context)
    return _json(202, accepted, headers={"Location": _location(accepted["restore_id"])})


@app.get("/restore/<restore_id>")
def get_restore_route(restore_id: str) -> Response:
    settings = _settings()
    return _json(200, get_restore(restore_id, RestoreJobStore(settings.restore_jobs_table)))


@app.get("/drills")
def get_drills_route() -> Response:
    from smart_vault.drill.results import DrillResultStore, validate_drills_query

    instance_id = validate_drills_query(app.current_event.query_string_parameters)
    table = _settings().drill_results_table
    if table is None:
        raise NotFound(
            "drill results are not kept in this region (DRILL_RESULTS_TABLE is not set)",
            error="NotConfigured",
        )
    store = DrillResultStore(table)
    drills = store.latest() if instance_id is None else store.history(instance_id)
    return _json(200, {"drills": drills})


@app.get("/recovery-points")
def get_recovery_points_route() -> Response:
    settings = _settings()
    from smart_vault.restore.recovery_points import list_recovery_points, validate_query

    instance_id, name, region = validate_query(app.current_event.query_string_parameters, settings)
    ledger = None
    if region == settings.region and settings.change_ledger_table:  # (v3) the primary's measured changes
        ledger = ChangeLedger(aws.client("dynamodb", region), settings.change_ledger_table)
    answer = list_recovery_points(
        aws.client("ec2", region),
        region,
        instance_id=instance_id,
        name=name,
        now=datetime.now(UTC),
        measurements=ledger,
        price_per_gb_month=settings.snapshot_price_per_gb_month,
    )
    return _json(200, answer)


# ---------------------------------------------------------------------------------- errors, in one place


def _request_id() -> str:
    context = getattr(app, "lambda_context", None)
    return str(getattr(context, "aws_request_id", "") or uuid.uuid4())


@app.exception_handler(ValidationError)
def _validation_error(exc: ValidationError) -> Response:
    return _json(400, {"error": "ValidationError", "message": exc.message, "field": exc.field})


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _json(404, {"error": exc.error, "message": exc.message})


@app.exception_handler(Conflict)
def _conflict(exc: Conflict) -> Response:
    return _json(409, {"error": "Conflict", "message": exc.message})


@app.not_found
def _no_route(exc: Exception) -> Response:
    event = app.current_event
    if event.http_method == "GET" and (event.path or "").startswith("/restore/"):
        # The route only matches URI-safe characters: any other restore id is still one that is not a UUID.
        return _json(
            400, {"error": "ValidationError", "message": "restore_id must be a UUID", "field": "restore_id"}
        )
    return _json(404, {"error": "NotFound", "message": f"no such resource: {event.http_method} {event.path}"})


@app.exception_handler(Exception)
def _internal_error(exc: Exception) -> Response:
    request_id = _request_id()
    # An AWS failure (raised directly, or wrapped by Powertools' idempotency layer) is logged as its readable
    # code and message: its traceback would carry botocore's raw error text. Anything else is a bug: traceback.
    cause = exc.__cause__ or exc
    if isinstance(cause, AwsError) or type(cause).__module__.startswith("botocore"):
        error = aws.translate(cause)
        logger.error(
            "restore API request failed",
            extra={"request_id": request_id, "error": error.readable(), "operation": error.operation},
        )
    else:
        logger.exception("restore API request failed", extra={"request_id": request_id})
    return _json(
        500,
        {
            "error": "InternalError",
            "message": "the request could not be completed; quote the request_id when reporting this",
            "request_id": request_id,
        },
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
