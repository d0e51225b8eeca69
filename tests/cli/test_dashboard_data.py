"""`smart-vault dashboard`'s data from CloudWatch (moto) and its page, without a browser."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from smart_vault.cli import dashboard_page
from smart_vault.cli.dashboard_data import collect_charts, period_for
from smart_vault.cli.dashboard_page import render_page


@pytest.fixture
def cloudwatch_for(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield lambda service, region: boto3.client(service, region_name=region)


def put(client_for, region, name, value, dimensions, when):
    client_for("cloudwatch", region).put_metric_data(
        Namespace="SmartVault",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Value": value,
                "Timestamp": when,
            }
        ],
    )


def test_series_per_dimension_value_across_regions_and_no_data_for_missing_metrics(cloudwatch_for):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for region in ("eu-west-1", "eu-central-1", "vault"):
        put(
            cloudwatch_for,
            "eu-west-1",
            "RecoveryPointAgeSeconds",
            7200,
            {"Region": region},
            now - timedelta(minutes=5),
        )
    put(
        cloudwatch_for,
        "eu-central-1",
        "DrillRtoSeconds",
        240,
        {"Region": "eu-central-1"},
        now - timedelta(minutes=3),
    )
    put(
        cloudwatch_for,
        "eu-west-1",
        "EstimatedMonthlyCostUsd",
        1.25,
        {"Region": "eu-west-1"},
        now - timedelta(minutes=2),
    )

    charts, notes = collect_charts(cloudwatch_for, ["eu-west-1", "eu-central-1"], 1, now)
    by_id = {c["id"]: c for c in charts}

    assert notes == []
    assert sorted(s["label"] for s in by_id["rpo"]["series"]) == ["eu-central-1", "eu-west-1", "vault"]
    assert by_id["rpo"]["series"][0]["points"][0][1] == 2.0  # hours
    assert {s["label"] for s in by_id["rto"]["series"]} == {"worst in eu-central-1", "mean in eu-central-1"}
    assert by_id["cost"]["series"][0]["label"] == "EstimatedMonthlyCostUsd"
    assert by_id["anomalies"]["series"] == [] and by_id["backlog"]["series"] == []


def test_an_unreadable_region_is_a_note_not_a_failure(cloudwatch_for):
    def failing(service, region):
        if region == "down-1":
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://down")
        return cloudwatch_for(service, region)

    charts, notes = collect_charts(failing, ["eu-west-1", "down-1"], 1)
    assert len(charts) == 7 and len(notes) == 1 and "down-1" in notes[0]


def test_period_keeps_charts_small():
    assert [period_for(h) for h in (1, 24, 25, 168, 169)] == [60, 60, 300, 300, 3600]


def test_the_page_inlines_pinned_chart_js_and_cannot_be_closed_by_data():
    chart = {
        "id": "rpo",
        "title": "RPO </script><b>",
        "y_title": "h",
        "kind": "line",
        "metrics": ["M"],
        "series": [],
    }
    data = {"title": "t", "subtitle": "s", "charts": [chart], "window": [0, 1], "alarms": [], "drills": None,
            "drills_note": None, "notes": [], "now": datetime.now(UTC)}  # fmt: skip

    page = render_page(data)

    embedded = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S
    ).group(1)
    assert json.loads(embedded)["charts"][0]["title"] == "RPO </script><b>"
    assert "<h2>RPO &lt;/script&gt;&lt;b&gt;</h2>" in page
    assert "Chart.js v4.5.1" in page and "https://" not in page.split("<script>")[0]


def test_a_changed_chart_js_is_refused(monkeypatch):
    monkeypatch.setattr(dashboard_page, "CHART_JS_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match=r"not Chart\.js 4\.5\.1"):
        dashboard_page.chart_js()
