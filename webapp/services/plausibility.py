"""Could a hand have drawn this batch, by the time the server received it?

A client can send any ``[x, y, t_ms]`` it likes, so nothing about a batch is believed on the page's
word alone. The page's clock starts when the server created the round (`static/js/game.js` sets
``t = 0`` to the server's start), so for an honest page every point satisfies, up to network
jitter and clock drift, ``t_ms <= server ms since round start when the batch arrived``. The rules,
each with its tolerance (settings in `webapp/config.py`):

* ``t_ms`` never decreases within a round. A decrease is a broken or forged client: the batch is
  refused (400) and nothing is stored.
* ``t_ms_ahead_of_server`` - a point claims a page time later than the server's clock when its
  batch arrived, by more than ``CLOCK_TOLERANCE_MS`` (1 s). A bot that posts a whole drawing at
  once with invented 40 ms spacing claims seconds of drawing that took milliseconds of server time.
* ``pointer_too_fast`` - the pointer path of the batch (from the round's previous point) divided by
  the page time it spans (at least 100 ms, so jitter in tiny batches does not count) exceeds
  ``MAX_POINTER_SPEED`` canvas lengths per second (10: crossing the whole canvas in 0.1 s). A bot
  that squeezes its invented times to satisfy the first rule has to move impossibly fast.
* ``ink_faster_than_server_clock`` - the round's whole pointer path so far exceeds what
  ``MAX_POINTER_SPEED`` allows in the server time since the round started (at least
  ``MIN_SPEED_WINDOW_MS``). This one uses server times only, so no client time can fool it, and it
  needs no clock tolerance: a hand can only start once the drawing it brushes has reached the
  page, after the server started the round. (With the 1 s tolerance it once had, a bot could post
  about ten canvas lengths of ink 30 ms after the start and score ~100: issue 20.)
* ``points_faster_than_page_clock`` / ``points_faster_than_server_clock`` - more brush points
  than one per millisecond since the round started (`faster_than_a_pointer`), by the page's
  times or by the server's receive times. The research side's quality flags ``too_fast`` and
  ``server_too_fast`` (webapp/research/quality.py) are this same function in SQL, so a round
  a researcher would see flagged is a round the game never credited.

The server cannot check a batch's *own* span against the time since the previous batch: a batch
that waited in the server's queue makes the next one look compressed, so that test would flag
honest players under load. The rules above compare client times with the server time since the
round *started*, which queueing can only lengthen.

What a failing round gets is decided in `services.rounds`: it scores 0, is not credited, and keeps
the first reason in ``Round.flag_reason`` for researchers. A script that paces itself like a hand is
not caught, and it is then no faster than a quick human either.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from flask import current_app

from ..models import Round
from .errors import ServiceError

Point = tuple[float, float, float]
#: batches spanning less page time than this are judged as if they spanned it (timer jitter)
MIN_SPEED_WINDOW_MS = 100.0
#: a round is judged by its point rate only once it has this many points ...
FAST_MIN_POINTS = 20
#: ... and then may not have more than one point per this many ms since it started (a pointer
#: device reports at most ~1000 events a second; the page fills gaps at half the brush radius,
#: about 0.09 points per ms for a 3 canvas lengths/s drag)
MIN_MS_PER_POINT = 1.0


def faster_than_a_pointer(n_points: Any, elapsed_ms: Any) -> Any:
    """Whether ``n_points`` brush points by ``elapsed_ms`` since the round started are more
    than a pointer device reports: at least `FAST_MIN_POINTS` of them, more than one per
    `MIN_MS_PER_POINT`. Works on numbers (the credit rule, per batch) and on SQL column
    expressions (the research side's ``too_fast``/``server_too_fast`` flags), so both sides
    judge with this one function."""
    return (n_points >= FAST_MIN_POINTS) & (elapsed_ms < (n_points - 1) * MIN_MS_PER_POINT)


def path_length(points: Sequence[Point], previous: Point | None = None) -> float:
    """Pointer path through ``points`` in stimulus pixels, starting from ``previous`` if given."""
    chain = ([previous] if previous is not None else []) + list(points)
    return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(chain, chain[1:]))


def require_monotonic(points: Sequence[Point], previous: Point | None) -> None:
    """Refuse (400) a batch whose ``t_ms`` runs backwards (within it or after the stored points)."""
    last = previous[2] if previous is not None else -math.inf
    for i, point in enumerate(points):
        if point[2] < last:
            raise ServiceError(f"t_ms must not decrease: point {i} has t_ms {point[2]:g} after "
                               f"{last:g}")
        last = point[2]


def implausibility(rnd: Round, points: Sequence[Point], previous: Point | None,
                   server_ms: int) -> str | None:
    """The first rule the batch breaks, as ``"code: detail"``, or None when a hand could draw it.

    ``points`` are the batch's new points, ``previous`` the round's last stored point and
    ``server_ms`` the server's time since the round started when the batch arrived.
    """
    if not points:
        return None
    cfg = current_app.config
    tolerance = float(cfg["CLOCK_TOLERANCE_MS"])
    canvas = float(max(rnd.settings["width"], rnd.settings["height"]))
    max_px_per_ms = float(cfg["MAX_POINTER_SPEED"]) * canvas / 1000.0
    last_t = points[-1][2]
    if last_t > server_ms + tolerance:
        return (f"t_ms_ahead_of_server: t_ms {last_t:.0f} arrived at server time {server_ms} ms "
                f"(tolerance {tolerance:.0f} ms)")
    batch_path = path_length(points, previous)
    first_t = previous[2] if previous is not None else points[0][2]
    window = max(last_t - first_t, MIN_SPEED_WINDOW_MS)
    if batch_path > max_px_per_ms * window:
        return (f"pointer_too_fast: {batch_path:.1f} px in {window:.0f} ms of page time "
                f"(limit {cfg['MAX_POINTER_SPEED']:g} canvas lengths/s)")
    total = (rnd.path_px or 0.0) + batch_path
    if total > max_px_per_ms * max(server_ms, MIN_SPEED_WINDOW_MS):
        return (f"ink_faster_than_server_clock: {total:.1f} px of pointer path by server time "
                f"{server_ms} ms (limit {cfg['MAX_POINTER_SPEED']:g} canvas lengths/s)")
    n_total = (rnd.n_points or 0) + len(points)
    for clock, elapsed in (("page", last_t), ("server", server_ms)):
        if faster_than_a_pointer(n_total, elapsed):
            return (f"points_faster_than_{clock}_clock: {n_total} points by {clock} time "
                    f"{elapsed:.0f} ms (at most one per {MIN_MS_PER_POINT:g} ms)")
    return None
