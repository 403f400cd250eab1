"""The game's hot path first: at most a few other requests run at once in a process.

A process runs Python one thread at a time (the GIL). When a study opens, hundreds of
participants arrive within seconds, and every one of them loads pages and agrees to the
consent, each a request thread of its own. Measured with 200 players arriving within one second
(docs/load.md), a tick of the pipeline (`services.pipeline`) that needed 10 ms of CPU then took
100–600 ms, because it got the GIL a tenth of the time, and the guesses of the players already
brushing waited 1–1.3 s, while a lag while brushing is exactly what makes a human map less
localized (issue 22).

So requests are split in two. The game's own traffic goes straight through: requests about a
round (``/api/rounds…``: starts, batches, ends, reads, the beacon) and the game socket
(``/api/socket``, whose messages are the same requests, and which saves the server an HTTP
request per batch once open). So does the researchers' login, which has an admission of its own
(`research.auth`: a few password-hashing slots on low-priority threads, 503 at once when they
are taken); held here, a login flood would hold every page behind its hashes instead. Every
other request (pages, static files, consent, the leaderboard, research pages) takes one of
``COLD_REQUESTS`` slots first and waits, sleeping, while they are all taken: a joining player
waits a little longer for the consent page, and the players brushing do not. A request never
waits longer than ``COLD_MAX_WAIT_MS``; after that it runs without a slot, so a slow request (a
large export) can delay others, never block them.

A slot alone still let the joins of a crowd take most of the process: one consent after the
other, each about 3 ms of CPU, back to back. So the slot is also paced: after a request that
used ``c`` of CPU, the next one starts no sooner than ``c * (1 / COLD_CPU_SHARE - 1)`` later,
i.e. while they queue, these requests get at most ``COLD_CPU_SHARE`` of the process and the
game's ticks the rest. Measured with 200 players joining within a second on PostgreSQL
(docs/load.md, three runs each): with a share of 1/3 the guesses of the first 5 s had p99
172–224 ms, against 213–291 ms with no pacing; the joins took longer (p99 2.6–2.8 s against
1.7–2.0 s: the ``join_p99_ms`` of the load benchmark).
The wait for pacing counts in ``COLD_MAX_WAIT_MS`` too.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

from flask import Flask

#: paths that never wait for a slot: the game's requests about rounds, over HTTP or the socket,
#: and the login, whose password hashing has slots of its own
UNGATED_PREFIXES = ("/api/rounds", "/api/socket", "/research/login")


class Admission:
    """WSGI middleware holding the requests outside `UNGATED_PREFIXES` to ``limit`` at once."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], limit: int,
                 max_wait_s: float, cpu_share: float = 1.0) -> None:
        if not 0 < cpu_share <= 1:
            raise ValueError(f"cpu_share must be in (0, 1], not {cpu_share!r}")
        self.wsgi_app = wsgi_app
        self.max_wait_s = max_wait_s
        self.slots = threading.BoundedSemaphore(limit)
        #: pause before the next gated request per second of CPU a gated request used
        self.pause_per_cpu_s = 1.0 / cpu_share - 1.0
        #: no gated request starts before this (``time.monotonic()``): the pacing
        self._resume_at = 0.0
        self._pace_lock = threading.Lock()  # guards _resume_at and waited_out
        #: requests that ran without a slot after waiting `max_wait_s` (for tests and operators)
        self.waited_out = 0

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(UNGATED_PREFIXES):
            return self.wsgi_app(environ, start_response)
        deadline = time.monotonic() + self.max_wait_s
        held = self.slots.acquire(timeout=self.max_wait_s)
        if not held:
            with self._pace_lock:
                self.waited_out += 1
        elif (delay := min(self._resume_at, deadline) - time.monotonic()) > 0:
            time.sleep(delay)
        cpu = time.thread_time()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            pause = (time.thread_time() - cpu) * self.pause_per_cpu_s
            with self._pace_lock:
                self._resume_at = max(self._resume_at, time.monotonic()) + pause
            if held:
                self.slots.release()


def install_admission(app: Flask) -> None:
    """Wrap the app (call it last, so that every other layer runs inside) unless
    ``COLD_REQUESTS`` is 0; ``COLD_CPU_SHARE`` 1 turns the pacing off."""
    limit = int(app.config["COLD_REQUESTS"])
    share = float(app.config["COLD_CPU_SHARE"])
    if not 0 < share <= 1:  # refused at start-up, naming the setting, not at the first page
        raise RuntimeError(f"DA_COLD_CPU_SHARE={share!r} must be a share of the process in (0, 1] "
                           "(1: no pacing)")
    if limit > 0:
        app.wsgi_app = Admission(app.wsgi_app, limit,  # type: ignore[method-assign]
                                 float(app.config["COLD_MAX_WAIT_MS"]) / 1000.0, share)
