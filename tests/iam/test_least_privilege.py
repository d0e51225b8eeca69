"""Least privilege, measured on the requests `make test` recorded (smart_vault.authz.mutation): every
statement of every role is needed by at least one recorded request, and every narrowing condition refuses
at least one request a test makes. A statement no call needs is one to remove; a condition no test
exercises needs a test (tests/authz/test_conditions_refuse.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smart_vault.authz import mutation

HOW_TO_RUN = (
    "run it with `make test`, which first runs the other tests with SMART_VAULT_AWS_CALLS=.build/aws-calls"
)


@pytest.fixture(scope="module")
def records():
    found = mutation.load_records(Path(os.environ.get("SMART_VAULT_AWS_CALLS", "")))
    if not found:
        pytest.fail(f"no recorded authorization requests: {HOW_TO_RUN}", pytrace=False)
    return found


def test_every_statement_is_needed_and_every_condition_refuses_something(records):
    text, problems = mutation.report(records)
    print(text)
    assert problems == 0, text


def test_the_recorded_requests_were_all_evaluated_against_all_five_roles(records):
    assert {r["function"] for r in records} == {"backup", "restore_api", "restore_worker", "drill", "vault"}
