"""Virtual time that only sleeping moves, for code that takes a clock and a sleep (pacing, retries)."""

from __future__ import annotations


class FakeClock:
    """`now` starts at `start` and moves only by `sleep`, which records each wait in `slept`. Callable (the
    pacer's `clock()`) and with `monotonic()` (aws.set_clock's), both reading `now`."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
