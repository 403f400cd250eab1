"""The ``memory://`` rate-limit store, without a thread started per request.

`limits`' `MemoryStorage` frees expired counters from a `threading.Timer` that runs once, 10 ms
after it was scheduled; every counter increment schedules a new one when the last has already run.
The game's batches arrive more than 10 ms apart per worker thread, so nearly every limited
request (each batch hits two limits) started an OS thread: ~0.3 ms of CPU each on the development
machine, and `Thread.start` waits until the new thread has run, which on a busy machine is
latency on top.

The counts themselves never depended on that timer: `MemoryStorage.get` (called by every
increment and check) already drops a counter whose window is over. The timer only returns the
memory of keys nobody asks about again. `InlineSweepMemoryStorage` does that sweep inline, at
most once per `SWEEP_INTERVAL_S`, in the request that finds it due: the same counts, the same
windows, the same memory bound up to a second later, no threads.

Importing this module registers the class for the ``memory://`` scheme (`limits` keeps one class
per scheme; the last registered wins), so ``RATELIMIT_STORAGE_URI=memory://`` (the default) gets
it; ``redis://`` and the rest are untouched. `tests/game/test_rate_limits.py` checks that
batches start no threads and that expired counters are freed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from limits.storage import MemoryStorage

#: how often (seconds) expired counters and moving-window entries are freed
SWEEP_INTERVAL_S = 1.0


class InlineSweepMemoryStorage(MemoryStorage):
    """`MemoryStorage` whose expiry sweep runs inline, at most once per `SWEEP_INTERVAL_S`."""

    STORAGE_SCHEME = ["memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the parent's first timer: the sweep below replaces it
        self._sweep_lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL_S

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.timer.cancel()
        self._sweep_lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL_S

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_sweep_lock", None)
        return state

    # `MemoryStorage` calls its private ``__schedule_expiry`` on every increment; this is that
    # method's mangled name, so the override replaces the timer for every caller.
    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides a private name
        now = time.monotonic()
        if now < self._next_sweep:
            return
        with self._sweep_lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + SWEEP_INTERVAL_S
        self.sweep()

    def sweep(self) -> None:
        """Free every expired counter and moving-window entry now."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
