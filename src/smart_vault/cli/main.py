"""`smart-vault`: start and follow restores, report recovery points and drills, run drills and the local stack.

Exit codes: 0 done; 1 the operation ran and failed (restore or backup FAILED, a demo step failed);
2 bad usage; 3 the API refused the request (4xx); 4 the API or AWS could not be reached or failed (5xx);
5 gave up waiting (--timeout) while the restore was still running; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from smart_vault.cli import report, restore_commands
from smart_vault.cli.client import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError
from smart_vault.cli.options import add_global_options, subcommand_parents


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
    parser = argparse.ArgumentParser(
        prog="smart-vault",
        description="Start and follow Smart Vault restores, report recovery points, run the local stack.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    restore_commands.add_commands(commands, common, api)
    report.add_command(commands, common)
    from smart_vault.cli import drills as drill_commands

    drill_commands.add_commands(commands, common, api, restore_commands.api_client)
    from smart_vault.cli import dashboard

    dashboard.add_command(commands, common, api)
    _add_local_commands(commands, common)
    return parser


def _add_local_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """`smart-vault local ...`: the local stack's commands (run by `local_commands`, imported on use)."""
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
