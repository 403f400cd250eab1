"""The rules for what a page asks of a live round, applied to it in memory (`live.LiveRound`).

These are the game's rules for a batch of brush points, unchanged by the move to the group commit
(`services.pipeline`): validate the batch against the canvas and the round (400/409, nothing
stored), keep only points not stored yet (re-sends are idempotent by index), judge them against
the server's clock (`judge_credit`, the one call into the anti-cheat's credit rule), keep late
points only within the grace, extend the revealed mask, end the round on ``"end": "skip"``, and
after the classifier answered, store the guess and decide (`settle_guess`): recognised, or a
timeout when the guess finished after timer + grace.

Nothing here touches the database: `apply_batch` mutates the `LiveRound` and returns the rows to
write, and the pipeline commits them for many batches at once. A batch that breaks a rule raises
`ServiceError` before changing anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from flask import current_app

from models import render

from . import expiry, plausibility
from .clock import ms_between, server_now
from .errors import ServiceError
from .live import LiveRound, Point
from .scoring import is_recognised, round_points
from .stimuli import stimulus_view

#: no round lasts a day: a larger t_ms is a broken client
MAX_T_MS = 24 * 3600 * 1000
#: the page's timer may fire slightly before the server's; `timeout` ends this close are fine
EARLY_TIMEOUT_TOLERANCE_MS = 1000
#: why a page may end a round
END_REASONS = ("skip", "timeout")


def _number(value: object, what: str) -> float:
    # bool is an int subclass in Python; true/false are not coordinates.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ServiceError(f"{what} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ServiceError(f"{what} must be finite")
    return number


def parse_points(payload: dict[str, Any], width: int, height: int) -> tuple[int, list[Point]]:
    """Validate a batch ``{"start_index", "points": [[x, y, t_ms], ...]}`` against the canvas."""
    start = payload.get("start_index")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ServiceError("start_index must be a non-negative integer")
    raw = payload.get("points")
    if not isinstance(raw, list):
        raise ServiceError("points must be a list of [x, y, t_ms]")
    limit = current_app.config["MAX_POINTS_PER_BATCH"]
    if len(raw) > limit:
        raise ServiceError(f"at most {limit} points per batch")
    points = []
    for i, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 3:
            raise ServiceError(f"points[{i}] must be [x, y, t_ms]")
        x, y, t = (_number(v, f"points[{i}][{k}]") for k, v in enumerate(item))
        if not (0.0 <= x <= width and 0.0 <= y <= height):
            raise ServiceError(f"points[{i}] lies outside the {width}x{height} canvas")
        if not 0.0 <= t <= MAX_T_MS:
            raise ServiceError(f"points[{i}] t_ms must be between 0 and {MAX_T_MS}")
        points.append((x, y, t))
    return start, points


def batch_end(payload: dict[str, Any]) -> str | None:
    """``"end": "skip"`` in a batch: store its points, then end the round as skipped."""
    end = payload.get("end")
    if end is not None and end != "skip":
        raise ServiceError('end must be "skip" or absent')
    return end


@dataclass
class Change:
    """What one batch did to its round: rows to insert and, for a guess, the image to guess on."""

    point_rows: list[dict[str, Any]] = field(default_factory=list)
    #: the revealed image after this batch, when the classifier should guess on it
    image: np.ndarray | None = None
    #: the batch's last page time (stored with its guess)
    client_t_ms: float | None = None
    guess_row: dict[str, Any] | None = None
    #: points the round scored when this batch ended it while credited (counts for the player)
    scored: int | None = None


def finish(live: LiveRound, status: str, duration_ms: int, change: Change, points: int = 0) -> None:
    """End the round: a credited round scores ``points`` and counts for its player (the group
    commit adds them in SQL); one the server did not believe scores 0 and counts nowhere."""
    live.status = status
    live.duration_ms = int(duration_ms)
    live.points = points if live.credited else 0
    if live.credited:
        change.scored = live.points


def ended_at(live: LiveRound) -> datetime | None:
    """The server time the round ended (start + duration), as stored with it."""
    if live.duration_ms is None:
        return None
    return live.started_at + timedelta(milliseconds=int(live.duration_ms))


def _expire_if_due(live: LiveRound, change: Change) -> None:
    """An active round whose timer + grace ran out by the server's clock ends as a timeout."""
    if live.status == "active" and expiry.past_deadline(live, ms_between(live.started_at, server_now())):
        finish(live, "timeout", live.settings["timer_ms"], change)


def judge_credit(live: LiveRound, new: list[Point], previous: Point | None, server_ms: int) -> None:
    """The anti-cheat's verdict on a batch of an active round: the first rule it breaks
    withdraws the round's credit for good and is kept as the reason."""
    reason = plausibility.implausibility(live, new, previous, server_ms)
    if reason is not None and live.credited:
        live.credited = False
        live.flag_reason = reason[:255]


