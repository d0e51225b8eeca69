"""What `smart-vault dashboard` draws, read from CloudWatch (local or real) and the restore API.

Each chart is a `ChartSpec`: SmartVault metrics, the statistic to read and how to label a series. The series
are found with ListMetrics (every dimension value that exists: each region's RPO, the vault account's when it
reports one) and read with GetMetricData in the primary and the DR region. A metric that does not exist yet
(ChangeAnomalies before anomaly detection is deployed, a cost metric) is a chart with "no data", not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = "SmartVault"
MAX_QUERIES = 500  # GetMetricData's limit per call


@dataclass(frozen=True)
class MetricLine:
    metric: str  # a metric name, or "*Cost*": every SmartVault metric whose name contains "Cost"
    stat: str
    label: str  # "{metric}", "{Region}" and any other dimension name are filled in
    scale: float = 1.0


@dataclass(frozen=True)
class ChartSpec:
    chart_id: str
    title: str
    y_title: str
    lines: tuple[MetricLine, ...]
    kind: str = "line"


CHARTS = (
    ChartSpec("rpo", "Recovery-point age per region (RPO)", "hours",
              (MetricLine("RecoveryPointAgeSeconds", "Maximum", "{Region}", 1 / 3600),)),
    ChartSpec("backlog", "DR copy backlog", "copies / minutes",
              (MetricLine("CopyBacklog", "Maximum", "copies owed"),
               MetricLine("OldestOwedCopySeconds", "Maximum", "oldest owed (min)", 1 / 60))),
    ChartSpec("drills", "Drill results", "drills",
              (MetricLine("DrillsPassed", "Sum", "passed in {Region}"),
               MetricLine("DrillsFailed", "Sum", "failed in {Region}"),
               MetricLine("DrillLeftovers", "Sum", "leftovers in {Region}"),
               MetricLine("DrillLeftoversSwept", "Sum", "swept in {Region}")), kind="bar"),
    ChartSpec("rto", "Drill RTO over time", "seconds",
              (MetricLine("DrillRtoSeconds", "Maximum", "worst in {Region}"),
               MetricLine("DrillRtoSeconds", "Average", "mean in {Region}"))),
    ChartSpec("anomalies", "Change-rate anomalies", "anomalies / GiB changed",
              (MetricLine("ChangeAnomalies", "Sum", "anomalies"),
               MetricLine("ChangedBytes", "Sum", "GiB changed in {Region}", 1 / 2**30))),
    ChartSpec("cost", "Cost per recovery point", "USD per month",
              (MetricLine("*Cost*", "Average", "{metric}"),)),
    ChartSpec("failures", "Backup failures", "failures",
              (MetricLine("BackupFailures", "Sum", "failures"),), kind="bar"),
)  # fmt: skip


@dataclass
class Series:
    label: str
    points: list[tuple[int, float]] = field(default_factory=list)  # (epoch ms, value), oldest first


def period_for(hours: float) -> int:
    """The finest period that keeps a chart under ~2,000 points (CloudWatch keeps 1-minute data 15 days)."""
    return 60 if hours <= 24 else 300 if hours <= 24 * 7 else 3600


def find_metrics(cloudwatch: Any, line: MetricLine) -> list[dict[str, Any]]:
    """The metrics (name and dimensions) of `line` that exist in this region."""
    paginator = cloudwatch.get_paginator("list_metrics")
    arguments: dict[str, Any] = {"Namespace": NAMESPACE}
    if not line.metric.startswith("*"):
        arguments["MetricName"] = line.metric
    found = [m for page in paginator.paginate(**arguments) for m in page["Metrics"]]
    if line.metric.startswith("*"):
        needle = line.metric.strip("*").lower()
        found = [m for m in found if needle in m["MetricName"].lower()]
    return sorted(
        found, key=lambda m: (m["MetricName"], sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))
    )


def series_label(line: MetricLine, metric: dict[str, Any], region: str) -> str:
    values = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    values.setdefault("Region", region)
    values["metric"] = metric["MetricName"]
    try:
        return line.label.format(**values)
    except (KeyError, IndexError):
        return line.label


def read_series(
    cloudwatch: Any, spec: ChartSpec, region: str, start: datetime, end: datetime, period: int
) -> list[Series]:
    """One series per existing metric of the chart in `region`, with its datapoints."""
    queries: list[dict[str, Any]] = []
    labels: list[tuple[str, float]] = []
    for line in spec.lines:
        for metric in find_metrics(cloudwatch, line):
            queries.append(
                {
                    "Id": f"q{len(queries)}",
                    "MetricStat": {
                        "Metric": {k: metric[k] for k in ("Namespace", "MetricName", "Dimensions")},
                        "Period": period,
                        "Stat": line.stat,
                    },
                }
            )
            labels.append((series_label(line, metric, region), line.scale))
    found = []
    for first in range(0, len(queries), MAX_QUERIES):
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=queries[first : first + MAX_QUERIES], StartTime=start, EndTime=end
        )
        for result in answer["MetricDataResults"]:
            label, scale = labels[int(result["Id"][1:])]
            points = sorted(
                (int(t.timestamp() * 1000), round(v * scale, 4))
                for t, v in zip(result["Timestamps"], result["Values"], strict=True)
            )
            found.append(Series(label, points))
    return found


def collect_charts(
    client_for: Any, regions: list[str], hours: float, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every chart with its series from every region, and notes on what could not be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    end = (now or datetime.now(UTC)) + timedelta(minutes=1)
    start, period = end - timedelta(hours=hours), period_for(hours)
    charts, notes = [], []
    for spec in CHARTS:
        series: list[Series] = []
        for region in regions:
            try:
                series += read_series(client_for("cloudwatch", region), spec, region, start, end, period)
            except (BotoCoreError, ClientError) as exc:
                note = f"CloudWatch in {region} could not be read: {exc}"
                if note not in notes:
                    notes.append(note)
        charts.append(
            {
                "id": spec.chart_id,
                "title": spec.title,
                "y_title": spec.y_title,
                "kind": spec.kind,
                "metrics": sorted({line.metric.strip("*") for line in spec.lines}),
                "series": [{"label": s.label, "points": s.points} for s in series if s.points],
            }
        )
    return charts, notes


def collect_alarms(client_for: Any, regions: list[str]) -> list[dict[str, str]]:
    from botocore.exceptions import BotoCoreError, ClientError

    alarms = []
    for region in regions:
        try:
            pages = client_for("cloudwatch", region).get_paginator("describe_alarms").paginate()
            alarms += [
                {
                    "name": a["AlarmName"],
                    "region": region,
                    "state": a["StateValue"],
                    "metric": a.get("MetricName", ""),
                }
                for page in pages
                for a in page["MetricAlarms"]
            ]
        except (BotoCoreError, ClientError):
            continue  # the charts' notes already say the region could not be read
    return sorted(alarms, key=lambda a: (a["state"] == "OK", a["region"], a["name"]))
