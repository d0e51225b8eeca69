"""The documented restore command is the one `local up` prints and the end-to-end test runs."""

from __future__ import annotations

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
