"""Pure: the backup report, its status, the email text and the shrunk SNS document."""

from __future__ import annotations

import json

from smart_vault.backup.report import build_report, email_summary, instance_result, run_status, shrink
from smart_vault.notify import SNS_MAX_MESSAGE_BYTES, fit_message


def ok(i):
    return instance_result(f"i-{i:08x}", f"bset-{i}", [f"snap-{i:08x}"], "ok")


def failed(i):
    return instance_result(f"i-{i:08x}", f"bset-{i}", [], "failed", "UnauthorizedOperation: no")


def test_status_rules():
    assert run_status(0, 0) == "SUCCEEDED"
    assert run_status(3, 0) == "SUCCEEDED"
    assert run_status(3, 1) == "PARTIAL"
    assert run_status(0, 1) == "FAILED"


def test_report_has_the_contract_shape_and_lists_instance_failures():
    report = build_report(
        "run-1",
        False,
        instances=[ok(1), failed(2)],
        snapshots_created=["snap-00000001"],
        copies_started=[
            {"source_snapshot_id": "snap-00000001", "copy_snapshot_id": "snap-2", "region": "eu-central-1"}
        ],
        copies_deferred=4,
        deleted=[{"snapshot_id": "snap-0", "region": "eu-west-1"}],
        failures=[{"resource": "snap-9", "error": "denied"}],
    )
    assert set(report) == {
        "run_id",
        "dry_run",
        "status",
        "instances",
        "snapshots_created",
        "copies_started",
        "copies_deferred",
        "deleted",
        "failures",
    }
    assert report["status"] == "PARTIAL"
    assert report["failures"] == [
        {"resource": "snap-9", "error": "denied"},
        {"resource": "i-00000002", "error": "UnauthorizedOperation: no"},
    ]
    assert json.loads(json.dumps(report)) == report


def test_deferred_copies_alone_are_success():
    assert build_report("r", False, instances=[ok(1)], copies_deferred=50)["status"] == "SUCCEEDED"


def test_nothing_succeeded_is_failed_and_empty_run_succeeded():
    assert build_report("r", False, instances=[failed(1)])["status"] == "FAILED"
    assert build_report("r", False)["status"] == "SUCCEEDED"


def test_planned_and_skipped_instances_count_as_success():
    planned = instance_result("i-00000001", "b", [], "planned")
    skipped = instance_result("i-00000002", "b", ["snap-1"], "skipped")
    assert build_report("r", True, instances=[planned, skipped, failed(3)])["status"] == "PARTIAL"


def test_email_summary_reads_well():
    report = build_report(
        "run-1", False, instances=[ok(1), failed(2)], snapshots_created=["snap-00000001"], copies_deferred=2
    )
    text = email_summary(report, "eu-west-1", "eu-central-1")
    assert text.startswith("Smart Vault backup run run-1 in eu-west-1: PARTIAL")
    assert "1 backed up" in text and "1 failed" in text
    assert "DR copies to eu-central-1: 0 started, 2 deferred" in text
    assert "- i-00000002: UnauthorizedOperation: no" in text


def test_dry_run_summary_says_so():
    text = email_summary(build_report("r", True, copies_deferred=3), "eu-west-1", "eu-central-1")
    assert "dry run" in text and "3 would start" in text and "Snapshots to delete: 0" in text


def test_shrink_keeps_counts_and_failures():
    report = build_report("r", False, instances=[ok(i) for i in range(5)] + [failed(9)])
    small = shrink(report)
    assert small["counts"]["instances"] == 6 and small["counts"]["instances_failed"] == 1
    assert small["failures"] == report["failures"]
    assert "instances" not in small


def test_a_huge_report_fits_sns_after_shrinking():
    report = build_report(
        "r",
        False,
        instances=[ok(i) for i in range(6000)],
        snapshots_created=[f"snap-{i:08x}" for i in range(6000)],
    )
    message = fit_message(email_summary(report, "eu-west-1", "eu-central-1"), report, shrink)
    assert len(message.encode()) <= SNS_MAX_MESSAGE_BYTES
    document = json.loads(json.loads(message)["sqs"])
    assert document["truncated"] is True and document["counts"]["instances"] == 6000
