"""Pure: the backup report of the contract, its status, the email summary and the shrunk SNS document."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

SUCCEEDED = "SUCCEEDED"
PARTIAL = "PARTIAL"
FAILED = "FAILED"

OK = "ok"
SKIPPED = "skipped"
PLANNED = "planned"
INSTANCE_FAILED = "failed"


class InstanceResult(TypedDict):
    instance_id: str
    backup_set_id: str
    snapshot_ids: list[str]
    status: str
    error: str | None


class Report(TypedDict):
    run_id: str
    dry_run: bool
    status: str
    instances: list[InstanceResult]
    snapshots_created: list[str]
    copies_started: list[dict[str, str]]
    copies_deferred: int
    deleted: list[dict[str, str]]
    failures: list[dict[str, str]]


def instance_result(
    instance_id: str, backup_set_id: str, snapshot_ids: Sequence[str], status: str, error: str | None = None
) -> InstanceResult:
    return {
        "instance_id": instance_id,
        "backup_set_id": backup_set_id,
        "snapshot_ids": list(snapshot_ids),
        "status": status,
        "error": error,
    }


def run_status(successes: int, failures: int) -> str:
    """SUCCEEDED when nothing failed, FAILED when something failed and nothing succeeded, else PARTIAL."""
    if failures == 0:
        return SUCCEEDED
    return PARTIAL if successes else FAILED


def build_report(
    run_id: str,
    dry_run: bool,
    instances: Sequence[InstanceResult] = (),
    snapshots_created: Iterable[str] = (),
    copies_started: Sequence[Mapping[str, str]] = (),
    copies_deferred: int = 0,
    deleted: Sequence[Mapping[str, str]] = (),
    failures: Sequence[Mapping[str, str]] = (),
) -> Report:
    """The report; every instance failure is also listed under `failures` (named by instance id)."""
    all_failures = [dict(f) for f in failures]
    listed = {f["resource"] for f in all_failures}
    for item in instances:
        if item["status"] == INSTANCE_FAILED and item["instance_id"] not in listed:
            all_failures.append({"resource": item["instance_id"], "error": item["error"] or "failed"})
    successes = (
        sum(1 for i in instances if i["status"] in (OK, SKIPPED, PLANNED))
        + len(copies_started)
        + len(deleted)
    )
    return {
        "run_id": run_id,
        "dry_run": dry_run,
        "status": run_status(successes, len(all_failures)),
        "instances": [dict(i) for i in instances],  # type: ignore[misc]
        "snapshots_created": list(snapshots_created),
        "copies_started": [dict(c) for c in copies_started],
        "copies_deferred": copies_deferred,
        "deleted": [dict(d) for d in deleted],
        "failures": all_failures,
    }


def counts(report: Mapping[str, Any]) -> dict[str, int]:
    statuses = [i["status"] for i in report["instances"]]
    return {
        "instances": len(statuses),
        "instances_ok": statuses.count(OK),
        "instances_skipped": statuses.count(SKIPPED),
        "instances_planned": statuses.count(PLANNED),
        "instances_failed": statuses.count(INSTANCE_FAILED),
        "snapshots_created": len(report["snapshots_created"]),
        "copies_started": len(report["copies_started"]),
        "copies_deferred": report["copies_deferred"],
        "deleted": len(report["deleted"]),
        "failures": len(report["failures"]),
    }


def shrink(report: Mapping[str, Any]) -> dict[str, Any]:
    """The SNS document when the full report would pass 256 KB: its counts and its failures."""
    return {
        "run_id": report["run_id"],
        "dry_run": report["dry_run"],
        "status": report["status"],
        "counts": counts(report),
        "failures": list(report["failures"]),
    }


def email_summary(report: Mapping[str, Any], region: str, dr_region: str) -> str:
    """The readable text email subscribers get."""
    c = counts(report)
    mode = " (dry run: nothing was created, copied or deleted)" if report["dry_run"] else ""
    lines = [
        f"Smart Vault backup run {report['run_id']} in {region}: {report['status']}{mode}",
        "",
        f"Instances: {c['instances']} ({c['instances_ok']} backed up, {c['instances_skipped']} already done"
        f" by this run, {c['instances_planned']} planned, {c['instances_failed']} failed)",
        f"Snapshots created: {c['snapshots_created']}",
        f"DR copies to {dr_region}: {c['copies_started']} started, {c['copies_deferred']}"
        f" {'would start' if report['dry_run'] else 'deferred to the next run'}",
        f"Snapshots {'to delete' if report['dry_run'] else 'deleted'}: {c['deleted']}",
    ]
    frozen = [f["resource"] for f in report["failures"] if "post-script failed" in f["error"]]
    if frozen:
        lines += [
            "",
            f"WARNING: the post-script failed on {', '.join(frozen)}: the application may still be frozen.",
        ]
    if report["failures"]:
        lines += ["", f"Failures ({c['failures']}):"]
        lines += [f"- {f['resource']}: {f['error']}" for f in report["failures"]]
    lines += ["", "The JSON report goes to SQS, Lambda and HTTPS subscribers; the full report is in the log."]
    return "\n".join(lines)
