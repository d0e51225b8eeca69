"""`smart-vault`: start and follow restores, report recovery points and drills, run drills and the local stack.

Exit codes: 0 done; 1 the operation ran and failed (restore or backup FAILED, a demo step failed);
2 bad usage; 3 the API refused the request (4xx); 4 the API or AWS could not be reached or failed (5xx);
5 gave up waiting (--timeout) while the restore was still running; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from smart_vault.cli.client import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ApiClient,
    CliError,
    follow_restore,
    format_age,
    format_table,
    job_summary,
    measured_rto_seconds,
    restore_outcome,
)
from smart_vault.cli.options import add_global_options, subcommand_parents
from smart_vault.cli.recovery_points import instance_ids_of, recovery_point_table

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef

# Options of each restore form that the other does not take (the API would refuse them with a 400).
VOLUME_ONLY_OPTIONS = {
    "launch": "--launch",
    "availability_zone": "--availability-zone",
    "device_name": "--device-name",
    "volume_type": "--volume-type",
}
INSTANCE_ONLY_OPTIONS = {"backup_set_id": "--backup-set-id", "security_group_ids": "--security-group-ids"}

# -------------------------------------------------------------------------------------- recovery points


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


# ------------------------------------------------------------------------------------------------ commands


def _client(args: argparse.Namespace) -> ApiClient:
    if not args.api_url:
        raise CliError("no API URL: pass --api-url or set SMART_VAULT_API_URL", EXIT_USAGE)
    if not args.api_key:
        raise CliError("no API key: pass --api-key or set SMART_VAULT_API_KEY", EXIT_USAGE)
    return ApiClient(args.api_url, args.api_key)


def _given(args: argparse.Namespace, options: dict[str, str]) -> list[str]:
    return [flag for name, flag in options.items() if getattr(args, name) not in (None, False)]


def instance_restore_body(args: argparse.Namespace) -> dict[str, Any]:
    """The full-instance POST /restore body: unset options are left out, so the API applies the recorded
    values (or RESTORE_NETWORKS in the DR region)."""
    body: dict[str, Any] = {"instance_id": args.instance_id}
    options = {
        "backup_set_id": args.backup_set_id,
        "region": args.region,
        "subnet_id": args.subnet_id,
        "security_group_ids": args.security_group_ids,
        "instance_type": args.instance_type,
        "ami_id": args.ami_id,
    }
    body.update({k: v for k, v in options.items() if v is not None})
    if args.keep_on_failure:
        body["keep_on_failure"] = True
    return body


def restore_request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /restore body from the command line (the API validates it; unset options are left out)."""
    if args.instance_id is not None:
        return instance_restore_body(args)
    body: dict[str, Any] = {"snapshot_id": args.snapshot_id}
    if args.launch:
        body["launch_instance"] = True
    options = {
        "region": args.region,
        "ami_id": args.ami_id,
        "subnet_id": args.subnet_id,
        "instance_type": args.instance_type,
        "availability_zone": args.availability_zone,
        "device_name": args.device_name,
        "volume_type": args.volume_type,
    }
    body.update({k: v for k, v in options.items() if v is not None})
    if args.keep_on_failure:
        body["keep_on_failure"] = True
    return body


def resolve_name(client: ApiClient, name: str, region: str | None) -> str:
    """The instance id behind a Name tag, from its recovery points (GET /recovery-points?name=)."""
    answer = client.recovery_points(name=name, region=region)
    found = instance_ids_of(answer)
    if not found:
        raise CliError(f"no protected instance named {name!r} has recovery points there", EXIT_USAGE)
    if len(found) > 1:
        raise CliError(
            f"several instances are named {name!r} ({', '.join(found)}): use --instance-id", EXIT_USAGE
        )
    return found[0]


