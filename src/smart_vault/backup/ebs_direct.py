"""Measuring a snapshot with the EBS direct APIs: changed bytes against its lineage parent, or written bytes.

`ListChangedBlocks` (first and second snapshot of one lineage) and `ListSnapshotBlocks` answer pages of at
most `MaxResults` (100..10,000) blocks; every page is read until `NextToken` is absent. The EBS FAQ warns that
a page may be empty while a `NextToken` is still returned (changed blocks are scarce in that range): an empty
page is not the end. Bytes = blocks x `BlockSize` (512 KiB today, read from each answer).

Pacing: the EBS direct APIs are throttled per account and region, apart from EC2's buckets. Service Quotas
lists "ListChangedBlocks requests per account" (L-DB2FBAA1) and "ListSnapshotBlocks requests per account"
(L-18E976AB) at 50 per second each, not adjustable. `EBS_DIRECT_RATE` takes 50 a second for both together (one
bucket: conservative) with a burst of 10, so other tools in the account keep room. Every page takes a token
first; a throttled page (`ThrottlingException`, per account, or `RequestThrottledException`, per snapshot) or a
transient failure (5xx, a dropped connection) is retried with capped, jittered backoff on the module's clock.
This is the one retry layer: the client makes one attempt per call (`aws.SINGLE_ATTEMPT_CONFIG`), or
botocore's 11 attempts would run under each of these 8. The measurement never holds a copy slot: it runs
before the copy is claimed, and a measurement that still fails is logged and the copy starts without a
figure (`anomalies.ChangeMeter.measure`).

Deadline: `should_stop` (the invocation's, `Deadline.tail_must_stop`) is asked before every request and every
backoff wait; when it says time is short the measurement ends with `MeasurementStopped`, so that a throttled
measurement cannot eat the reserve the invocation keeps for its copies, pruning and report. It may overrun by
at most one request and one wait (at most `MAX_BACKOFF_SECONDS`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.pacing import Rate, TokenBucket

MAX_RESULTS = 10_000
StopCheck = Callable[[], bool] | None  # the invocation's deadline: True when time is short
EBS_DIRECT_RATE = Rate(50.0, 10)
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ConcurrentLimitExceededException",
    }
)
# Retried as botocore's standard mode would (the client makes one attempt): 5xx answers and lost connections.
TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
    }
)
MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 20.0


class MeasurementStopped(AwsError):
    """The invocation's time is short: the measurement ends without a figure (not a failure of the API)."""

    def __init__(self, operation: str) -> None:
        super().__init__("MeasurementStopped", "the invocation's time is short", operation)


def _retried(exc: AwsError) -> bool:
    return exc.code in THROTTLING_CODES or exc.code in TRANSIENT_CODES or (exc.status or 0) >= 500


@dataclass(frozen=True)
class BlockCount:
    blocks: int
    block_size: int
    requests: int  # pages read, retries included
    throttled: int = 0
    volume_size_gib: int = 0  # `VolumeSize` of the (second) snapshot, as the answer gives it

    @property
    def bytes(self) -> int:
        return self.blocks * self.block_size


class EbsDirect:
    """The EBS direct client of one region with its pacing bucket (shared by every measurement of an
    invocation) and throttling retries."""

    def __init__(
        self,
        ebs: Any,
        rate: Rate = EBS_DIRECT_RATE,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        monotonic, default_sleep = aws.clock()
        self.ebs = ebs
        self._sleep = sleep or default_sleep
        self.bucket = TokenBucket(rate, clock or monotonic, self._sleep)
        self._rng = rng or random.Random(0)  # noqa: S311  # nosec B311 - backoff jitter, not security
        self.requests = 0
        self.throttled = 0

    def _page(self, operation: str, should_stop: StopCheck, **params: Any) -> dict[str, Any]:
        """One page, paced, retried while throttled (or failing transiently); other errors become AwsError at
        once; MeasurementStopped when `should_stop` says the invocation's time is short."""
        attempt = 0
        while True:
            if should_stop is not None and should_stop():
                raise MeasurementStopped(operation)
            self.bucket.take()
            self.requests += 1
            try:
                with aws.aws_errors(operation):
                    return getattr(self.ebs, _method(operation))(**params)
            except AwsError as exc:
                attempt += 1
                if not _retried(exc) or attempt >= MAX_ATTEMPTS:
                    raise
                self.throttled += exc.code in THROTTLING_CODES
                if should_stop is not None and should_stop():
                    raise MeasurementStopped(operation) from None
                self._sleep(self._rng.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)))

    def _count(self, operation: str, result_key: str, should_stop: StopCheck, **params: Any) -> BlockCount:
        blocks = requests = size = 0
        block_size = 0
        throttled_before = self.throttled
        token: str | None = None
        while True:
            before = self.requests
            page = self._page(
                operation,
                should_stop,
                MaxResults=MAX_RESULTS,
                **params,
                **({"NextToken": token} if token else {}),
            )
            requests += self.requests - before
            blocks += len(page.get(result_key) or [])
            block_size = int(page.get("BlockSize") or block_size)
            size = int(page.get("VolumeSize") or size)
            token = page.get("NextToken")
            if not token:  # an empty page with a token is not the end (EBS FAQ)
                return BlockCount(blocks, block_size, requests, self.throttled - throttled_before, size)

    def changed(self, parent_snapshot_id: str, snapshot_id: str, should_stop: StopCheck = None) -> BlockCount:
        """Blocks that differ between the parent and the snapshot (same lineage)."""
        return self._count(
            "ListChangedBlocks",
            "ChangedBlocks",
            should_stop,
            FirstSnapshotId=parent_snapshot_id,
            SecondSnapshotId=snapshot_id,
        )

    def written(self, snapshot_id: str, should_stop: StopCheck = None) -> BlockCount:
        """Blocks written in the snapshot (a volume's first: what it stores)."""
        return self._count("ListSnapshotBlocks", "Blocks", should_stop, SnapshotId=snapshot_id)


def _method(operation: str) -> str:
    return {"ListChangedBlocks": "list_changed_blocks", "ListSnapshotBlocks": "list_snapshot_blocks"}[
        operation
    ]
