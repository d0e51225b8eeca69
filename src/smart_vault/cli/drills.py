"""`smart-vault drills` (the drill results, through the restore API) and `smart-vault drill run` (a drill now,
by invoking the drill function synchronously and printing its report when it ends)."""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from smart_vault.cli.client import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ApiClient,
    CliError,
    format_age,
    format_table,
)
from smart_vault.cli.options import dr_api

NO_DRILLS_HERE = (
    "this restore API keeps no drill results: drills run in the DR region, so ask the DR stack's API "
    "(set SMART_VAULT_DR_API_URL and SMART_VAULT_DR_API_KEY, as the `smart-vault local up` export line does, "
    "or pass the DR API's --api-url and --api-key)"
)
DEFAULT_DRILL_FUNCTION = "smart-vault-dr-drill"  # Terraform's name with the default name_prefix, DR region
# The drill function runs up to Lambda's 900 s; the synchronous Invoke waits that long, and once only: a
# retried Invoke would start a second drill run.
INVOKE_READ_TIMEOUT = 960


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds_text(seconds: float) -> str:
    """Whole seconds; tenths below 10 s (the local stack's emulator restores in well under a second)."""
    return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"


def slowest_stage(stages: dict[str, float]) -> str:
    if not stages:
        return "-"
    name, seconds = max(stages.items(), key=lambda item: item[1])
    return f"{name} {seconds_text(seconds)}"


def drill_rows(drills: list[dict[str, Any]], now: datetime) -> list[tuple[Any, ...]]:
    rows = []
    for drill in drills:
        started = _parse_time(drill.get("started_at"))
        when = (
            f"{drill.get('started_at')} ({format_age((now - started).total_seconds())} ago)"
            if started
            else "-"
        )
        rto = drill.get("rto_seconds")
        leftovers = drill.get("leftovers") or []
        rows.append(
            (
                drill.get("instance_id"),
                drill.get("name") or "-",
                when,
                drill.get("status"),
                seconds_text(rto) if isinstance(rto, (int, float)) else "-",
                slowest_stage(drill.get("stages") or {}),
                ", ".join(leftovers) if leftovers else ("0" if drill.get("torn_down") else "?"),
            )
        )
    return rows


def drill_table(drills: list[dict[str, Any]], now: datetime | None = None) -> str:
    """The drills as a table: when, status, RTO, slowest stage, leftovers."""
    if not drills:
        return "no drill results"
    headers = ("INSTANCE", "NAME", "WHEN", "STATUS", "RTO", "SLOWEST STAGE", "LEFTOVERS")
    return format_table(headers, drill_rows(drills, now or datetime.now(UTC)))


def report_text(report: dict[str, Any]) -> str:
    """A drill run report for people: the status, each drill with its stages and errors, skipped, overdue."""
    lines = [
        f"drill run {report.get('drill_run_id')} in {report.get('region')}: {report.get('status')}"
        + (" (dry run)" if report.get("dry_run") else "")
    ]
    if report.get("dry_run"):
        lines += [
            f"  would drill {p['instance_id']} from {p['backup_set_id']}" for p in report.get("planned", [])
        ]
    drills = report.get("drills") or []
    if drills:
        lines.append(drill_table(drills))
        for drill in drills:
            stages = ", ".join(
                f"{name} {seconds:.1f}s" for name, seconds in (drill.get("stages") or {}).items()
            )
            lines.append(f"  {drill['instance_id']}: stages {stages or '-'}")
            lines.append(
                f"    teardown: {'verified, nothing left' if drill.get('torn_down') else 'INCOMPLETE'}"
                + (f"; leftovers {', '.join(drill['leftovers'])}" if drill.get("leftovers") else "")
            )
            if drill.get("validation"):
                lines.append(
                    f"    validation: {'passed' if drill['validation']['passed'] else 'FAILED'}: {drill['validation']['detail']}"
                )
            if drill.get("error"):
                lines.append(f"    error: {drill['error']}")
    lines += [f"  skipped {s['instance_id']}: {s['reason']}" for s in report.get("skipped", [])]
    lines.append(f"  overdue instances: {report.get('overdue')}")
    lines += sweep_text(report.get("sweep"))
    return "\n".join(lines)


def sweep_text(sweep: dict[str, Any] | None) -> list[str]:
    """What the run's sweep did with the leftovers of earlier drills that never reached their teardown."""
    if not sweep:
        return []
    lines = [f"  sweep of earlier drills: {sweep['error']}"] if sweep.get("error") else []
    for item in sweep.get("swept", []):
        lines.append(
            f"  swept drill {item['drill_id']}: removed {', '.join(item['removed']) or 'nothing'}"
            + (f"; NOT removed {', '.join(item['left'])}" if item["left"] else "")
        )
        lines += [f"    {problem}" for problem in item.get("problems", [])]
    for key, why in (("recent", "may still be running: not swept"), ("deferred", "no time left: next run")):
        lines += [f"  drill {d['drill_id']} ({why}): {', '.join(d['resources'])}" for d in sweep.get(key, [])]
    return lines