def cmd_restore(args: argparse.Namespace, out: TextIO) -> int:
    if args.name is not None:
        args.instance_id = resolve_name(_client(args), args.name, args.region)
    if args.instance_id is not None:
        wrong = _given(args, VOLUME_ONLY_OPTIONS)
        if wrong:
            raise CliError(
                f"{', '.join(wrong)}: not an option of --instance-id (a full-instance restore)", EXIT_USAGE
            )
    else:
        wrong = _given(args, INSTANCE_ONLY_OPTIONS)
        if wrong:
            raise CliError(
                f"{', '.join(wrong)}: only with --instance-id (a full-instance restore)", EXIT_USAGE
            )
    if args.launch and not (args.ami_id and args.subnet_id):
        raise CliError("--launch needs --ami-id and --subnet-id", EXIT_USAGE)
    client = _client(args)
    accepted = client.start_restore(restore_request_body(args), args.idempotency_key)
    if not isinstance(accepted, dict) or not isinstance(accepted.get("restore_id"), str):
        raise CliError(f"unexpected answer from the API: {str(accepted)[:200]}", EXIT_UNAVAILABLE)
    if not args.wait:
        if args.output == "json":
            print(json.dumps(accepted, indent=2), file=out)
        else:
            print(f"restore {accepted['restore_id']} {accepted['status']}", file=out)
            print(f"follow it with: smart-vault status {accepted['restore_id']}", file=out)
        return EXIT_OK
    return _follow(client, accepted["restore_id"], args, out)


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    client = _client(args)
    if not args.follow:
        job = client.get_restore(args.restore_id)
        if not isinstance(job, dict):
            raise CliError(f"unexpected answer from the API: {str(job)[:200]}", EXIT_UNAVAILABLE)
        print(json.dumps(job, indent=2) if args.output == "json" else job_summary(job), file=out)
        return EXIT_FAILED if job.get("status") == "FAILED" else EXIT_OK
    return _follow(client, args.restore_id, args, out)


def _follow(client: ApiClient, restore_id: str, args: argparse.Namespace, out: TextIO) -> int:
    progress = out if args.output == "table" else None
    job = follow_restore(client, restore_id, progress, interval=args.interval, timeout=args.timeout)
    if args.output == "json":
        # The job as the API shows it, plus the recovery time the CLI measured from it.
        print(json.dumps({**job, "rto_seconds": measured_rto_seconds(job)}, indent=2), file=out)
    else:
        print(job_summary(job), file=out)
        print(restore_outcome(job), file=out)
    return EXIT_OK if job.get("status") == "SUCCEEDED" else EXIT_FAILED


def cmd_recovery_points(args: argparse.Namespace, out: TextIO) -> int:
    if (args.instance_id is None) == (args.name is None):
        raise CliError("give exactly one of --instance-id and --name", EXIT_USAGE)
    answer = _client(args).recovery_points(instance_id=args.instance_id, name=args.name, region=args.region)
    if not isinstance(answer, dict) or not isinstance(answer.get("recovery_points"), list):
        raise CliError(f"unexpected answer from the API: {str(answer)[:200]}", EXIT_UNAVAILABLE)
    print(json.dumps(answer, indent=2) if args.output == "json" else recovery_point_table(answer), file=out)
    return EXIT_OK


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


def cmd_local(args: argparse.Namespace, out: TextIO) -> int:
    try:
        import moto  # noqa: F401 - only to tell a missing extra from a bug
        import yaml  # noqa: F401
    except ImportError as exc:
        message = f"the local stack needs {exc.name}: pip install 'smart-vault[local]' (or make demo)"
        raise CliError(message, EXIT_USAGE) from None
    from smart_vault.cli import local_commands as commands

    return commands.run(args, out)


# ------------------------------------------------------------------------------------------------ parser


EPILOG = """\
environment:
  SMART_VAULT_API_URL, SMART_VAULT_API_KEY   restore API stage URL and key (or --api-url, --api-key)
  SMART_VAULT_DR_API_URL, SMART_VAULT_DR_API_KEY  the DR stack's API: `drills` and `--region <DR>` use it
  SMART_VAULT_DR_REGION                      DR region of `report` (or --dr-region)
  SMART_VAULT_DRILL_FUNCTION                 drill function of `drill run` (or --function)

global options (--output, --api-url, --api-key) go before or after the command.
  AWS_REGION, AWS_ENDPOINT_URL, AWS_*        the usual AWS settings, for `report`

exit codes:
  0 done, 1 the restore/backup/demo failed, 2 bad usage, 3 the API refused the request (4xx),
  4 the API or AWS could not be reached or failed (5xx), 5 still running at --timeout, 130 interrupted

Try it without an AWS account: `make demo`, or `smart-vault local up`.
"""


