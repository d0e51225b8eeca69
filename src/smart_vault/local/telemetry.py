"""What Lambda and CloudWatch do with a function's output, for the local stack: each invocation's log lines go
to the function's log group (so `aws logs tail /aws/lambda/<name>` works), its embedded-metric-format lines
become CloudWatch metrics (so `list-metrics` and `get-metric-data` work), and Lambda's own `AWS/Lambda`
metrics (Invocations, Errors, Duration) are put as the service puts them.

Guesses: the log stream is one per function per day (Lambda names one per execution environment); metrics
are put at the EMF line's own timestamp, which moto stores as given.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from smart_vault.local.lambda_service import FunctionSpec

CloudWatchDatum = dict[str, Any]
PUT_BATCH = 20  # moto, like CloudWatch before 2023, takes at most 20 data per PutMetricData call


def emf_metric_data(line: str) -> list[tuple[str, CloudWatchDatum]]:
    """(namespace, MetricDatum) of each metric in one EMF log line; [] for any other line."""
    try:
        document = json.loads(line)
    except ValueError:
        return []
    directive = document.get("_aws") if isinstance(document, dict) else None
    if not isinstance(directive, dict):
        return []
    timestamp = datetime.fromtimestamp(directive.get("Timestamp", time.time() * 1000) / 1000, UTC)
    found = []
    for block in directive.get("CloudWatchMetrics") or []:
        dimension_sets = block.get("Dimensions") or [[]]
        for metric in block.get("Metrics") or []:
            raw = document.get(metric.get("Name"))
            values = raw if isinstance(raw, list) else [raw]
            for dimension_names in dimension_sets:
                dimensions = [{"Name": n, "Value": str(document.get(n, ""))} for n in dimension_names]
                for value in values:
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        datum = {
                            "MetricName": metric["Name"],
                            "Dimensions": dimensions,
                            "Timestamp": timestamp,
                            "Value": float(value),
                            "Unit": metric.get("Unit", "None"),
                        }
                        found.append((block.get("Namespace", ""), datum))
    return found


def lambda_metric_data(
    spec: FunctionSpec, duration_ms: float, failed: bool, now: datetime
) -> list[CloudWatchDatum]:
    dimensions = [{"Name": "FunctionName", "Value": spec.name}]
    return [
        {
            "MetricName": "Invocations",
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": 1.0,
            "Unit": "Count",
        },
        {
            "MetricName": "Errors",
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": float(failed),
            "Unit": "Count",
        },
        {
            "MetricName": "Duration",
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": duration_ms,
            "Unit": "Milliseconds",
        },
    ]


class CloudWatchShipper:
    """The `LambdaService.telemetry` hook: ships each finished invocation's logs and metrics to CloudWatch."""

    def __init__(self, client_for: Any) -> None:
        self.client_for = client_for
        self._lock = threading.Lock()
        self._streams: set[tuple[str, str, str]] = set()

    def __call__(
        self, spec: FunctionSpec, request_id: str, lines: list[str], duration_ms: float, failed: bool
    ) -> None:
        now = datetime.now(UTC)
        with self._lock:  # one invocation at a time: the emulator's clients are shared
            self._put_logs(spec, request_id, lines, duration_ms, now)
            by_namespace: dict[str, list[CloudWatchDatum]] = {
                "AWS/Lambda": lambda_metric_data(spec, duration_ms, failed, now)
            }
            for line in lines:
                for namespace, datum in emf_metric_data(line):
                    by_namespace.setdefault(namespace, []).append(datum)
            cloudwatch = self.client_for("cloudwatch", spec.region)
            for namespace, data in by_namespace.items():
                for start in range(0, len(data), PUT_BATCH):
                    cloudwatch.put_metric_data(
                        Namespace=namespace, MetricData=data[start : start + PUT_BATCH]
                    )

    def _put_logs(
        self, spec: FunctionSpec, request_id: str, lines: list[str], duration_ms: float, now: datetime
    ) -> None:
        logs = self.client_for("logs", spec.region)
        stream = f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid5(uuid.NAMESPACE_URL, spec.arn).hex}"
        if (spec.region, spec.log_group, stream) not in self._streams:
            try:
                logs.create_log_group(logGroupName=spec.log_group)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass  # the Terraform's log group (provisioned), as in AWS
            try:
                logs.create_log_stream(logGroupName=spec.log_group, logStreamName=stream)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            self._streams.add((spec.region, spec.log_group, stream))
        stamp = int(now.timestamp() * 1000)
        messages = [
            f"START RequestId: {request_id} Version: $LATEST",
            *lines,
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms",
        ]
        events = [{"timestamp": stamp, "message": m} for m in messages if m]
        logs.put_log_events(logGroupName=spec.log_group, logStreamName=stream, logEvents=events)
