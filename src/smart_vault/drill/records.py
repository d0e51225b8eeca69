"""What a drill run works with and writes: the request, the clients, the statuses, and the record's times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smart_vault.drill.results import DrillResultStore
from smart_vault.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sns import SNSClient

PASSED, FAILED, PARTIAL, NOTHING_TO_DRILL = "PASSED", "FAILED", "PARTIAL", "NOTHING_TO_DRILL"

# Kept back from the Lambda's time for a drill's teardown (terminate and wait, delete volumes, deregister, look
# for leftovers). DRILL_TIMEOUT_SECONDS is at most 840: with Lambda's 900 s limit, exactly this much is left.
TEARDOWN_RESERVE_SECONDS = 60.0
# Kept back from the teardown for writing the result and publishing the report.
FINAL_RESERVE_SECONDS = 10.0

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]
Record = dict[str, Any]


@dataclass(frozen=True)
class DrillRequest:
    drill_run_id: str
    dry_run: bool = False
    instance_ids: tuple[str, ...] | None = None


@dataclass
class DrillClients:
    ec2: EC2Client
    lambda_client: LambdaClient
    store: DrillResultStore
    sns: SNSClient | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_time(moment: datetime) -> str:
    """ISO 8601 UTC to the second (the recovery point's time)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_time_ms(moment: datetime) -> str:
    """ISO 8601 UTC to the millisecond: a drill's start orders its history (sort key) and the latest item, so
    two drills of one instance started within a second still sort by time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def readable(exc: BaseException) -> str:
    if isinstance(exc, AwsError):
        return exc.readable()
    return str(exc) or type(exc).__name__
