"""The fault-injection harness itself: errors arrive as AWS would send them, retries behave as in AWS."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from smart_vault import aws
from smart_vault.aws import MAX_ATTEMPTS
from support.injection import INJECTED_REQUEST_ID_PREFIX, Fault, FaultInjector, WorkerKilled

REGION = "eu-west-1"


def test_throttling_is_retried_by_botocore_until_it_succeeds(moto_aws, faults, retry_clock):
    faults.add(Fault("RequestLimitExceeded", service="ec2", probability=0.5))
    ec2 = aws.client("ec2", REGION)

    for _ in range(40):
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)

    assert len(boto3.client("ec2", REGION).describe_volumes()["Volumes"]) == 40
    assert faults.count("RequestLimitExceeded") >= 10
    assert faults.attempts("CreateVolume") == 40 + faults.count("RequestLimitExceeded")
    assert len(retry_clock.backoff_delays) == faults.count("RequestLimitExceeded")


def test_a_non_retryable_fault_reaches_the_caller_and_moto_never_runs_the_call(moto_aws, faults):
    faults.add(Fault("VolumeLimitExceeded", service="ec2", operation="CreateVolume"))

    with pytest.raises(ClientError) as raised:
        aws.client("ec2", REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=1)

    assert raised.value.response["Error"]["Code"] == "VolumeLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["RequestId"].startswith(INJECTED_REQUEST_ID_PREFIX)
    assert faults.attempts("CreateVolume") == 1
    assert boto3.client("ec2", REGION).describe_volumes()["Volumes"] == []


def test_server_errors_are_retried_max_attempts_times_then_fail(moto_aws, faults, retry_clock):
    faults.add(Fault("InternalServerError", service="dynamodb", status=500))

    with pytest.raises(ClientError) as raised:
        aws.client("dynamodb", REGION).list_tables()

    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    # botocore's `max_attempts` counts retries: the first attempt plus MAX_ATTEMPTS retries.
    assert faults.attempts("ListTables") == MAX_ATTEMPTS + 1
    assert len(retry_clock.backoff_delays) == MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        (
            "sns",
            lambda c: c.publish(TopicArn=f"arn:aws:sns:{REGION}:123456789012:t", Message="m"),
            "KMSAccessDenied",
        ),
        ("lambda", lambda c: c.invoke(FunctionName="f", InvocationType="Event"), "AccessDeniedException"),
        ("kms", lambda c: c.list_keys(), "AccessDeniedException"),
    ],
)
def test_each_protocol_error_parses_to_its_code(moto_aws, faults, service, call, code):
    faults.add(Fault(code, service=service, status=403))

    with pytest.raises(ClientError) as raised:
        call(aws.client(service, REGION))

    assert raised.value.response["Error"]["Code"] == code


def test_faults_filter_by_region_call_number_body_and_count(moto_aws, faults):
    faults.add(Fault("Boom", service="ec2", region="eu-central-1"))
    faults.add(Fault("Second", service="ec2", operation="CreateVolume", on_calls=frozenset({2})))
    faults.add(
        Fault(
            "Sized", service="ec2", operation="CreateVolume", when=lambda call: "Size=7" in call, max_faults=1
        )
    )
    primary = aws.client("ec2", REGION)

    primary.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    with pytest.raises(ClientError, match="Second"):
        primary.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    with pytest.raises(ClientError, match="Sized"):
        primary.create_volume(AvailabilityZone=f"{REGION}a", Size=7)
    primary.create_volume(AvailabilityZone=f"{REGION}a", Size=7)
    with pytest.raises(ClientError, match="Boom"):
        aws.client("ec2", "eu-central-1").describe_volumes()

    assert len(boto3.client("ec2", REGION).describe_volumes()["Volumes"]) == 2


def test_an_interrupt_after_a_call_kills_the_caller_once_the_call_has_happened(moto_aws, faults):
    faults.interrupt("ec2", "CreateVolume", after=True)
    ec2 = aws.client("ec2", REGION)

    with pytest.raises(WorkerKilled):
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)  # fires once

    assert len(boto3.client("ec2", REGION).describe_volumes()["Volumes"]) == 2


def test_the_same_seed_injects_the_same_faults(moto_aws, retry_clock):
    def faulted_attempts(seed: int) -> list[int]:
        injector = FaultInjector([Fault("RequestLimitExceeded", service="ec2", probability=0.3)], seed=seed)
        ec2 = injector.attach(boto3.client("ec2", REGION, config=aws.CLIENT_CONFIG))
        for _ in range(30):
            ec2.describe_volumes()
        return [error.attempt for error in injector.injected]

    first = faulted_attempts(1)
    assert first == faulted_attempts(1)
    assert first != faulted_attempts(2)
    assert len(first) >= 5
