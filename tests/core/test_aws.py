"""The AWS seam: cached clients with the retry mode, endpoints from the environment, pagination, errors."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from smart_vault import aws
from smart_vault.errors import AwsError, ConfigError


def test_clients_are_cached_per_service_and_region():
    primary = aws.client("ec2")
    assert aws.client("ec2") is primary
    assert aws.client("ec2", "eu-west-1") is primary
    dr = aws.client("ec2", "eu-central-1")
    assert dr is not primary
    assert dr.meta.region_name == "eu-central-1"


def test_clients_retry_throttling_with_at_least_ten_attempts():
    retries = aws.client("ec2").meta.config.retries
    assert retries["mode"] in ("adaptive", "standard")
    assert retries["total_max_attempts"] >= 10


def test_clients_honour_the_endpoint_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:6001")
    aws.reset_clients()
    assert aws.client("ec2").meta.endpoint_url == "http://127.0.0.1:5999"
    assert aws.client("sns").meta.endpoint_url == "http://127.0.0.1:6001"


def test_region_must_be_known(monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match="AWS_REGION"):
        aws.client("ec2")


def test_paginate_sends_page_size_and_follows_tokens():
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    stubber = Stubber(ec2)
    expected = {"OwnerIds": ["self"], "MaxResults": 1000}
    stubber.add_response(
        "describe_snapshots", {"Snapshots": [{"SnapshotId": "snap-1"}], "NextToken": "t"}, expected
    )
    stubber.add_response(
        "describe_snapshots", {"Snapshots": [{"SnapshotId": "snap-2"}]}, {**expected, "NextToken": "t"}
    )
    with stubber:
        items = list(aws.paginate(ec2, "describe_snapshots", "Snapshots", page_size=1000, OwnerIds=["self"]))
    assert [s["SnapshotId"] for s in items] == ["snap-1", "snap-2"]
    stubber.assert_no_pending_responses()


def test_paginate_translates_client_errors():
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    stubber = Stubber(ec2)
    stubber.add_client_error("describe_snapshots", "UnauthorizedOperation", "You are not authorized", 403)
    with stubber, pytest.raises(AwsError) as excinfo:
        list(aws.paginate(ec2, "describe_snapshots", "Snapshots"))
    assert excinfo.value.code == "UnauthorizedOperation"
    assert excinfo.value.readable() == "UnauthorizedOperation: You are not authorized"
    assert not excinfo.value.is_throttling


def test_aws_errors_translates_client_and_connection_errors():
    error = ClientError(
        {"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "CreateSnapshots"
    )
    with pytest.raises(AwsError) as excinfo, aws.aws_errors():
        raise error
    assert excinfo.value.is_throttling
    assert excinfo.value.operation == "CreateSnapshots"
    assert aws.error_code(error) == "RequestLimitExceeded"
    with pytest.raises(AwsError) as excinfo, aws.aws_errors("Publish"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert excinfo.value.code == "EndpointConnectionError"
    assert excinfo.value.operation == "Publish"


def test_chunks_and_tag_conversion():
    assert list(aws.chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(aws.chunks([], 3)) == []
    with pytest.raises(ValueError):
        list(aws.chunks([1], 0))
    tags = aws.dict_to_tags({"b": "2", "a": "1"})
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert aws.tags_to_dict(tags) == {"a": "1", "b": "2"}
    assert aws.tags_to_dict(None) == {}
    # A tag without a Value reads as "" (its fast path falls back), also from a one-shot iterator.
    assert aws.tags_to_dict(iter([{"Key": "a", "Value": "1"}, {"Key": "b"}])) == {"a": "1", "b": ""}


def test_snapshot_from_api_gives_the_value_the_dataclass_would():
    from dataclasses import fields
    from datetime import UTC, datetime

    from smart_vault.snapshot_model import Snapshot, snapshot_from_api

    started = datetime(2026, 1, 1, tzinfo=UTC)
    item = {
        "SnapshotId": "snap-1",
        "StartTime": started,
        "VolumeId": "vol-1",
        "Encrypted": 1,
        "Tags": [{"Key": "k", "Value": "v"}],
    }
    built = snapshot_from_api(item, "eu-west-1")
    expected = Snapshot("snap-1", "eu-west-1", "pending", started, "vol-1", "", True, "", {"k": "v"})
    assert built == expected and repr(built) == repr(expected)
    # A field added to Snapshot must be set there too (it bypasses __init__).
    assert set(vars(built)) == {f.name for f in fields(Snapshot)}
    # ... and a __post_init__ (or __slots__) would be skipped there: snapshot_from_api must change with it.
    assert not hasattr(Snapshot, "__post_init__") and not hasattr(Snapshot, "__slots__")
