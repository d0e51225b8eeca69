"""Client-side pacing of the mutating EC2 calls, so that a large run stays inside EC2's token buckets.

EC2 throttles each API action of an account and region with its own token bucket (a burst, then a steady
refill rate). A run of thousands of instances would drain the CreateSnapshots bucket in seconds and then
live on retries. Instead, every mutating call first takes a token from a local bucket with the same shape,
so the run proceeds at the refill rate without being throttled. botocore's adaptive retry mode (see
`smart_vault.aws`) stays underneath: when other tools in the account share the bucket and EC2 still answers
`RequestLimitExceeded`, the call is retried with backoff and the instance is not lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smart_vault.clock import monotonic_clock


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


# EC2 refills the buckets of its mutating actions at about 5 requests per second per account and region.
# The local bursts are small, well under EC2's bucket sizes, so that other tools in the account keep some
# room. CreateTags is paced on its own bucket and may go faster (a run sends at most one per snapshot).
# Bucket size / refill per second, from the EC2 developer guide ("Request throttling for the Amazon EC2 API"):
# CreateSnapshots, DeleteSnapshot and ModifySnapshotAttribute 100 / 5 and CreateTags 100 / 10 (uncategorized
# actions, named in its table); CopySnapshot and LockSnapshot are named nowhere in it, so they are "mutating
# actions", 50 / 5 (our reading of the category, not a figure AWS gives for these two by name). LockSnapshot
# (lock repair) and ModifySnapshotAttribute (vault sharing) go out by the thousand in one invocation when
# LOCK_MODE or a vault account is first turned on for an existing fleet.
EC2_RATES: Mapping[str, Rate] = {
    "CreateSnapshots": Rate(5.0, 10),
    "CopySnapshot": Rate(5.0, 10),
    "DeleteSnapshot": Rate(5.0, 10),
    "CreateTags": Rate(10.0, 20),
    "LockSnapshot": Rate(5.0, 10),
    "ModifySnapshotAttribute": Rate(5.0, 10),
}


class TokenBucket:
    """A thread-safe token bucket. `take()` blocks until a token is available."""

    def __init__(
        self,
        rate: Rate,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        clock = clock or monotonic_clock()  # the one clock of durations (smart_vault.runtime)
        if rate.per_second <= 0 or rate.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(rate.burst)
        self._stamp = clock()
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.rate.burst), self._tokens + (now - self._stamp) * self.rate.per_second)
        self._stamp = now

    def take(self) -> float:
        """Take one token, sleeping as long as needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0  # may go negative: later callers queue behind this reservation
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate.per_second
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait


class Pacer:
    """One bucket per paced operation; attach it to EC2 clients with `attach`."""

    def __init__(
        self,
        rates: Mapping[str, Rate] = EC2_RATES,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        service: str = "ec2",
    ) -> None:
        self.buckets = {op: TokenBucket(rate, clock, sleep) for op, rate in rates.items()}
        self.service = service

    def on_call(self, model: Any, **_: Any) -> None:
        bucket = self.buckets.get(model.name)
        if bucket is not None:
            bucket.take()

    def attach(self, client: Any) -> Any:
        # When the call is made, before anything can answer it early (a stub, a cache); once per call (the
        # retries of one call are slowed down by the adaptive retry mode instead).
        for operation in self.buckets:
            client.meta.events.register_first(
                f"provide-client-params.{self.service}.{operation}", self.on_call
            )
        return client


def pace(client: Any, rates: Mapping[str, Rate] = EC2_RATES) -> Pacer:
    """Pace an EC2 client's mutating calls; a client is paced once (clients are cached per region, and so
    is their pacer, which matches EC2's per-region buckets)."""
    pacer = getattr(client, "_smart_vault_pacer", None)
    if pacer is None:
        pacer = Pacer(rates)
        pacer.attach(client)
        client._smart_vault_pacer = pacer
    return pacer


def scaled(rates: Mapping[str, Rate], factor: float) -> dict[str, Rate]:
    """`rates` sped up (or slowed down) by `factor`: for simulations with a scaled EC2 bucket."""
    return {op: Rate(r.per_second * factor, max(1, round(r.burst * factor))) for op, r in rates.items()}
