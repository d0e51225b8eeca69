"""The lines the product logs through Powertools (JSON, one object per line), captured for a test."""

from __future__ import annotations

import io
import json
from typing import Any

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
    """The metrics of the CloudWatch embedded-metric-format documents among `output`'s lines (others are
    passed over): per metric name, each value with its dimensions, in the order CloudWatch would read them."""
    found: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                dims = {d: document[d] for d in directive["Dimensions"][0]}
                values = document[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    found.setdefault(metric["Name"], []).append((value, dims))
    return found
