"""AWS errors reach reports, jobs and logs only in their translated, readable form."""

from __future__ import annotations

import traceback

import pytest
from botocore.exceptions import ClientError, WaiterError

from smart_vault import aws
from smart_vault.errors import AwsError

RAW = "An error occurred ("


def client_error(code: str = "AccessDenied", message: str = "no") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"RequestId": "req-1234"}},
        "CopySnapshot",
    )


def test_a_waiter_meeting_an_aws_error_reads_as_code_and_message():
    error = WaiterError(
        name="VolumeAvailable",
        reason="An error occurred (InternalError): try again",
        last_response={"Error": {"Code": "InternalError", "Message": "try again"}},
    )

    translated = aws.translate(error, "wait volume_available")

    assert translated.code == "WaiterError"
    assert translated.readable() == "WaiterError: VolumeAvailable failed: InternalError: try again"
    assert RAW not in str(translated)


def test_a_waiter_running_out_of_attempts_keeps_botocores_reason():
    error = WaiterError(name="VolumeInUse", reason="Max attempts exceeded", last_response={"Volumes": []})

    assert aws.translate(error).readable() == "WaiterError: VolumeInUse failed: Max attempts exceeded"


def test_aws_errors_does_not_chain_the_raw_botocore_exception():
    with pytest.raises(AwsError) as raised, aws.aws_errors("CopySnapshot"):
        raise client_error()

    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    printed = "".join(traceback.format_exception(raised.value))
    assert RAW not in printed and "req-1234" not in printed
    assert raised.value.readable() == "AccessDenied: no"
