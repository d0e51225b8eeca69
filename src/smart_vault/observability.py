"""Logging, metrics and tracing: the one seam over Powertools.

Tracing goes through `trace_handler` and `trace` only. Powertools' Tracer uses the AWS X-Ray SDK, which
entered maintenance mode in 2026; moving to OpenTelemetry means changing these two functions and nothing
else. Powertools loads the X-Ray SDK lazily and disables tracing outside Lambda, so tests and the local
stack pay nothing for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "smart-vault"
METRICS_NAMESPACE = "SmartVault"

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
# Powertools' Tracer logs every exception that passes through a traced function, expected ones included,
# with its full traceback (raw AWS error text among it) on its own logger; the functions log their errors
# readably themselves, and X-Ray still records the exception on the subsegment.
logging.getLogger("aws_lambda_powertools.tracing.tracer").setLevel(logging.CRITICAL)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
_tracer = Tracer(service=SERVICE)

__all__ = ["METRICS_NAMESPACE", "MetricUnit", "logger", "metrics", "single_metric", "trace", "trace_handler"]


def trace_handler(handler: F) -> F:
    """Trace a Lambda handler (one segment per invocation, cold start annotated)."""
    return _tracer.capture_lambda_handler(handler, capture_response=False)  # type: ignore[return-value]


def trace(method: F) -> F:
    """Trace a service function as a subsegment. Responses are not captured: they can be large."""
    return _tracer.capture_method(method, capture_response=False)  # type: ignore[return-value]
