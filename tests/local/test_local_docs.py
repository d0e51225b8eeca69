"""The documented restore command is the one `local up` prints and the end-to-end test runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from smart_vault.local.curl import README_RESTORE_CURL, restore_curl_command

DOCS = Path(__file__).resolve().parents[2] / "docs" / "local.md"


def test_docs_show_exactly_the_command_the_stack_fills_in():
    assert README_RESTORE_CURL in DOCS.read_text(encoding="utf-8")


def test_filled_in_command_is_the_readme_command_with_values():
    command = restore_curl_command(
        "http://127.0.0.1:1234/v1",
        "k3y-with'quote",
        "snap-0123456789abcdef0",
        "ami-0123456789abcdef0",
        "subnet-01234567",
    )
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:1234/v1/restore"]
    assert words[5:7] == ["-H", "x-api-key: k3y-with'quote"]
    assert words[-1] == (
        '{"snapshot_id": "snap-0123456789abcdef0", "launch_instance": true, '
        '"ami_id": "ami-0123456789abcdef0", "subnet_id": "subnet-01234567"}'
    )


def parser_commands():
    """command -> its parser, for every `smart-vault` command and subcommand, from the real parser."""
    import argparse

    from smart_vault.cli.main import build_parser

    def subparsers(parser):
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return action.choices

    found = {}
    for name, sub in subparsers(build_parser()).items():
        if name in ("local", "drill"):
            for child, leaf in subparsers(sub).items():
                found[f"{name} {child}"] = leaf
        else:
            found[name] = sub
    return found


def documented_commands():
    """command -> its row's first cell, from docs/local.md's command table."""
    rows = re.findall(r"^\| `smart-vault ([^`]+)` \|", DOCS.read_text(encoding="utf-8"), re.M)
    found = {}
    for row in rows:
        words = row.split()
        name = " ".join(words[:2]) if words[0] in ("local", "drill") else words[0]
        found[name] = found.get(name, "") + " " + row
    return found


def test_the_command_table_lists_every_command_of_smart_vault_help():
    assert set(documented_commands()) == set(parser_commands())


def test_every_option_in_the_command_table_exists():
    parsers = parser_commands()
    for name, row in documented_commands().items():
        known = {option for action in parsers[name]._actions for option in action.option_strings}
        shown = set(re.findall(r"--[a-z][a-z-]*", row))
        assert shown <= known, (name, shown - known)
