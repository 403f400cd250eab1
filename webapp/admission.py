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
(`research.auth`: a few password-hashing slots on low-priority threads, 503 at once when they are
taken); held here, a login flood would hold every page behind its hashes instead. Every other
request (pages, static files, consent, the
leaderboard, research pages) takes one of ``COLD_REQUESTS`` slots first and waits, sleeping,
while they are all taken: a joining player waits a little longer for the consent page, and the
players brushing do not. A request never waits longer than ``COLD_MAX_WAIT_MS``; after that it
runs without a slot, so a slow request (a large export) can delay others, never block them.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from flask import Flask

#: paths that never wait for a slot: the game's requests about rounds, over HTTP or the socket,
#: and the login, whose password hashing has slots of its own
UNGATED_PREFIXES = ("/api/rounds", "/api/socket", "/research/login")


class Admission:
    """WSGI middleware holding the requests outside `UNGATED_PREFIXES` to ``limit`` at once."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], limit: int,
                 max_wait_s: float) -> None:
        self.wsgi_app = wsgi_app
        self.max_wait_s = max_wait_s
        self.slots = threading.BoundedSemaphore(limit)
        #: requests that ran without a slot after waiting `max_wait_s` (for tests and operators)
        self.waited_out = 0

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(UNGATED_PREFIXES):
            return self.wsgi_app(environ, start_response)
        held = self.slots.acquire(timeout=self.max_wait_s)
        if not held:
            self.waited_out += 1
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            if held:
                self.slots.release()


def install_admission(app: Flask) -> None:
    """Wrap the app (call it last, so that every other layer runs inside) unless
    ``COLD_REQUESTS`` is 0."""
    limit = int(app.config["COLD_REQUESTS"])
    if limit > 0:
        app.wsgi_app = Admission(app.wsgi_app, limit,  # type: ignore[method-assign]
                                 float(app.config["COLD_MAX_WAIT_MS"]) / 1000.0)