def build_parser() -> argparse.ArgumentParser:
    common, api = subcommand_parents()
    follow = argparse.ArgumentParser(add_help=False)
    follow.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for the end (default 900)"
    )
    follow.add_argument(
        "--interval", type=float, default=2.0, help="seconds between status polls (default 2)"
    )

    parser = argparse.ArgumentParser(
        prog="smart-vault",
        description="Start and follow Smart Vault restores, report recovery points, run the local stack.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    restore = commands.add_parser(
        "restore",
        parents=[common, api, follow],
        help="start a restore through the API: one snapshot, or a whole instance",
        description=(
            "Restore one snapshot into a volume (--snapshot-id), or a whole instance from one of its "
            "recovery points (--instance-id). With --wait, follow the steps with elapsed time and end with "
            "what came back and the measured RTO (job created to finished)."
        ),
    )
    what = restore.add_mutually_exclusive_group(required=True)
    what.add_argument("--snapshot-id", help="snapshot to restore into a volume (snap-...)")
    what.add_argument("--instance-id", help="protected instance to restore whole (i-...)")
    what.add_argument("--name", help="protected instance to restore whole, by its Name tag")
    restore.add_argument(
        "--region", help="region to restore in (default: the API's region; or its DR region)"
    )
    restore.add_argument(
        "--backup-set-id",
        help="recovery point to restore with --instance-id (default: the newest complete one there)",
    )
    restore.add_argument(
        "--security-group-ids",
        nargs="+",
        metavar="SG",
        help="security groups with --instance-id (default: recorded, or RESTORE_NETWORKS in the DR region)",
    )
    restore.add_argument(
        "--launch", action="store_true", help="also launch an instance and attach the volume"
    )
    restore.add_argument(
        "--ami-id",
        help="AMI of the instance to launch (with --launch; with --instance-id: launch from it, needed "
        "for Windows, RHEL, SUSE and other licensed platforms)",
    )
    restore.add_argument(
        "--subnet-id",
        help="subnet of the instance (with --launch; with --instance-id default: recorded, or RESTORE_NETWORKS)",
    )
    restore.add_argument(
        "--instance-type", help="instance type (default t3.micro; with --instance-id: the recorded type)"
    )
    restore.add_argument("--availability-zone", help="AZ of the volume when not launching")
    restore.add_argument("--device-name", help="device name of the volume (default /dev/sdf)")
    restore.add_argument("--volume-type", help="EBS volume type (default gp3)")
    restore.add_argument("--keep-on-failure", action="store_true", help="keep what was created if it fails")
    restore.add_argument("--idempotency-key", help="retry-safe key: the same key and body start nothing new")
    restore.add_argument("--wait", action="store_true", help="follow the restore to its end")
    restore.set_defaults(handler=cmd_restore)

    status = commands.add_parser("status", parents=[common, api, follow], help="show or follow a restore")
    status.add_argument("restore_id", metavar="RESTORE_ID")
    status.add_argument(
        "--no-follow", dest="follow", action="store_false", help="show once instead of following"
    )
    status.set_defaults(handler=cmd_status)

    points = commands.add_parser(
        "recovery-points",
        parents=[common, api],
        help="list one instance's recovery points in a region, newest first, through the API",
    )
    points.add_argument("--instance-id", help="the protected instance (i-...)")
    points.add_argument("--name", help="the protected instance's Name tag")
    points.add_argument("--region", help="region to list (default the API's region; or the DR region)")
    points.set_defaults(handler=cmd_recovery_points)

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

    from smart_vault.cli import drills as drill_commands

    drill_commands.add_commands(commands, common, api, _client)
    from smart_vault.cli import dashboard

    dashboard.add_command(commands, common, api)

    local = commands.add_parser("local", help="the local stack: emulated AWS on this machine")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="LOCAL_COMMAND")
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-file", help="where `local up` records the running stack (env SMART_VAULT_LOCAL_STATE)"
    )
    up = local_commands.add_parser(
        "up", parents=[state], help="start the stack and keep it running until Ctrl-C"
    )
    up.add_argument("--no-seed", dest="seed", action="store_false", help="no demo fleet and no first backup")
    backup = local_commands.add_parser(
        "backup", parents=[common, state], help="run a backup on the running stack"
    )
    backup.add_argument("--dry-run", action="store_true", help="plan only: create, copy and delete nothing")
    backup.add_argument("--instance-id", action="append", help="back up exactly these instances (repeatable)")
    local_commands.add_parser(
        "notifications", parents=[common, state], help="show the notifications received"
    )
    local_commands.add_parser("demo", help="run the whole product once, end to end (what `make demo` runs)")
    tick = local_commands.add_parser(
        "tick", parents=[common, state], help="run what the schedules would run in the next days, in order"
    )
    tick.add_argument(
        "--days", type=float, default=1.0, help="how many days of schedules (default 1, at most 31)"
    )
    local.set_defaults(handler=cmd_local)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage message on bad input
    try:
        return args.handler(args, out)
    except CliError as exc:
        print(f"smart-vault: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("smart-vault: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `smart-vault ... | head`: the reader left; no traceback (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
