"""Measuring a snapshot with the EBS direct APIs: changed bytes against its lineage parent, or written bytes.

`ListChangedBlocks` (first and second snapshot of one lineage) and `ListSnapshotBlocks` answer pages of at
most `MaxResults` (100..10,000) blocks; every page is read until `NextToken` is absent. The EBS FAQ warns that
a page may be empty while a `NextToken` is still returned (changed blocks are scarce in that range): an empty
page is not the end. Bytes = blocks x `BlockSize` (512 KiB today, read from each answer).

Pacing: the EBS direct APIs are throttled per account and region, apart from EC2's buckets. Service Quotas
lists "ListChangedBlocks requests per account" (L-DB2FBAA1) and "ListSnapshotBlocks requests per account"
(L-18E976AB) at 50 per second each, not adjustable. `EBS_DIRECT_RATE` takes 50 a second for both together (one
bucket: conservative) with a burst of 10, so other tools in the account keep room. Every page takes a token
first; a throttled page (`ThrottlingException`, per account, or `RequestThrottledException`, per snapshot) is
retried with capped, jittered backoff on the module's clock. The measurement never holds a copy slot: it runs
before the copy is claimed, and a measurement that still fails is logged and the copy starts without a
figure (`anomalies.ChangeMeter.measure`).
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
EBS_DIRECT_RATE = Rate(50.0, 10)
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ConcurrentLimitExceededException",
    }
)
MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 20.0


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

    def _page(self, operation: str, **params: Any) -> dict[str, Any]:
        """One page, paced, retried while throttled; other errors become AwsError at once."""
        attempt = 0
        while True:
            self.bucket.take()
            self.requests += 1
            try:
                with aws.aws_errors(operation):
                    return getattr(self.ebs, _method(operation))(**params)
            except AwsError as exc:
                attempt += 1
                if exc.code not in THROTTLING_CODES or attempt >= MAX_ATTEMPTS:
                    raise
                self.throttled += 1
                self._sleep(self._rng.uniform(0, min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)))

    def _count(self, operation: str, result_key: str, **params: Any) -> BlockCount:
        blocks = requests = size = 0
        block_size = 0
        throttled_before = self.throttled
        token: str | None = None
        while True:
            before = self.requests
            page = self._page(
                operation, MaxResults=MAX_RESULTS, **params, **({"NextToken": token} if token else {})
            )
            requests += self.requests - before
            blocks += len(page.get(result_key) or [])
            block_size = int(page.get("BlockSize") or block_size)
            size = int(page.get("VolumeSize") or size)
            token = page.get("NextToken")
            if not token:  # an empty page with a token is not the end (EBS FAQ)
                return BlockCount(blocks, block_size, requests, self.throttled - throttled_before, size)

    def changed(self, parent_snapshot_id: str, snapshot_id: str) -> BlockCount:
        """Blocks that differ between the parent and the snapshot (same lineage)."""
        return self._count(
            "ListChangedBlocks",
            "ChangedBlocks",
            FirstSnapshotId=parent_snapshot_id,
            SecondSnapshotId=snapshot_id,
        )

    def written(self, snapshot_id: str) -> BlockCount:
        """Blocks written in the snapshot (a volume's first: what it stores)."""
        return self._count("ListSnapshotBlocks", "Blocks", SnapshotId=snapshot_id)


def _method(operation: str) -> str:
    return {"ListChangedBlocks": "list_changed_blocks", "ListSnapshotBlocks": "list_snapshot_blocks"}[
        operation
    ]
