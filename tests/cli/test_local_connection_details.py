"""What `smart-vault local up` prints: the export line alone must be enough for every CLI command."""

from __future__ import annotations

import io
import shlex

from smart_vault.cli.local_commands import print_connection_details
from smart_vault.local.provision import Provisioned, ProvisionedApi
from smart_vault.local.stack import StackState


def _state() -> StackState:
    apis = [
        ProvisionedApi("eu-west-1", "a1", "v1", "key-1", "k1", "u1", "fn-1", "http://127.0.0.1:1/v1"),
        ProvisionedApi("eu-central-1", "a2", "v1", "key-2", "k2", "u2", "fn-2", "http://127.0.0.1:2/v1"),
    ]
    return StackState(
        aws_endpoint_url="http://127.0.0.1:3",
        lambda_endpoint_url="http://127.0.0.1:4",
        primary_region="eu-west-1",
        dr_region="eu-central-1",
        backup_function="sv-backup",
        log_dir="/tmp/logs",
        provisioned=Provisioned(apis=apis),
    )


def _exported() -> dict[str, str]:
    """The variables of the connection details' `export` line."""
    out = io.StringIO()
    print_connection_details(_state(), None, out)
    [line] = [line for line in out.getvalue().splitlines() if line.strip().startswith("export ")]
    return dict(word.split("=", 1) for word in shlex.split(line)[1:])


def test_export_line_sets_the_dr_region_that_report_needs():
    exported = _exported()
    assert exported["SMART_VAULT_DR_REGION"] == "eu-central-1"
    assert exported["AWS_REGION"] == "eu-west-1"
    assert exported["SMART_VAULT_API_URL"] == "http://127.0.0.1:1/v1"


def test_export_line_covers_the_dr_stack_too():
    exported = _exported()
    assert exported["SMART_VAULT_DR_API_URL"] == "http://127.0.0.1:2/v1"
    assert exported["SMART_VAULT_DR_API_KEY"] == "key-2"
    assert exported["AWS_ENDPOINT_URL_LAMBDA"] == "http://127.0.0.1:4"


def test_the_output_says_how_to_put_smart_vault_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    out = io.StringIO()
    print_connection_details(_state(), None, out)
    [hint] = [line for line in out.getvalue().splitlines() if "PATH" in line and "smart-vault" in line]
    assert "export PATH=" in hint and hint.rstrip().endswith(":$PATH")
