"""Logging, metrics and tracing: the one seam over Powertools.

Tracing goes through `trace_handler` and `trace` only. Powertools' Tracer uses the AWS X-Ray SDK, which
entered maintenance mode in 2026; moving to OpenTelemetry means changing these two functions and nothing
else.

Powertools' `Tracer()` imports `aws_xray_sdk.core` in its constructor even when tracing is disabled, and that
import is about 150 ms of every cold start. So the Tracer is built only when tracing is on (decided once, at
import, with Powertools' own rule: see `tracing_enabled`); with tracing off the decorators return the
function unchanged and the X-Ray SDK is never imported. With tracing on, behaviour is Powertools' own.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from smart_vault.errors import ValidationError

SERVICE = "smart-vault"
METRICS_NAMESPACE = "SmartVault"

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
# Powertools' Tracer logs every exception that passes through a traced function, expected ones included,
# with its full traceback (raw AWS error text among it) on its own logger; the functions log their errors
# readably themselves, and X-Ray still records the exception on the subsegment.
logging.getLogger("aws_lambda_powertools.tracing.tracer").setLevel(logging.CRITICAL)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

__all__ = [
    "METRICS_NAMESPACE",
    "MetricUnit",
    "fails_softly",
    "logger",
    "metrics",
    "single_metric",
    "trace",
    "trace_handler",
    "tracing_enabled",
]

_TRUTHY = {"1", "y", "yes", "t", "true", "on"}


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether Powertools would trace here: the rule of `Tracer._is_tracer_disabled`, restated.

    Off when POWERTOOLS_TRACE_DISABLED is truthy, outside Lambda (no LAMBDA_TASK_ROOT) and under SAM local or
    Chalice local. tests/core checks this against Powertools' own rule so the two cannot drift apart.
    """
    env = os.environ if environ is None else environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in _TRUTHY:
        return False
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT"))
    emulated = bool(env.get("AWS_SAM_LOCAL")) or bool(env.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


def _build_tracer() -> Any:
    # Imported here: `aws_lambda_powertools.Tracer()` imports the X-Ray SDK, which only a traced run needs.
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


_tracer = _build_tracer() if tracing_enabled() else None


def trace_handler(handler: F) -> F:
    """Trace a Lambda handler (one segment per invocation, cold start annotated)."""
    if _tracer is None:
        return handler
    return _tracer.capture_lambda_handler(handler, capture_response=False)


def trace(method: F) -> F:
    """Trace a service function as a subsegment. Responses are not captured: they can be large."""
    if _tracer is None:
        return method
    return _tracer.capture_method(method, capture_response=False)


def fails_softly(handler: F) -> F:
    """A Lambda handler that answers an event it cannot read (a `ValidationError`) with a warning in the log and
    a FAILED answer, not an error: Lambda would retry the same event, which would fail the same way."""

    @functools.wraps(handler)
    def answering(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except ValidationError as exc:
            logger.warning("invalid event", extra={"error": exc.message, "field": exc.field})
            return {
                "error": "ValidationError",
                "message": exc.message,
                "field": exc.field,
                "status": "FAILED",
            }

    return cast(F, answering)
