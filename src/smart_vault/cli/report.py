"""`smart-vault report`: the newest snapshot of each protected instance in the primary and the DR region, and
its age (the RPO), read from EC2 directly (the AWS credentials of the shell, not the API).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from smart_vault.cli.client import EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, CliError, format_age, format_table

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef


def newest_completed(snapshots: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """source instance id -> its newest completed managed snapshot."""
    newest: dict[str, Mapping[str, Any]] = {}
    for snap in snapshots:
        if snap.get("State") != "completed":
            continue
        tags = {t["Key"]: t.get("Value", "") for t in snap.get("Tags") or []}
        instance_id = tags.get("smart-vault:source-instance")
        if not instance_id:
            continue
        current = newest.get(instance_id)
        if current is None or snap["StartTime"] > current["StartTime"]:
            newest[instance_id] = snap
    return newest


def recovery_point_rows(
    instances: dict[str, str],
    snapshots: Mapping[str, Sequence[Mapping[str, Any]]],
    regions: Sequence[str],
    now: datetime,
) -> list[dict[str, Any]]:
    """Per protected instance (tagged now, or with snapshots), the newest snapshot and its age per region."""
    newest = {region: newest_completed(snapshots.get(region, [])) for region in regions}
    instance_ids = set(instances) | {i for by_instance in newest.values() for i in by_instance}
    rows = []
    for instance_id in sorted(instance_ids):
        row: dict[str, Any] = {"instance_id": instance_id, "name": instances.get(instance_id)}
        for region in regions:
            snap = newest[region].get(instance_id)
            age = (now - snap["StartTime"]).total_seconds() if snap else None
            row[region] = {"snapshot_id": snap["SnapshotId"] if snap else None, "age_seconds": age}
        rows.append(row)
    return rows


def collect_recovery_points(region: str, dr_region: str, tag_key: str, tag_values: list[str]) -> list[dict]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.session.Session()
        ec2 = session.client("ec2", region_name=region)
        instances: dict[str, str] = {}
        filters: list[FilterTypeDef] = [
            {"Name": f"tag:{tag_key}", "Values": tag_values},
            {"Name": "instance-state-name", "Values": ["running", "stopped"]},
        ]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
                    instances[instance["InstanceId"]] = tags.get("Name", "")
        snapshots = {}
        for name in (region, dr_region):
            client = ec2 if name == region else session.client("ec2", region_name=name)
            paginator = client.get_paginator("describe_snapshots")
            pages = paginator.paginate(
                OwnerIds=["self"],
                Filters=[{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}],
                PaginationConfig={"PageSize": 1000},
            )
            snapshots[name] = [snap for page in pages for snap in page["Snapshots"]]
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"AWS error: {exc}", EXIT_UNAVAILABLE) from None
    return recovery_point_rows(instances, snapshots, [region, dr_region], datetime.now(UTC))


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise CliError("no region: pass --region or set AWS_REGION", EXIT_USAGE)
    if not args.dr_region:
        raise CliError("no DR region: pass --dr-region or set SMART_VAULT_DR_REGION", EXIT_USAGE)
    rows = collect_recovery_points(region, args.dr_region, args.tag_key, args.tag_value.split(","))
    if args.output == "json":
        print(json.dumps(rows, indent=2), file=out)
        return EXIT_OK
    headers = ["instance", "name"]
    for name in (region, args.dr_region):
        headers += [f"newest in {name}", "age"]
    table = []
    for row in rows:
        line = [row["instance_id"], row["name"]]
        for name in (region, args.dr_region):
            line += [row[name]["snapshot_id"], format_age(row[name]["age_seconds"])]
        table.append(line)
    print(format_table(headers, table) if table else "no protected instances found", file=out)
    return EXIT_OK


def add_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """The parser of `report`."""
    report = commands.add_parser(
        "report", parents=[common], help="newest snapshot per instance and region (RPO)"
    )
    report.add_argument("--region", help="primary region (default AWS_REGION)")
    report.add_argument(
        "--dr-region",
        default=os.environ.get("SMART_VAULT_DR_REGION"),
        help="DR region (env SMART_VAULT_DR_REGION)",
    )
    report.add_argument(
        "--tag-key", default="Backup-Tier", help="tag key that selects instances (default Backup-Tier)"
    )
    report.add_argument("--tag-value", default="Gold", help="accepted values, comma-separated (default Gold)")
    report.set_defaults(handler=cmd_report)
