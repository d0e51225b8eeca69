"""The tracing seam: with tracing off no handler import loads the X-Ray SDK (about 150 ms of cold start)."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - fresh interpreters, our own command
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools import Tracer

from smart_vault import observability

SRC = Path(__file__).resolve().parents[2] / "src"
HANDLERS = [
    "smart_vault.backup",
    "smart_vault.restore_api",
    "smart_vault.restore_worker",
    "smart_vault.drill",
]
TRACING_VARIABLES = ["POWERTOOLS_TRACE_DISABLED", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"]


def _xray_loaded_after_import(module: str, **env: str) -> bool:
    base = {k: v for k, v in os.environ.items() if k not in TRACING_VARIABLES}
    # The handler is resolved as the Lambda runtime does (`smart_vault.backup` imports it on first use).
    code = (
        f"import sys, importlib; importlib.import_module({module!r}).handler; "
        "print(any(m.split('.')[0] == 'aws_xray_sdk' for m in sys.modules))"
    )
    out = subprocess.run(  # nosec B603 - our own interpreter and a fixed command
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**base, "PYTHONPATH": str(SRC), "AWS_DEFAULT_REGION": "eu-west-1", **env},
    ).stdout
    return out.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("module", HANDLERS)
def test_handler_import_with_tracing_disabled_does_not_load_xray_sdk(module):
    assert not _xray_loaded_after_import(
        module, POWERTOOLS_TRACE_DISABLED="true", LAMBDA_TASK_ROOT="/var/task"
    )


@pytest.mark.parametrize("module", HANDLERS)
def test_handler_import_outside_lambda_does_not_load_xray_sdk(module):
    assert not _xray_loaded_after_import(module)


def test_handler_import_with_tracing_on_loads_xray_sdk():
    # The control: the same probe sees the SDK when Lambda traces, so the tests above can fail.
    assert _xray_loaded_after_import(
        "smart_vault.backup", POWERTOOLS_TRACE_DISABLED="false", LAMBDA_TASK_ROOT="/t"
    )


ENVIRONMENTS = [
    {},
    {"LAMBDA_TASK_ROOT": "/var/task"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "TRUE"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "off"},
    {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
    {"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"},
    {"POWERTOOLS_TRACE_DISABLED": "false"},
]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_tracing_enabled_follows_powertools_rule(monkeypatch, environ):
    for name in TRACING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert observability.tracing_enabled() is (not Tracer._is_tracer_disabled())


def test_decorators_return_the_function_itself_when_tracing_is_off():
    def handler(event, context):
        return event

    assert observability._tracer is None  # tests run with POWERTOOLS_TRACE_DISABLED=true
    assert observability.trace_handler(handler) is handler
    assert observability.trace(handler) is handler


def test_decorators_wrap_with_powertools_when_tracing_is_on():
    code = (
        "from smart_vault import observability as o\n"
        "def handler(event, context): return event\n"
        "wrapped = o.trace_handler(handler)\n"
        "print(wrapped is not handler and wrapped.__wrapped__ is handler and o.trace(handler) is not handler)"
    )
    base = {k: v for k, v in os.environ.items() if k not in TRACING_VARIABLES}
    out = subprocess.run(  # nosec B603 - our own interpreter and a fixed command
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={
            **base,
            "PYTHONPATH": str(SRC),
            "LAMBDA_TASK_ROOT": "/var/task",
            "POWERTOOLS_TRACE_DISABLED": "false",
        },
    ).stdout
    assert out.strip().splitlines()[-1] == "True"
