"""The process's one clock of durations (see `smart_vault.runtime`): at the bottom of the layers, so that
`aws`, `pacing` and the restore steps read the same clock as the Runtime without importing it."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable


def monotonic_clock() -> Callable[[], float]:
    """The process's one monotonic clock (CLOCK_MONOTONIC where the platform has it: what `time.monotonic`
    reads on Linux, but never replaced by a library patching `time.monotonic`)."""
    clock_gettime = getattr(time, "clock_gettime", None)
    clock_id = getattr(time, "CLOCK_MONOTONIC", None)
    if clock_gettime is not None and clock_id is not None:
        return functools.partial(clock_gettime, clock_id)
    return time.monotonic  # pragma: no cover - platforms without clock_gettime (Windows)