def late_points_kept(live: LiveRound, new: list[Point], previous: Point | None,
                     server_ms: int) -> list[Point]:
    """Which points of a batch for an ended round are kept: only if the batch arrived within the
    round's grace after its end by the server's clock, only the points drawn (page time) before
    the end within ``CLOCK_TOLERANCE_MS``, and only if those pass the plausibility checks. The
    rest are counted in ``dropped_points``."""
    end_ms = live.duration_ms or 0
    tolerance = current_app.config["CLOCK_TOLERANCE_MS"]
    kept: list[Point] = []
    if server_ms <= end_ms + int(live.settings.get("timeout_grace_ms", 0)):
        for point in new:
            if point[2] > end_ms + tolerance:
                break
            kept.append(point)
        if plausibility.implausibility(live, kept, previous, server_ms) is not None:
            kept = []
    live.dropped_points = (live.dropped_points or 0) + len(new) - len(kept)
    return kept


def apply_batch(live: LiveRound, payload: dict[str, Any], arrived: datetime) -> Change:
    """Apply a batch that arrived at server time ``arrived`` to the round (see the module
    docstring). Raises `ServiceError` (nothing changed) for a batch that breaks a rule."""
    stimulus = stimulus_view(live.stimulus_id)
    start, points = parse_points(payload, stimulus.width, stimulus.height)
    end = batch_end(payload)
    stored = live.n_points
    if start > stored:
        raise ServiceError("points are missing before this batch", status=409, expected_index=stored)
    new = points[stored - start:]
    if stored + len(new) > current_app.config["MAX_POINTS_PER_ROUND"]:
        raise ServiceError("this round has reached its maximum number of points", status=409)
    previous = live.last_point
    plausibility.require_monotonic(new, previous)
    server_ms = ms_between(live.started_at, arrived)
    change = Change()
    _expire_if_due(live, change)
    if live.status != "active":
        new = late_points_kept(live, new, previous, server_ms)
    else:
        judge_credit(live, new, previous, server_ms)
    if new:
        change.point_rows = [{"round_id": live.id, "idx": stored + i, "x": x, "y": y, "t_ms": t,
                              "received_at": arrived} for i, (x, y, t) in enumerate(new)]
        live.path_px = (live.path_px or 0.0) + plausibility.path_length(new, previous)
        live.n_points = stored + len(new)
        live.last_point = new[-1]
        render.paint(live.mask, new, live.settings["brush_radius_px"])
        if live.status == "active" and end is None:
            change.image = render.reveal(stimulus.pixels, live.mask)
            change.client_t_ms = new[-1][2]
    if end == "skip" and live.status == "active":
        finish(live, "skipped", server_ms, change)
    return change


def settle_guess(live: LiveRound, change: Change, top5: list[dict[str, Any]], guessed_at: datetime,
                 model_version: str) -> None:
    """Store the classifier's answer on the batch's image and decide the round: recognised
    (points by the server's time at the guess) or, when the guess finished after timer + grace,
    a timeout with no guess stored (no round is credited after its time)."""
    elapsed = ms_between(live.started_at, guessed_at)
    if expiry.past_deadline(live, elapsed):
        finish(live, "timeout", live.settings["timer_ms"], change)
        return
    correct = is_recognised(top5[0]["label"], top5[0]["p"], live.category,
                            live.settings["recognition_min_prob"])
    change.guess_row = {"round_id": live.id, "n_points": live.n_points, "server_ms": elapsed,
                        "client_t_ms": change.client_t_ms, "top5": top5, "correct": correct,
                        "model_version": model_version}
    live.guess = {"top5": top5, "correct": correct, "n_points": live.n_points}
    if correct:
        finish(live, "recognized", elapsed, change, round_points(elapsed, live.settings["timer_ms"]))


def apply_end(live: LiveRound, reason: str) -> Change:
    """The page ends the round: ``skip``, or ``timeout`` when its timer ran out, which the
    server's clock must confirm (409 with ``remaining_ms`` otherwise). Ending an ended round
    changes nothing (idempotent)."""
    change = Change()
    _expire_if_due(live, change)
    if live.status == "active":
        elapsed = ms_between(live.started_at, server_now())
        timer = int(live.settings["timer_ms"])
        if reason == "skip":
            finish(live, "skipped", elapsed, change)
        elif elapsed + EARLY_TIMEOUT_TOLERANCE_MS >= timer:
            finish(live, "timeout", min(elapsed, timer), change)
        else:
            raise ServiceError("the round still has time left", status=409, remaining_ms=timer - elapsed)
    return change


def apply_read(live: LiveRound) -> Change:
    """A page reads the round (e.g. resuming after a reload): only ends it if its time is over."""
    change = Change()
    _expire_if_due(live, change)
    return change
