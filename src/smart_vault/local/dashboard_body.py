"""The CloudWatch dashboard's widgets as drill.tf builds them (`local.dashboard_widgets`), for the local stack.

Also the one place that knows which metrics the `smart-vault dashboard` page draws: `page_metrics` reads them
from these widgets, so the page shows what the CloudWatch dashboard shows, plus the metrics that other parts
of the vault emit (anomalies, cost per recovery point) when they exist.
"""

from __future__ import annotations

from typing import Any

from smart_vault.local.deployment import DeploymentConfig


def _metric_id(region: str) -> str:
    return region.replace("-", "_")


def dashboard_widgets(config: DeploymentConfig) -> list[dict[str, Any]]:
    """`local.dashboard_widgets`: the backup widgets, then each drill region's results and RTO."""
    return backup_widgets(config) + drill_widgets(config)


def backup_widgets(config: DeploymentConfig) -> list[dict[str, Any]]:
    p = config.primary_region
    regions = [config.primary_region, config.dr_region]
    return [
        _widget(
            0,
            0,
            "Recovery-point age (h), per region",
            p,
            "Maximum",
            3600,
            [
                [
                    "SmartVault",
                    "RecoveryPointAgeSeconds",
                    "Region",
                    r,
                    {"id": f"s_{_metric_id(r)}", "visible": False},
                ]
                for r in regions
            ]
            + [
                [{"expression": f"s_{_metric_id(r)} / 3600", "label": r, "id": f"h_{_metric_id(r)}"}]
                for r in regions
            ],
        ),
        _widget(
            12,
            0,
            "DR copy backlog: copies owed, oldest owed (s)",
            p,
            "Maximum",
            3600,
            [
                ["SmartVault", "CopyBacklog", "service", "smart-vault"],
                ["SmartVault", "OldestOwedCopySeconds", "service", "smart-vault", {"yAxis": "right"}],
            ],
        ),
        _widget(
            0,
            12,
            "Backup failures",
            p,
            "Sum",
            3600,
            [["SmartVault", "BackupFailures", "service", "smart-vault"]],
        ),
    ]


def drill_widgets(config: DeploymentConfig) -> list[dict[str, Any]]:
    drill_regions = [config.dr_region] if config.drill_regions is None else list(config.drill_regions)
    widgets = []
    for i, r in enumerate(drill_regions):
        widgets.append(
            _widget(
                12 * (i % 2),
                6 + 12 * (i // 2),
                f"Drills in {r}: passed, failed, overdue, leftovers, swept",
                r,
                "Sum",
                86400,
                [
                    ["SmartVault", "DrillsPassed", "Region", r, {"color": "#2ca02c"}],
                    ["SmartVault", "DrillsFailed", "Region", r, {"color": "#d62728"}],
                    ["SmartVault", "DrillOverdue", "Region", r, {"stat": "Maximum"}],
                    ["SmartVault", "DrillLeftovers", "Region", r],
                    ["SmartVault", "DrillLeftoversSwept", "Region", r],
                ],
            )
        )
    for i, r in enumerate(drill_regions):
        widget = _widget(
            12 * (i % 2),
            18 + 6 * (i // 2),
            f"Drill RTO (s) in {r}: p50 and worst",
            r,
            None,
            86400,
            [
                ["SmartVault", "DrillRtoSeconds", "Region", r, {"stat": "p50", "label": "p50"}],
                ["SmartVault", "DrillRtoSeconds", "Region", r, {"stat": "Maximum", "label": "worst"}],
            ],
        )
        widget["properties"]["annotations"] = {
            "horizontal": [{"label": "alarm", "value": config.drill_rto_threshold_seconds}]
        }
        widgets.append(widget)
    return widgets


def _widget(
    x: int, y: int, title: str, region: str, stat: str | None, period: int, metrics: list[list[Any]]
) -> dict[str, Any]:
    properties: dict[str, Any] = {"title": title, "region": region, "period": period, "view": "timeSeries"}
    if stat:
        properties["stat"] = stat
    properties["metrics"] = metrics
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": properties}
