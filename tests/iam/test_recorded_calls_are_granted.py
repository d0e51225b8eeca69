"""Every AWS operation the functional tests saw a function make is granted to that function's IAM role.

The calls are recorded by tests/aws_call_recorder.py during a previous pytest run with
SMART_VAULT_AWS_CALLS=<dir>; `make test` does both runs. A missing permission here is a backup that would
fail at night in AWS although every test passed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

_TFMODEL = Path(__file__).resolve().parents[1] / "terraform" / "tfmodel.py"
_spec = importlib.util.spec_from_file_location("smart_vault_tfmodel", _TFMODEL)
assert _spec and _spec.loader
# tests/terraform is not on sys.path here (test directories are not packages): load its model by path.
tfmodel = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(tfmodel)

FUNCTIONS = ("backup", "restore_api", "restore_worker", "drill", "vault")
HOW_TO_RUN = (
    "run it with `make test`, which first runs the other tests with SMART_VAULT_AWS_CALLS=.build/aws-calls"
)

# botocore operation -> IAM action, where the two differ. None: the operation needs no permission.
IAM_ACTION_OF = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeAsync"): "lambda:InvokeFunction",
    ("sts", "GetCallerIdentity"): None,
}
# botocore service name -> IAM prefix, where the two differ.
IAM_PREFIX_OF = {"cloudwatch": "cloudwatch", "logs": "logs", "stepfunctions": "states"}


def iam_action(service: str, operation: str) -> str | None:
    if (service, operation) in IAM_ACTION_OF:
        return IAM_ACTION_OF[(service, operation)]
    return f"{IAM_PREFIX_OF.get(service, service)}:{operation}"


def load_records() -> list[dict[str, str]]:
    directory = Path(os.environ.get("SMART_VAULT_AWS_CALLS", ""))
    records = []
    for path in sorted(directory.glob("calls-*.jsonl")) if directory.is_dir() else []:
        records.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    if not records:
        pytest.fail(f"no recorded AWS calls in {str(directory)!r}: {HOW_TO_RUN}", pytrace=False)
    return records


@pytest.fixture(scope="module")
def records():
    return load_records()


def test_iam_action_mapping():
    assert iam_action("ec2", "CreateSnapshots") == "ec2:CreateSnapshots"
    assert iam_action("lambda", "Invoke") == "lambda:InvokeFunction"
    assert iam_action("dynamodb", "PutItem") == "dynamodb:PutItem"
    assert iam_action("sts", "GetCallerIdentity") is None


def test_every_call_comes_from_a_known_function(records):
    unmapped = sorted({r["module"] for r in records if r["function"] not in FUNCTIONS})
    assert unmapped == [], (
        f"AWS calls from modules not mapped to a Lambda function: {unmapped}; "
        "add them to tests/aws_call_recorder.py (_FUNCTION_OF_MODULE or SHARED_MODULES)"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_recorded_calls_are_granted_to_the_functions_role(records, function):
    calls = sorted({(r["service"], r["operation"]) for r in records if r["function"] == function})
    assert calls, (
        f"no AWS call of the {function} function was recorded: its functional tests did not run? {HOW_TO_RUN}"
    )
    statements = tfmodel.role_statements(function)
    missing = sorted(
        action
        for service, operation in calls
        if (action := iam_action(service, operation)) is not None
        and not any(statement.allows(action) for statement in statements)
    )
    assert missing == [], f"{function} calls these without IAM permission in Terraform: {missing}"
