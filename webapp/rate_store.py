"""``memory-sweep://``, the default rate-limit store: limits' memory store without its timer threads.

limits' ``memory://`` store (`limits.storage.MemoryStorage`) forgets expired counters from a
`threading.Timer` that each counting call starts anew once the last one has run, 10 ms after it.
The game counts every batch of every player (`webapp.api.limits`), so a busy server started a
new thread 40–100 times a second, each walking every counter: measured with 200 players on
PostgreSQL (docs/load.md, *Cost model*), 11–12 % of the server process' CPU went to those
short-lived threads, half of it in the kernel creating them.

This store is the same store, counting the same way (its counters, windows and answers are
limits' own), with one change: the sweep of expired counters runs at most once every
`SWEEP_EVERY_S`, inside whichever call comes due, with no thread. Nothing depends on the sweep
for correctness: a counter whose window is over is dropped when it is next read anyway; the
sweep only keeps memory bounded by the counters of the last few windows.

It counts per process, as ``memory://`` does: several gunicorn workers need a shared store such
as ``redis://`` (`webapp.config.default_workers`). limits finds the class by its scheme
(`STORAGE_SCHEME`, limits' documented registry for custom stores) once this module is imported,
which `webapp.extensions` does.
"""

from __future__ import annotations

import threading
import time

from limits.storage import MemoryStorage

#: seconds between two sweeps of expired counters
SWEEP_EVERY_S = 1.0


class SweepingMemoryStorage(MemoryStorage):
    """`MemoryStorage` that sweeps expired counters from its own calls, not from timer threads."""

    STORAGE_SCHEME = ["memory-sweep"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: object) -> None:
        self._sweep_lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_EVERY_S
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - limits' hook, name-mangled
        """Called by every counting call of `MemoryStorage` (``incr``, ``decr``, the window
        strategies): sweep now if the last sweep is `SWEEP_EVERY_S` old and no other thread is
        sweeping, else return at once."""
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_EVERY_S
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        finally:
            self._sweep_lock.release()