def cmd_drills(
    args: argparse.Namespace, out: TextIO, client_of: Callable[[argparse.Namespace], ApiClient]
) -> int:
    query = urllib.parse.urlencode({"instance_id": args.instance_id} if args.instance_id else {})
    path = "/drills" + (f"?{query}" if query else "")
    dr_url, dr_key = dr_api()
    dr_client = ApiClient(dr_url, dr_key or args.api_key or "") if dr_url else None
    wants_dr = args.region is not None and args.region == os.environ.get("SMART_VAULT_DR_REGION")
    if dr_client is not None and (wants_dr or not args.api_url):
        answer = dr_client.call("GET", path)
    else:
        try:
            answer = client_of(args).call("GET", path)
        except CliError as exc:
            if exc.error != "NotConfigured":
                raise
            if dr_client is None:
                raise CliError(NO_DRILLS_HERE, EXIT_USAGE) from None
            answer = dr_client.call("GET", path)  # the drills run in the DR region: its API keeps them
    if not isinstance(answer, dict) or not isinstance(answer.get("drills"), list):
        raise CliError(f"unexpected answer from the API: {str(answer)[:200]}", EXIT_UNAVAILABLE)
    drills = answer["drills"]
    if args.region:
        other = sorted({d.get("region") for d in drills} - {args.region})
        if other:
            raise CliError(
                f"the API at {args.api_url} keeps the drills of {', '.join(map(str, other))}, not {args.region}: "
                f"pass the restore API URL of {args.region} (--api-url)",
                EXIT_USAGE,
            )
    print(json.dumps(answer, indent=2) if args.output == "json" else drill_table(drills), file=out)
    return EXIT_OK


def invoke_drill(lambda_client: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Run the drill function once (RequestResponse) and return its report; CliError when it fails."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = lambda_client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = json.loads(answer["Payload"].read() or b"null")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CliError(
            f"cannot invoke the drill function {function}: {error.get('Code')}: {error.get('Message')}",
            EXIT_UNAVAILABLE,
        ) from None
    except (BotoCoreError, ValueError) as exc:
        raise CliError(f"cannot invoke the drill function {function}: {exc}", EXIT_UNAVAILABLE) from None
    if answer.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise CliError(f"the drill function {function} failed: {message}", EXIT_FAILED)
    if isinstance(payload, dict) and payload.get("error") == "ValidationError":
        raise CliError(f"the drill function refused the request: {payload.get('message')}", EXIT_USAGE)
    if not isinstance(payload, dict) or "status" not in payload:
        raise CliError(f"unexpected answer from {function}: {str(payload)[:200]}", EXIT_UNAVAILABLE)
    return payload


def lambda_client_for(region: str | None) -> Any:
    """A Lambda client for a synchronous drill run: one attempt, a read timeout past Lambda's 900 s. Its endpoint
    is boto3's (AWS_ENDPOINT_URL_LAMBDA points it at the local stack's Lambda endpoint)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "lambda",
        region_name=region,
        config=Config(read_timeout=INVOKE_READ_TIMEOUT, retries={"max_attempts": 1, "mode": "standard"}),
    )


def drill_region(args: argparse.Namespace) -> str | None:
    """The drill function's region: --region, the region of a function ARN, the DR region for the DR stack's
    function (the default), else AWS_REGION."""
    if args.region:
        return str(args.region)
    if args.function.startswith("arn:"):
        return str(args.function.split(":")[3])
    dr_region = os.environ.get("SMART_VAULT_DR_REGION")
    if dr_region and args.function.endswith("-dr-drill"):
        return dr_region
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def cmd_drill_run(args: argparse.Namespace, out: TextIO) -> int:
    region = drill_region(args)
    if not region:
        raise CliError(
            "no region: pass --region (the drill function's region) or set SMART_VAULT_DR_REGION", EXIT_USAGE
        )
    event: dict[str, Any] = {}
    if args.instance_id:
        event["instance_ids"] = list(dict.fromkeys(args.instance_id))
    if args.dry_run:
        event["dry_run"] = True
    if args.output == "table":
        what = ", ".join(event.get("instance_ids", [])) or "the instances drilled longest ago"
        print(
            f"drilling {what} with {args.function} in {region}; this takes minutes...", file=out, flush=True
        )
    report = invoke_drill(lambda_client_for(region), args.function, event)
    print(json.dumps(report, indent=2) if args.output == "json" else report_text(report), file=out)
    return EXIT_OK if report["status"] in ("PASSED", "NOTHING_TO_DRILL") else EXIT_FAILED


def add_commands(
    commands: Any,
    common: argparse.ArgumentParser,
    api: argparse.ArgumentParser,
    client_of: Callable[[argparse.Namespace], ApiClient],
) -> None:
    drills = commands.add_parser(
        "drills",
        parents=[common, api],
        help="the latest drill of every instance (or one's history), through the API",
    )
    drills.add_argument("--instance-id", help="show this instance's drills, newest first")
    drills.add_argument(
        "--region", help="the region whose drills to show (the API answers for its own region)"
    )
    drills.set_defaults(handler=lambda args, out: cmd_drills(args, out, client_of))

    drill = commands.add_parser("drill", help="restore drills")
    drill_commands = drill.add_subparsers(dest="drill_command", required=True, metavar="DRILL_COMMAND")
    run = drill_commands.add_parser(
        "run", parents=[common], help="drill now: invoke the drill function and print its report when it ends"
    )
    run.add_argument("--instance-id", action="append", help="drill exactly these instances (repeatable)")
    run.add_argument("--dry-run", action="store_true", help="list the plan only; restore nothing")
    run.add_argument(
        "--region",
        help="the drill function's region (default: SMART_VAULT_DR_REGION for the DR stack's function, else AWS_REGION)",
    )
    run.add_argument(
        "--function",
        default=os.environ.get("SMART_VAULT_DRILL_FUNCTION", DEFAULT_DRILL_FUNCTION),
        help="drill function name or ARN (env SMART_VAULT_DRILL_FUNCTION; terraform output drill_function_names; "
        f"default {DEFAULT_DRILL_FUNCTION})",
    )
    run.set_defaults(handler=cmd_drill_run)
