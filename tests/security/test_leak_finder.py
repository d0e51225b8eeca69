"""The leak finder itself: it must see every kind of leak it claims to (else the leak tests prove nothing)."""

from __future__ import annotations

import pytest
from leaks import find_leaks

SECRETS = {"the AWS secret access key": "s3cr3t/Value+xyz", "the API key": "key-0123456789"}


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ('{"message": "auth with s3cr3t/Value+xyz failed"}', "the AWS secret access key"),
        ("x-api-key: key-0123456789", "the API key"),
        ("credentials AKIAIOSFODNN7EXAMPLE in use", "an AWS access key id"),
        ("request f4017ed0-1234 failed", "an AWS request id"),
        (
            "An error occurred (AccessDenied) when calling the CopySnapshot operation",
            "botocore's error wording",
        ),
        ("Traceback ...\nbotocore.exceptions.ClientError: boom", "a botocore exception (traceback or repr)"),
        ("{'ResponseMetadata': {'RequestId': 'abc'}}", "a raw AWS response"),
        ("{'HTTPHeaders': {'server': 'AmazonEC2'}}", "raw HTTP headers of an AWS response"),
        ("X-Amzn-RequestId: 7f1c", "an AWS request id header"),
    ],
)
def test_each_kind_of_leak_is_found(text, what):
    leaks = find_leaks("sample", text, SECRETS, request_id_prefixes=("f4017ed0",))
    assert what in [leak.what for leak in leaks]


def test_a_found_secret_is_not_repeated_in_the_report():
    [leak] = find_leaks("sample", "token=s3cr3t/Value+xyz;", SECRETS)
    assert "s3cr3t" not in str(leak) and "<secret>" in str(leak)


def test_readable_errors_are_not_leaks():
    text = '{"error": "AccessDenied: The KMS key is not accessible", "request_id": "6f1c8a52-0d3e-4b7a"}'
    assert find_leaks("sample", text, SECRETS, request_id_prefixes=("f4017ed0",)) == []
