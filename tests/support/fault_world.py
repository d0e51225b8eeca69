"""Fixtures shared by the fault and security suites (their conftests import them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support.injection import FaultInjector, RetryClock, fast_retries


def _prime_cryptography_datetime() -> None:
    """Sign one certificate with the real clock before any test freezes time.

    cryptography's Rust core looks up the `datetime` type once per process and keeps it; if the first
    certificate is signed under freezegun (moto's SNS signs every message it delivers), it keeps
    freezegun's class and every later signature fails outside the freeze.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prime")])
    now = datetime.now(UTC)
    (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


_prime_cryptography_datetime()


@pytest.fixture
def retry_clock(monkeypatch) -> RetryClock:
    return fast_retries(monkeypatch)


@pytest.fixture
def faults(monkeypatch, retry_clock) -> FaultInjector:
    """An injector hooked into `smart_vault.aws.client`, with no fault armed yet."""
    return FaultInjector(seed=20261127).install(monkeypatch)


@pytest.fixture
def world(moto_aws, monkeypatch, faults):
    """The restore tests' moto world (tables, topic with an SQS subscriber, VPCs, AMIs, managed snapshots),
    with the worker invocation recorded by a fake Lambda client and every AWS client hooked by `faults`."""
    from support.restore_world import build_world, route_lambda_to, set_restore_env

    built = build_world()
    set_restore_env(monkeypatch, built.topic_arn)
    route_lambda_to(monkeypatch, built.lambda_client)
    return built


@pytest.fixture
def fast_pacing(monkeypatch):
    """The backup paces its mutating EC2 calls to EC2's token buckets (5 per second): simulate an EC2 whose
    buckets are a thousand times larger, so that a 200-instance run is not paced for 40 seconds."""
    from smart_vault import pacing

    real_pace = pacing.pace
    monkeypatch.setattr(
        pacing, "pace", lambda client: real_pace(client, pacing.scaled(pacing.EC2_RATES, 1000))
    )
