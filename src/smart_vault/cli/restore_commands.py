"""`smart-vault restore`, `status` and `recovery-points`: the restore API's commands (start a restore of either
form, follow it to its end with the measured RTO, list an instance's recovery points).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import Any, TextIO

from smart_vault.cli.client import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ApiClient,
    CliError,
    follow_restore,
    job_summary,
    measured_rto_seconds,
    restore_outcome,
)
from smart_vault.cli.recovery_points import instance_ids_of, recovery_point_table
from smart_vault.restore.request import InstanceRestoreRequest, RestoreRequest

# Options of each restore form that the other does not take (the API would refuse them with a 400).
VOLUME_ONLY_OPTIONS = {
    "launch": "--launch",
    "availability_zone": "--availability-zone",
    "device_name": "--device-name",
    "volume_type": "--volume-type",
}


INSTANCE_ONLY_OPTIONS = {"backup_set_id": "--backup-set-id", "security_group_ids": "--security-group-ids"}


def api_client(args: argparse.Namespace) -> ApiClient:
    if not args.api_url:
        raise CliError("no API URL: pass --api-url or set SMART_VAULT_API_URL", EXIT_USAGE)
    if not args.api_key:
        raise CliError("no API key: pass --api-key or set SMART_VAULT_API_KEY", EXIT_USAGE)
    return ApiClient(args.api_url, args.api_key)


def _given(args: argparse.Namespace, options: dict[str, str]) -> list[str]:
    return [flag for name, flag in options.items() if getattr(args, name) not in (None, False)]


# The options each form's body carries when they are set: its request's fields, the body keys being the options'
# names, but for the one that names what to restore and the booleans, which are flags (--launch,
# --keep-on-failure).
_NOT_OPTIONS = ("instance_id", "snapshot_id", "launch_instance", "keep_on_failure")
INSTANCE_BODY_OPTIONS = tuple(f.name for f in fields(InstanceRestoreRequest) if f.name not in _NOT_OPTIONS)
VOLUME_BODY_OPTIONS = tuple(f.name for f in fields(RestoreRequest) if f.name not in _NOT_OPTIONS)


def instance_restore_body(args: argparse.Namespace) -> dict[str, Any]:
    """The full-instance POST /restore body: unset options are left out, so the API applies the recorded
    values (or RESTORE_NETWORKS in the DR region)."""
    return _with_options({"instance_id": args.instance_id}, args, INSTANCE_BODY_OPTIONS)


def restore_request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /restore body from the command line (the API validates it; unset options are left out)."""
    if args.instance_id is not None:
        return instance_restore_body(args)
    body: dict[str, Any] = {"snapshot_id": args.snapshot_id}
    if args.launch:
        body["launch_instance"] = True
    return _with_options(body, args, VOLUME_BODY_OPTIONS)


def _with_options(body: dict[str, Any], args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    body.update({name: getattr(args, name) for name in names if getattr(args, name) is not None})
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
        args.instance_id = resolve_name(api_client(args), args.name, args.region)
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
    client = api_client(args)
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
    client = api_client(args)
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
    answer = api_client(args).recovery_points(
        instance_id=args.instance_id, name=args.name, region=args.region
    )
    if not isinstance(answer, dict) or not isinstance(answer.get("recovery_points"), list):
        raise CliError(f"unexpected answer from the API: {str(answer)[:200]}", EXIT_UNAVAILABLE)
    print(json.dumps(answer, indent=2) if args.output == "json" else recovery_point_table(answer), file=out)
    return EXIT_OK


def add_commands(commands: Any, common: argparse.ArgumentParser, api: argparse.ArgumentParser) -> None:
    """The parsers of `restore`, `status` and `recovery-points`."""
    follow = argparse.ArgumentParser(add_help=False)
    follow.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for the end (default 900)"
    )
    follow.add_argument(
        "--interval", type=float, default=2.0, help="seconds between status polls (default 2)"
    )
    _add_restore(commands, [common, api, follow])
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


def _add_restore(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    restore = commands.add_parser(
        "restore",
        parents=parents,
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
