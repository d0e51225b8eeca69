"""The runtime of one invocation: where clients, time, parallelism and randomness come from.

A handler builds one `Runtime` per invocation (`Runtime.default()`: real clients, the real monotonic clock
and sleep, a thread pool, an unseeded random source) and passes it down; the simulation builds one on its
virtual clock with a `SeededExecutor`, which runs the submitted tasks on the calling thread in an order
drawn from a seeded random source, so that a seed replays exactly.

One clock: every duration the product measures (RTOs, deadlines, waits) is read from `monotonic_clock()`,
the process's monotonic clock read through `time.clock_gettime(CLOCK_MONOTONIC)` where the platform has
it. A clock patched by a test library (freezegun patches `time.monotonic` and answers the patched time on
the main thread and the real one on worker threads) then never mixes two sources in one duration; a test
that wants to move time builds a Runtime with its own clock instead.

The module-global seams (`aws.client`, `aws.set_clock`) still work: `Runtime.default()` reads them when it
is built, so code not yet handed a Runtime and tests that patch them see the same clients and clock.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from smart_vault.clock import monotonic_clock  # noqa: F401 - the one clock, re-exported for callers of the runtime

ExecutorFactory = Callable[[int, str], Executor]


def thread_pool(max_workers: int, name: str) -> Executor:
    """Production parallelism: a thread pool of `max_workers` named `name`."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)


@dataclass(frozen=True)
class Runtime:
    """Clients factory, clock, sleep, executor factory and random source of one invocation."""

    client: Callable[..., Any]  # client(service, region=None), as `aws.client`
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
    executor: ExecutorFactory
    random: random.Random

    @classmethod
    def default(cls) -> Runtime:
        """The production runtime: `aws.client`, the clock and sleep of `aws.clock()` (the real ones unless
        a simulation set its own), a thread pool, an unseeded random source."""
        from smart_vault import aws

        monotonic, sleep = aws.clock()
        return cls(
            client=aws.client,
            monotonic=monotonic,
            sleep=sleep,
            executor=thread_pool,
            random=random.Random(),  # noqa: S311  # nosec B311 - jitter, not security
        )


# ------------------------------------------------------------------------------------ the simulation


class Timeline(Protocol):
    """Virtual time per task (the simulation's world): `task(start)` runs a task on its own time from `start`,
    its sleeps move that time (read with `monotonic()` inside the task), and the world's clock is the latest
    time of all (tasks in flight sleep in parallel, as threads would)."""

    def monotonic(self) -> float: ...

    def task(self, start: float) -> AbstractContextManager[None]: ...


class _SeededFuture(Future):
    """A future whose `result()` runs the executor's pending tasks (in the seeded order) until it is done,
    instead of blocking: nothing runs on another thread."""

    def __init__(self, executor: SeededExecutor) -> None:
        super().__init__()
        self._executor = executor

    def result(self, timeout: float | None = None) -> Any:
        self._executor.run_until(self)
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._executor.run_until(self)
        return super().exception(timeout)


class SeededExecutor(Executor):
    """Runs submitted tasks on the calling thread, each to completion, in an order drawn from `rng`.

    At most `max_workers` tasks are pending: a submit that fills the executor runs one of its pending tasks
    (drawn at random) before it returns, so a caller that bounds its tasks in flight (a semaphore released
    when a task is done) never waits for a thread. `result()` of a pending task runs pending tasks until it
    is done; `shutdown` runs them all.

    With a `timeline`, the executor has `max_workers` workers, each with its own virtual time (from the time
    of the first submit): a task runs on the worker free first, from the time it is free, as a thread of a
    pool would; so tasks in flight overlap in virtual time, and the world's clock is the latest of them."""

    def __init__(self, rng: random.Random, max_workers: int = 1, timeline: Timeline | None = None) -> None:
        self._rng = rng
        self._max_workers = max(max_workers, 1)
        self._timeline = timeline
        self._pending: list[tuple[Future, Callable[[], Any]]] = []
        self._workers: list[float] = []  # the time each worker is free (with a timeline)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._timeline is not None and not self._workers:
            self._workers = [self._timeline.monotonic()] * self._max_workers
        future = _SeededFuture(self)
        self._pending.append((future, functools.partial(fn, *args, **kwargs)))
        while len(self._pending) >= self._max_workers:
            self._run_one()
        return future

    def run_until(self, future: Future) -> None:
        while not future.done() and self._pending:
            self._run_one()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        while self._pending:
            self._run_one()

    def _run_one(self) -> None:
        future, call = self._pending.pop(self._rng.randrange(len(self._pending)))
        if not future.set_running_or_notify_cancel():
            return
        if self._timeline is None:
            self._settle(future, call)
            return
        worker = self._workers.index(min(self._workers))
        with self._timeline.task(self._workers[worker]):
            try:
                self._settle(future, call)
            finally:
                self._workers[worker] = self._timeline.monotonic()

    @staticmethod
    def _settle(future: Future, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except BaseException as exc:  # noqa: BLE001 - as a thread pool: the future carries it
            future.set_exception(exc)
        else:
            future.set_result(result)


def seeded_executors(rng: random.Random, timeline: Timeline | None = None) -> ExecutorFactory:
    """An executor factory for a Runtime: every executor draws its order from `rng`."""

    def factory(max_workers: int, name: str) -> Executor:
        return SeededExecutor(rng, max_workers, timeline)

    return factory
