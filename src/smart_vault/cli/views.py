"""What the local commands and the demo print: a backup run's summary, the notifications, a restore example."""

from __future__ import annotations

from typing import Any

from smart_vault.cli.client import format_table
from smart_vault.local.client import boto_client
from smart_vault.local.stack import StackState


def backup_summary(report: dict[str, Any]) -> str:
    rows = [
        (i["instance_id"], i["status"], len(i.get("snapshot_ids") or []), i.get("error"))
        for i in report.get("instances", [])
    ]
    lines = [
        f"run {report.get('run_id')}: {report.get('status')}"
        f" - {len(report.get('snapshots_created', []))} snapshots created,"
        f" {len(report.get('copies_started', []))} DR copies started, {report.get('copies_deferred', 0)} deferred,"
        f" {len(report.get('deleted', []))} deleted",
        format_table(["instance", "status", "snapshots", "error"], rows) if rows else "no instance selected",
    ]
    lines += [f"failure: {f['resource']}: {f['error']}" for f in report.get("failures", [])]
    return "\n".join(lines)


def restore_example(state: StackState) -> dict[str, str] | None:
    """A snapshot, AMI and subnet that the README's curl command can restore on this stack (None if none)."""
    if state.fleet is None or not state.fleet.protected:
        return None
    ec2 = boto_client(state, "ec2", state.primary_region)
    instance = state.fleet.protected[-1]
    volume_id = sorted(instance["volumes"].items())[-1][1]  # its last data volume
    snapshots = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:smart-vault:source-volume", "Values": [volume_id]}]
    )["Snapshots"]
    completed = sorted((s for s in snapshots if s["State"] == "completed"), key=lambda s: s["StartTime"])
    if not completed:
        return None
    network = state.fleet.networks[state.primary_region]
    return {
        "snapshot_id": completed[-1]["SnapshotId"],
        "ami_id": network.ami_id,
        "subnet_id": network.subnet_id,
        "instance": f"{instance['name']} ({instance['instance_id']}) volume {volume_id}",
    }


def notifications_table(notes: list[dict[str, Any]]) -> str:
    rows = [(n["timestamp"], n["region"], n["event_type"], n["subject"]) for n in notes]
    return format_table(["time", "region", "event_type", "subject"], rows) if rows else "no notifications yet"
