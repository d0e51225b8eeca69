"""The lines the product logs through Powertools (JSON, one object per line), captured for a test."""

from __future__ import annotations

import io
import json
from typing import Any

from smart_vault.local.telemetry import emf_metric_data
from smart_vault.observability import logger


class CapturedLogs:
    """Redirects the Powertools handler (bound to the real stdout when the module was imported, so pytest's
    capsys does not see it) to a buffer, exactly as Lambda would print it."""

    def __init__(self, monkeypatch: Any):
        self.buffer = io.StringIO()
        monkeypatch.setattr(logger.registered_handler, "stream", self.buffer)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def at(self, level: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("level") == level]


def emf_metrics(output: str) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """The metrics of the embedded-metric-format lines among `output`'s (others are passed over), read as the
    local stack's CloudWatch reads them (`local.telemetry.emf_metric_data`): per metric name, each value with
    its dimensions, in order."""
    found: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for line in output.splitlines():
        for _, datum in emf_metric_data(line):
            dimensions = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            found.setdefault(datum["MetricName"], []).append((datum["Value"], dimensions))
    return found
