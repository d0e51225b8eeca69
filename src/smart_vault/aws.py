"""The one AWS seam: clients, retry mode, pagination and error translation.

Every other module gets its clients from `client()` (or takes them as parameters), so retries, endpoints and
error handling are decided here once. No client is created at import time; boto3 itself is imported on
first use to keep cold starts short.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from smart_vault.errors import AwsError, ConfigError

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagTypeDef

T = TypeVar("T")

# At least 10 attempts with jittered exponential backoff. "adaptive" adds a client-side token bucket that
# slows the caller down when AWS answers with throttling errors: throttling costs time, never an instance.
MAX_ATTEMPTS = 10
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="smart-vault/0.1",
)

# A synchronous Lambda invoke (the drill's validation function) waits for the function itself, up to Lambda's
# 900 s limit: with CLIENT_CONFIG's 60 s read timeout botocore would give up on a function still running and,
# a read timeout being retryable, invoke it again, up to MAX_ATTEMPTS times. One attempt, and a read timeout
# past any function's end: the function runs at most once per call.
SYNCHRONOUS_INVOKE_CONFIG = CLIENT_CONFIG.merge(
    Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=905)
)

# One attempt per call, for a caller that paces and retries itself (`backup.ebs_direct`): two retry layers
# multiply (CLIENT_CONFIG's 11 botocore attempts, max_attempts=10 retries, under each of the caller's), and only
# the caller's waits run on the invocation's clock and know its deadline.
SINGLE_ATTEMPT_CONFIG = CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

_lock = threading.Lock()
_session: Any = None
_clients: dict[tuple[str, str], Any] = {}  # CLIENT_CONFIG's, by service and region
_configured: dict[tuple[str, str, int], Any] = {}  # another config's, by service, region and config


def current_region() -> str:
    """The region the function runs in (`AWS_REGION`, as Lambda sets it; `AWS_DEFAULT_REGION` otherwise)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("AWS_REGION", "is not set")
    return region


