"""The backup report reaches CloudWatch Logs whole: every log line stays under the 256 KB event limit."""

from __future__ import annotations

import io
import json
import logging

from smart_vault.backup import entry
from smart_vault.observability import logger

CLOUDWATCH_EVENT_LIMIT = 256 * 1024


def fleet_report(instances: int) -> dict:
    rows = []
    for n in range(instances):
        rows.append(
            {
                "instance_id": f"i-{n:017x}",
                "backup_set_id": f"bset-{n:020x}",
                "snapshot_ids": [f"snap-{n:08x}{v:09x}" for v in range(3)],
                "status": "ok",
                "error": None,
            }
        )
    return {
        "run_id": "run-5000",
        "dry_run": False,
        "status": "PARTIAL",
        "instances": rows,
        "snapshots_created": [s for r in rows for s in r["snapshot_ids"]],
        "copies_started": [
            {
                "source_snapshot_id": f"snap-{n:017x}",
                "copy_snapshot_id": f"snap-{n + 1:017x}",
                "region": "eu-central-1",
            }
            for n in range(1000)
        ],
        "copies_deferred": 14000,
        "deleted": [{"snapshot_id": f"snap-{n:017x}", "region": "eu-west-1"} for n in range(2000)],
        "failures": [{"resource": "i-0000000000000000a", "error": "CreateSnapshots failed: ..."}],
    }


def captured_lines(report: dict) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_handler.formatter)
    logger.addHandler(handler)
    try:
        entry.log_report(report)
    finally:
        logger.removeHandler(handler)
    return [line for line in stream.getvalue().splitlines() if line]


def test_a_5000_instance_report_is_logged_in_lines_under_the_cloudwatch_limit_and_whole():
    report = fleet_report(5000)
    assert len(json.dumps(report)) > CLOUDWATCH_EVENT_LIMIT  # one line would lose its end

    lines = captured_lines(report)

    assert len(lines) > 2
    assert max(len(line.encode()) for line in lines) < CLOUDWATCH_EVENT_LIMIT
    records = [json.loads(line) for line in lines]
    assert {r["run_id"] for r in records} == {"run-5000"}
    summary = next(r for r in records if r["part"] == "summary")
    assert summary["report"]["status"] == "PARTIAL" and summary["report"]["copies_deferred"] == 14000
    for name in ("instances", "snapshots_created", "copies_started", "deleted", "failures"):
        logged = [item for r in records if r["part"] == name for item in r["items"]]
        assert logged == report[name], name
        assert summary["report"]["counts"][name] == len(report[name])


def test_a_small_report_is_one_summary_and_one_line_per_list():
    report = fleet_report(2)
    report["copies_started"], report["deleted"] = report["copies_started"][:3], report["deleted"][:3]
    parts = entry.report_log_parts(report)
    assert [p["part"] for p in parts] == [
        "summary",
        "instances",
        "snapshots_created",
        "copies_started",
        "deleted",
        "failures",
    ]
