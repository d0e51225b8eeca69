"""EC2's API token buckets, and botocore's standard retry run against them in virtual time.

Buckets (the EC2 developer guide, "Request throttling for the Amazon EC2 API"): each API action of an account
and region has its own request-token bucket, by category; a request takes one token, an empty bucket answers
`RequestLimitExceeded` (HTTP 503). Default sizes and refill rates per second:

| category | bucket | refill |
| --- | --- | --- |
| mutating actions (Create*, Copy*, Delete*, Attach*, ...) | 200 | 10 |
| non-mutating actions (Describe* with a filter or a page size) | 100 | 20 |
| unfiltered and unpaginated non-mutating actions | 50 | 10 |

Every simulated EC2 call takes its request token here (`SimEC2.send`), the instance and image actions of
`compute.py` too. Resource-token buckets, which EC2 keeps besides for RunInstances, StartInstances,
StopInstances and TerminateInstances (tokens per instance), are not modelled. An account's real limits may be raised
by AWS Support, and other tools in the account share them: `SimParams.api_rate_scale` shrinks every bucket
and refill, so that a test can make throttling bite.

Why replay botocore instead of raising into the product: the product's clients are botocore clients with
`retries={"mode": "adaptive", "max_attempts": 10}` (`smart_vault.aws.CLIENT_CONFIG`); a throttled call is
retried inside botocore and the product never sees it unless every attempt fails. The simulation's clients
are not botocore clients, so `RetryingCall` runs botocore's own standard retry classes (the `RetryHandler`,
`StandardRetryConditions(max_attempts=10)`, `ExponentialBackoff` with full jitter capped at 20 s and the
client's `RetryQuota` of 500 tokens) around each simulated request, sleeping on the virtual clock. The
adaptive mode's extra client-side rate limiter is not replayed (its token bucket waits on a real
`threading.Condition`); it only adds waits before sends, so the standard retry is the lower bound of the time
throttling costs and the same bound of what it can fail.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError
from botocore.retries import quota, standard

from smart_vault import aws


@dataclass(frozen=True)
class BucketShape:
    size: float
    refill_per_second: float


MUTATING = BucketShape(200, 10)
NON_MUTATING = BucketShape(100, 20)
UNFILTERED = BucketShape(50, 10)
MUTATING_PREFIXES = (
    "Create",
    "Copy",
    "Delete",
    "Attach",
    "Detach",
    "Modify",
    "Register",
    "Deregister",
    "Run",
    "Terminate",
    "Start",
    "Stop",
    "Reboot",
)


def bucket_shape(action: str, filtered: bool = True) -> BucketShape:
    if action.startswith(MUTATING_PREFIXES):
        return MUTATING
    return NON_MUTATING if filtered else UNFILTERED


class RequestBuckets:
    """One request-token bucket per (region, action), refilled continuously from the virtual clock."""

    def __init__(self, clock: Callable[[], float], scale: float = 1.0) -> None:
        self._clock = clock
        self._scale = scale
        self._buckets: dict[tuple[str, str], list[float]] = {}  # [tokens, stamp, size, refill]
        self.throttled: dict[str, int] = {}

    def take(self, region: str, action: str, filtered: bool = True) -> bool:
        """Take one token; False (the request answers RequestLimitExceeded) when the bucket is empty."""
        now = self._clock()
        bucket = self._buckets.get((region, action))
        if bucket is None:
            shape = bucket_shape(action, filtered)
            size, refill = max(shape.size * self._scale, 1.0), shape.refill_per_second * self._scale
            bucket = self._buckets[(region, action)] = [size, now, size, refill]
        tokens, stamp, size, refill = bucket
        now = max(now, stamp)  # worker threads' own times may trail the latest one
        tokens = min(size, tokens + (now - stamp) * refill)
        if tokens < 1.0:
            bucket[0], bucket[1] = tokens, now
            self.throttled[action] = self.throttled.get(action, 0) + 1
            return False
        bucket[0], bucket[1] = tokens - 1.0, now
        return True


def throttling_error(action: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."},
            # botocore-stubs require every ResponseMetadata key; botocore reads only the ones given.
            "ResponseMetadata": {"HTTPStatusCode": 503},  # type: ignore[typeddict-item]
        },
        action,
    )


@functools.cache
def _ec2_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ec2")


def operation_model(action: str) -> Any:
    """botocore's model of one EC2 operation (its retry checkers read the service name and error shapes)."""
    return _ec2_model().operation_model(action)


class RetryingCall:
    """botocore's standard retry (one per client, as botocore keeps one retry quota per client)."""

    def __init__(self, sleep: Callable[[float], None], random: Callable[[], float]) -> None:
        detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
        self._quota = standard.RetryQuotaChecker(quota.RetryQuota(), detector)
        self._handler = standard.RetryHandler(
            retry_policy=standard.RetryPolicy(
                retry_checker=standard.StandardRetryConditions(max_attempts=aws.MAX_ATTEMPTS),
                retry_backoff=standard.ExponentialBackoff(
                    service_name="ec2", throttling_detector=detector, random=random
                ),
            ),
            retry_event_adapter=standard.RetryEventAdapter(),
            # botocore itself passes a RetryQuotaChecker here (standard.register_retry_handler); the stubs
            # say RetryQuota.
            retry_quota=self._quota,  # type: ignore[arg-type]
            service_name="ec2",
            sleep=sleep,
        )
        self._sleep = sleep
        self.retries = 0
        self.waited = 0.0

    def __call__(self, action: str, send: Callable[[], Any]) -> Any:
        context: dict[str, Any] = {}
        attempt = 0
        while True:
            attempt += 1
            try:
                result = send()
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
                http = SimpleNamespace(status_code=status, headers={})
                delay = self._handler.needs_retry(
                    attempts=attempt,
                    operation=operation_model(action),
                    response=(http, exc.response),
                    caught_exception=None,
                    request_dict={"context": context},
                )
                if delay is None or delay is False:
                    raise
                self.retries += 1
                self.waited += delay
                self._sleep(delay)
                continue
            # botocore passes the request's context dict, as here; the stubs say RetryContext.
            self._quota.release_retry_quota(context, SimpleNamespace(status_code=200))  # type: ignore[arg-type]
            return result