def invoked_account(context: Any) -> str | None:
    """The account the function runs in, from its Lambda context's `invoked_function_arn` (None without one)."""
    parts = (getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def client(service: str, region: str | None = None, config: Config = CLIENT_CONFIG) -> Any:
    """A cached boto3 client for `service` in `region` (default: the current region), with `config`
    (CLIENT_CONFIG, or SYNCHRONOUS_INVOKE_CONFIG for a Lambda invoke that waits for the function).

    Endpoints come from boto3 itself, which honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
    """
    global _session
    region = region or current_region()
    cache: dict[Any, Any] = _clients if config is CLIENT_CONFIG else _configured
    key = (service, region) if config is CLIENT_CONFIG else (service, region, id(config))
    with _lock:
        cached = cache.get(key)
        if cached is None:
            if _session is None:
                import boto3  # deferred: only paid by invocations that call AWS

                _session = boto3.session.Session()
            cached = _session.client(service, region_name=region, config=config)
            cache[key] = cached
        return cached


def reset_clients() -> None:
    """Forget every cached client (tests call this when the emulator or the environment changes)."""
    global _session
    with _lock:
        _clients.clear()
        _configured.clear()
        _session = None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError or AwsError, else the exception's class name."""
    if isinstance(exc, AwsError):
        return exc.code
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def translate(exc: BaseException, operation: str = "") -> AwsError:
    """Turn a botocore exception into an AwsError with a readable message and no request metadata."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return AwsError(
            code=str(err.get("Code", "Unknown")),
            message=str(err.get("Message", "")),
            operation=operation or getattr(exc, "operation_name", ""),
            status=status,
        )
    if isinstance(exc, WaiterError):
        # botocore words an AWS error met while waiting as "An error occurred (Code): ..."; say it plainly.
        error = (exc.last_response or {}).get("Error") or {}
        reason = exc.kwargs.get("reason", "")
        if error.get("Code"):
            reason = f"{error['Code']}: {error.get('Message', '')}".rstrip(": ")
        return AwsError(
            code="WaiterError", message=f"{exc.kwargs.get('name')} failed: {reason}", operation=operation
        )
    return AwsError(code=type(exc).__name__, message=str(exc), operation=operation)


@contextmanager
def aws_errors(operation: str = "") -> Iterator[None]:
    """Run AWS calls, re-raising any botocore failure as an AwsError."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        # `from None`: the AwsError carries code, message and operation; chaining botocore's exception would
        # put its raw text ("An error occurred (...)", request metadata) into every logged traceback.
        raise translate(exc, operation) from None


def paginate(
    aws_client: Any, operation: str, result_key: str, *, page_size: int | None = None, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Yield the items under `result_key` of every page of `operation` (a botocore paginator name).

    `page_size` is sent as the API's page-size parameter (MaxResults) so that real AWS returns large pages;
    each page call is retried by the client's retry mode.
    """
    paginator = aws_client.get_paginator(operation)
    pagination_config = {"PageSize": page_size} if page_size else {}
    with aws_errors(operation):
        for page in paginator.paginate(**kwargs, PaginationConfig=pagination_config):
            yield from page.get(result_key, [])


# DescribeSnapshots: MaxResults 5..1000.
SNAPSHOT_PAGE_SIZE = 1000


def own_snapshots(ec2: Any, filters: Sequence[Mapping[str, Any]], **params: Any) -> Iterator[dict[str, Any]]:
    """This account's snapshots in the client's region that match `filters` (never another account's:
    `OwnerIds=["self"]`), read in pages of 1000; `params` adds other DescribeSnapshots parameters."""
    return paginate(
        ec2,
        "describe_snapshots",
        "Snapshots",
        page_size=SNAPSHOT_PAGE_SIZE,
        OwnerIds=["self"],
        Filters=filters,
        **params,
    )


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Split `items` into lists of at most `size` (the last may be shorter)."""
    if size < 1:
        raise ValueError("size must be >= 1")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def tags_to_dict(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """AWS `[{"Key": k, "Value": v}]` tag lists as a plain dict (a missing Value reads as "")."""
    if not tags:
        return {}
    if not isinstance(tags, list | tuple):
        tags = list(tags)  # read twice below when a tag has no Value
    try:  # every tag has its Value in EC2's answers: the common case without a `.get` per tag
        return {t["Key"]: t["Value"] for t in tags}
    except KeyError:
        return {t["Key"]: t.get("Value", "") for t in tags}


def dict_to_tags(tags: dict[str, str]) -> list[TagTypeDef]:
    """A plain dict as an AWS tag list, in key order (stable for tests and logs)."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


# (v2) EC2 is eventually consistent: a resource just created may answer NotFound for some seconds.
NOT_FOUND_AFTER_CREATE = frozenset(
    {
        "InvalidSnapshot.NotFound",
        "InvalidVolume.NotFound",
        "InvalidInstanceID.NotFound",
        "InvalidAMIID.NotFound",
    }
)
NOT_FOUND_RETRY_SECONDS = 64.0

# The clock and sleep of `retry_not_found` (a simulation replaces them with virtual ones).
_monotonic: Any = None
_sleep: Any = None


def set_clock(monotonic: Any, sleep: Any) -> None:
    """Replace the clock and sleep used for NotFound retries (None, None: the real ones)."""
    global _monotonic, _sleep
    _monotonic, _sleep = monotonic, sleep


def clock() -> tuple[Any, Any]:
    """(monotonic, sleep) of the waits: the real ones unless a simulation set its own (the real clock is the
    process's one monotonic clock, `clock.monotonic_clock()`, never a patched `time.monotonic`)."""
    import time

    from smart_vault.clock import monotonic_clock

    return _monotonic or monotonic_clock(), _sleep or time.sleep


def retry_not_found(
    call: Any, operation: str = "", total_seconds: float = NOT_FOUND_RETRY_SECONDS, first_delay: float = 1.0
) -> Any:
    """`call()`, retried with backoff (1, 2, 4 ... s, at most 16 s apart) while it answers a NotFound of a
    resource that was just created, for `total_seconds` in all (64 s unless told); other errors are translated
    at once.
    """
    monotonic, sleep = clock()
    start = monotonic()
    delay = first_delay
    while True:
        try:
            with aws_errors(operation):
                return call()
        except AwsError as exc:
            if exc.code not in NOT_FOUND_AFTER_CREATE or monotonic() - start + delay > total_seconds:
                raise
        sleep(delay)
        delay = min(delay * 2, 16.0)
