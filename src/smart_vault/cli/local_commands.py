"""`smart-vault local ...`: start the stack, run a backup on it, show its notifications, run the demo."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from smart_vault.cli.client import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE, CliError, format_table
from smart_vault.cli.views import backup_summary, notifications_table, restore_example
from smart_vault.local.alarm_evaluation import evaluate_alarms
from smart_vault.local.client import (
    StackError,
    invoke_backup,
    load_state,
    read_notifications,
    scheduled_event,
)
from smart_vault.local.curl import restore_curl_command
from smart_vault.local.stack import LocalStack, StackState, default_state_path

ALARM_EVALUATION_SECONDS = 60


def run(args: argparse.Namespace, out: TextIO) -> int:
    handlers = {"up": up, "backup": backup, "notifications": notifications, "demo": demo, "tick": tick}
    try:
        return handlers[args.local_command](args, out)
    except StackError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from None


def _state_path(args: argparse.Namespace) -> Path:
    return Path(args.state_file) if getattr(args, "state_file", None) else default_state_path()


def up(args: argparse.Namespace, out: TextIO) -> int:
    path = _state_path(args)
    try:
        running = load_state(path)
    except StackError:
        running = None
    if running is not None:
        raise CliError(
            f"a local stack is already running (pid {running.pid}, {path}); stop it first", EXIT_FAILED
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C (SIGINT) stops it too, also when a script started it in the background, where the shell has
    # set SIGINT to be ignored and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("starting the local stack (emulated AWS, Lambda, API Gateway)...", file=out, flush=True)
    stack = LocalStack(log_dir=path.with_suffix(".logs"))
    try:
        state = stack.start(seed_fleet=args.seed)
        example = None
        if args.seed:
            print("seeded the demo fleet; running a first backup...", file=out, flush=True)
            print(
                backup_summary(invoke_backup(state, scheduled_event(state.primary_region, "local"))), file=out
            )
            example = restore_example(state)
        path.write_text(state.to_json(), encoding="utf-8")
        print_connection_details(state, example, out)
        try:
            # CloudWatch evaluates alarms every minute; moto never does, so the stack does it here.
            while not stop.wait(ALARM_EVALUATION_SECONDS):
                evaluate_alarms(stack.emulator.client, stack.monitoring.alarms)
        except KeyboardInterrupt:
            pass
        print("stopping the local stack", file=out, flush=True)
    finally:
        stack.stop()
        path.unlink(missing_ok=True)
    return EXIT_OK


def print_connection_details(state: StackState, example: dict[str, str] | None, out: TextIO) -> None:
    api = state.primary_api
    # `smart-vault report` needs the DR region too: without it the pasted line is not enough.
    env = state.client_environment()
    print("\nSmart Vault local stack is up. Ctrl-C stops it.", file=out)
    print(f"  API URL:          {api.url}", file=out)
    print(f"  API key:          {api.api_key}", file=out)
    for other in state.provisioned.apis:
        if other is not api:
            print(f"  DR API URL:       {other.url}", file=out)
            print(f"  DR API key:       {other.api_key}", file=out)
    print(f"  AWS endpoint:     {state.aws_endpoint_url}", file=out)
    print(f"  Lambda endpoint:  {state.lambda_endpoint_url}", file=out)
    print(f"  function logs:    {state.log_dir}", file=out)
    print("\nPoint smart-vault and the AWS CLI at both stacks (primary and DR):", file=out)
    print("  export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()), file=out)
    print(path_hint(), file=out)
    if example:
        print(f"\nRestore {example['instance']} onto a new instance (the README's command):", file=out)
        print(
            restore_curl_command(
                api.url, api.api_key, example["snapshot_id"], example["ami_id"], example["subnet_id"]
            ),
            file=out,
        )
        print("then: smart-vault status <restore_id>", file=out)
    print(
        "\nMore: smart-vault local backup | local tick --days 7 | local notifications | report | dashboard",
        file=out,
        flush=True,
    )


def path_hint() -> str:
    """How to run `smart-vault` from any shell: this interpreter's venv bin directory on PATH."""
    bin_dir = Path(sys.executable).parent
    if shutil.which("smart-vault") == str(bin_dir / "smart-vault"):
        return "  (smart-vault is on your PATH)"
    return (
        f"  smart-vault is not on your PATH; to put it there:  export PATH={shlex.quote(str(bin_dir))}:$PATH"
    )


def tick(args: argparse.Namespace, out: TextIO) -> int:
    from smart_vault.local.tick import run_tick

    state = load_state(_state_path(args))
    if args.output == "table":
        print(
            f"running what the schedules would run in the next {args.days:g} day(s)...", file=out, flush=True
        )
    runs, states = run_tick(state, args.days)
    if args.output == "json":
        print(json.dumps({"runs": [r.__dict__ for r in runs], "alarms": states}, indent=2), file=out)
    else:
        print(
            format_table(("WHEN", "RULE", "FUNCTION", "STATUS"), [tuple(r.__dict__.values()) for r in runs]),
            file=out,
        )
        alarming = sorted(name for name, value in states.items() if value != "OK")
        print(
            f"alarms: {len(states) - len(alarming)} OK" + "".join(f", {n} {states[n]}" for n in alarming),
            file=out,
        )
    return EXIT_FAILED if any(r.status.startswith("FAILED") for r in runs) else EXIT_OK


def backup(args: argparse.Namespace, out: TextIO) -> int:
    state = load_state(_state_path(args))
    if args.dry_run or args.instance_id:
        event: dict[str, Any] = {"dry_run": bool(args.dry_run)}
        if args.instance_id:
            event["instance_ids"] = args.instance_id
    else:
        event = scheduled_event(state.primary_region, "local")
    report = invoke_backup(state, event)
    print(json.dumps(report, indent=2) if args.output == "json" else backup_summary(report), file=out)
    return EXIT_OK if report.get("status") == "SUCCEEDED" else EXIT_FAILED


def notifications(args: argparse.Namespace, out: TextIO) -> int:
    notes = read_notifications(load_state(_state_path(args)))
    print(json.dumps(notes, indent=2) if args.output == "json" else notifications_table(notes), file=out)
    return EXIT_OK


def demo(args: argparse.Namespace, out: TextIO) -> int:
    from smart_vault.cli.demo import run_demo

    return run_demo(out)
