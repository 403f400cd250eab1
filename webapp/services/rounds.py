"""A round from start to end, with the server as the authority on time, recognition and points.

The page sends brush points in batches; each batch is appended (idempotently, keyed by the
points' index in the round) and committed, the revealed image is extended by the new points
(`services.reveal`, the same rule the page draws with), the classifier guesses with no
transaction open, and the guess is stored in a second short transaction. Elapsed time is always
the server's: from the round's creation to now.

Concurrency: every writer starts with `database.begin_write` (SQLite's write lock up front) and
locks the round row (PostgreSQL); a round id posted twice at once is settled by its primary key;
player counters are updated in SQL (``x = x + 1``), never read-modify-written in Python.

Cost: one gunicorn worker serves every batch of every player, so a batch's CPU time bounds how
many players one process can keep under the latency target (README, *Under load*). An ordinary
guess-bearing batch is six statements (plus SQLite's two ``BEGIN IMMEDIATE``): the player, then
lock the round, insert the points, update the round, commit; then lock the round (with the
player's totals), insert the guess, commit. What never changes is read once per process (the
stimulus, `services.stimuli.stimulus_view`), what this process just wrote is not read back (the
last point and the mask, `services.reveal`; the answer is built from the values in hand), and
`tests/game/test_rounds.py` keeps the count from creeping back up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

import numpy as np
from flask import current_app
from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from models import render

from ..database import begin_write
from ..extensions import db
from ..models import BrushPoint, Guess, Player, Round, Study
from . import admission, expiry, plausibility
from .clock import ms_between, round_elapsed_ms, server_now
from .coverage import add_plays
from .errors import ServiceError
from .guessing import get_guess_service
from .reveal import cached_last_point, round_mask
from .sampling import choose_stimulus, pool_set_ids, study_stimulus_ids
from .scoring import is_recognised, round_points
from .stimuli import stimulus_view

ENDED = ("recognized", "timeout", "skipped", "abandoned")
#: the page's timer may fire slightly before the server's; `timeout` ends this close are fine
EARLY_TIMEOUT_TOLERANCE_MS = 1000
#: no round lasts a day: a larger t_ms is a broken client
MAX_T_MS = 24 * 3600 * 1000
#: a study round counts toward a participant's quota only with this many brush points (the
#: research side's `few_points` quality flag draws the line at the same place)
MIN_POINTS_PER_STUDY_ROUND = 3
#: the statuses that are a result of play: the drawing was recognised, or the timer ran out
RESULTS = ("recognized", "timeout")
#: what the page may report about its device (anything else is stored as unknown, None)
DEVICE_CLASSES = ("phone", "tablet", "desktop")


def elapsed_ms(rnd: Round) -> int:
    """Server milliseconds since the round was created."""
    return round_elapsed_ms(rnd)


def study_credit(status: str, credited: bool | None, n_points: int) -> dict[str, Any]:
    """Whether an ended study round counts toward the participant's completion, and why not.

    The one rule, used by the page (``round_state``), the server's quota and completion checks
    (`rounds_played`) and the research dashboard: a round counts when it was played to a result
    (recognised, or the timer ran out), its input was credited by the anti-cheat, and it holds at
    least `MIN_POINTS_PER_STUDY_ROUND` brush points. A quick win always counts; a skip never
    does, however long it took, so nobody is paid for rounds skipped through.
    """
    if status == "skipped":
        reason = "skipped rounds do not count toward the study"
    elif status == "abandoned":
        reason = "the round was left unfinished"
    elif status not in RESULTS:
        reason = "the round has not ended"
    elif not credited:
        reason = "the brush input did not look like a hand's, so the round was not credited"
    elif n_points < MIN_POINTS_PER_STUDY_ROUND:
        reason = f"a round needs at least {MIN_POINTS_PER_STUDY_ROUND} brush points to count"
    else:
        return {"counts": True, "reason": None}
    return {"counts": False, "reason": reason}


def counts_toward_study() -> Any:
    """`study_credit`'s rule as a SQL condition on `Round` (a test holds the two equal)."""
    return (Round.status.in_(RESULTS) & Round.credited.is_(True)
            & (Round.n_points >= MIN_POINTS_PER_STUDY_ROUND))


def rounds_played(player: Player, study: Study) -> int:
    """The participant's study rounds that count toward completion (`study_credit`)."""
    return db.session.scalar(
        select(func.count(Round.id)).where(
            Round.player_id == player.id, Round.study_id == study.id, counts_toward_study())) or 0


# --- starting ---------------------------------------------------------------------------------


def _valid_round_id(value: object) -> str:
    import uuid

    if not isinstance(value, str):
        raise ServiceError("round_id must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ServiceError("round_id must be a UUID string") from None


def _study_for(player: Player, slug: object) -> Study | None:
    if slug is None:
        return None
    if not isinstance(slug, str):
        raise ServiceError("study must be a string or null")
    study = db.session.scalar(select(Study).where(Study.slug == slug))
    if study is None or not study.active:
        raise ServiceError(f"unknown or closed study {slug!r}", status=404)
    if study.mode != "public" and player.study_id != study.id:
        raise ServiceError("this study is for recruited participants: use your study link", status=403)
    return study


def _settings(study: Study | None, width: int, height: int, model_version: str) -> dict[str, Any]:
    cfg = current_app.config
    overrides = study.settings if study is not None else {}
    timer_ms = int(overrides.get("timer_ms") or cfg["ROUND_TIMER_MS"])
    fraction = float(overrides.get("brush_fraction") or cfg["BRUSH_FRACTION"])
    return {"timer_ms": timer_ms, "brush_fraction": fraction,
            "brush_radius_px": render.brush_radius_px(width, height, fraction),
            "recognition_min_prob": float(cfg["RECOGNITION_MIN_PROB"]),
            "timeout_grace_ms": int(cfg["TIMEOUT_GRACE_MS"]),
            "width": width, "height": height, "model_version": model_version}


def device_class(value: object) -> str | None:
    """The page's device class if it is one we know, else None (never an error: a missing or
    odd value must not stop anyone from playing; the analysis treats None as unknown)."""
    return value if isinstance(value, str) and value in DEVICE_CLASSES else None


def start_round(player: Player, round_id: object, study_slug: object = None,
                device: object = None) -> tuple[Round, bool]:
    """Create the round (or return the player's existing one with this id: idempotent).

    ``device`` is the page's device class (phone | tablet | desktop). Returns ``(round, created)``.
    The same id posted several times at once (a page retrying over a flaky network) creates one
    round; the others get it as an idempotent re-post.
    """
    rid = _valid_round_id(round_id)
    if study_slug is not None and not isinstance(study_slug, str):
        raise ServiceError("study must be a string or null")
    version = get_guess_service().version  # may load the classifier: before taking any lock
    begin_write()
    _lock_player(player)
    existing = db.session.get(Round, rid)
    if existing is not None:
        return _owned(existing, player), False
    if player.consent_version is None:
        raise ServiceError("consent required before playing", status=403)
    study = _study_for(player, study_slug)
    if study is not None and study.mode != "public":
        quota = int(study.settings.get("rounds_per_participant") or 0)
        if quota and rounds_played(player, study) >= quota:
            raise ServiceError("all rounds of this study are done", status=409)
    set_ids = ([s.id for s in study.stimulus_sets] if study is not None and study.stimulus_sets
               else pool_set_ids([current_app.config["DEFAULT_STIMULUS_SET"]]))
    admission.check_can_start(player)
    stimulus = choose_stimulus(player, set_ids, only=study_stimulus_ids(study))
    rnd = Round(id=rid, player_id=player.id, stimulus_id=stimulus.id, started_at=server_now(),
                study_id=study.id if study is not None else None, category=stimulus.category,
                status="active", model_version=version,
                settings=_settings(study, stimulus.width, stimulus.height, version),
                address_hash=player.address_hash, device_class=device_class(device))
    db.session.add(rnd)
    try:
        add_plays([stimulus.id])  # flushes the round first; commits or rolls back with it
        db.session.commit()
    except IntegrityError:
        # PostgreSQL lets concurrent posts of one id all reach the INSERT; the primary key
        # admits one. The losers answer with the winner's round, as a re-post would.
        db.session.rollback()
        existing = db.session.get(Round, rid)
        if existing is None:
            raise
        return _owned(existing, player), False
    return rnd, True


def _lock_player(player: Player) -> None:
    """Hold the player's row until this transaction ends, so one player's concurrent round starts
    run one after another and the active-round cap holds (PostgreSQL; SQLite's ``BEGIN
    IMMEDIATE`` already runs every writer one after another)."""
    if db.session.get_bind().dialect.name != "sqlite":
        db.session.execute(select(Player.id).where(Player.id == player.id).with_for_update())


def _owned(rnd: Round, player: Player) -> Round:
    if rnd.player_id != player.id:
        raise ServiceError("this round id belongs to someone else", status=409)
    return rnd


# --- reading ----------------------------------------------------------------------------------


def load_round(player: Player, round_id: str, lock: bool = False) -> Round:
    """The player's round; with ``lock``, in a new write transaction (`begin_write`) and
    row-locked until it ends, for callers that are going to change the round."""
    # Read before `begin_write` expires the player (no reload needed).
    return _load_round(player.id, round_id, lock)


# The statements every batch runs, built once (bound parameters by name): building a statement
# costs more CPU than SQLAlchemy's cached compilation of it. `_core` runs the Core ones.
_ROUND = Round.__table__
_SELECT_ROUND = select(Round).where(Round.id == bindparam("round_id"))
_LOCK_ROUND = _SELECT_ROUND.with_for_update()
_LOCK_ROUND_WITH_TOTALS = (select(Round, Player.total_score, Player.best_round)
                           .join(Player, Player.id == Round.player_id)
                           .where(Round.id == bindparam("round_id")).with_for_update(of=Round))
_STORE_COUNTS = (update(_ROUND).where(_ROUND.c.id == bindparam("round_id"))
                 .values(n_points=bindparam("n_points"), path_px=bindparam("path_px")))
_INSERT_POINTS = insert(BrushPoint.__table__)
_INSERT_GUESS = insert(Guess.__table__)


def _load_round(player_id: int, round_id: str, lock: bool) -> Round:
    if lock:
        begin_write()
    rnd = db.session.scalar(_LOCK_ROUND if lock else _SELECT_ROUND, {"round_id": round_id})
    _check_owner(rnd, player_id)
    return rnd


def _check_owner(rnd: Round | None, player_id: int) -> None:
    if rnd is None:
        raise ServiceError("unknown round", status=404)
    if rnd.player_id != player_id:
        raise ServiceError("this round belongs to someone else", status=403)


#: `round_state`'s default: read the round's latest guess from the database
LATEST_GUESS: Any = object()


def round_state(rnd: Round, guess: Mapping[str, Any] | None = LATEST_GUESS,
                totals: tuple[int, int] | None = None) -> dict[str, Any]:
    """The round as the page sees it (docs/API.md).

    A caller that already holds the round's latest guess (``{"top5", "correct", "n_points"}``,
    or None for none) and the player's ``(total_score, best_round)`` passes them, which saves
    reading them back; by default both are read.
    """
    settings = rnd.settings
    stim = stimulus_view(rnd.stimulus_id)
    if guess is LATEST_GUESS:
        last = db.session.scalar(select(Guess).where(Guess.round_id == rnd.id)
                                 .order_by(Guess.id.desc()).limit(1))
        guess = (None if last is None else
                 {"top5": last.top5, "correct": last.correct, "n_points": last.n_points})
    if totals is None:
        player = rnd.player
        totals = (player.total_score, player.best_round)
    if rnd.status == "active":
        elapsed = elapsed_ms(rnd)
        remaining = max(0, settings["timer_ms"] - elapsed)
    else:
        elapsed, remaining = rnd.duration_ms or 0, 0
    return {
        "round_id": rnd.id, "status": rnd.status, "category": rnd.category,
        "stimulus": {"id": stim.id, "key": stim.key, "category": stim.category,
                     "width": stim.width, "height": stim.height,
                     "image_url": f"/api/stimuli/{stim.id}/image.png"},
        "settings": {**{k: settings[k] for k in ("timer_ms", "brush_fraction", "brush_radius_px")},
                     "recognition_min_prob": settings.get("recognition_min_prob",
                                                          current_app.config["RECOGNITION_MIN_PROB"]),
                     "max_points_per_round": current_app.config["MAX_POINTS_PER_ROUND"]},
        "n_points": rnd.n_points, "elapsed_ms": elapsed, "remaining_ms": remaining,
        "duration_ms": rnd.duration_ms,
        "guess": None if guess is None else dict(guess),
        "points": rnd.points, "credited": rnd.credited,
        "total_score": totals[0], "best_round": totals[1],
        "model_version": rnd.model_version,
        **({"study_credit": study_credit(rnd.status, rnd.credited, rnd.n_points)}
           if rnd.study_id is not None and rnd.status != "active" else {}),
    }


# --- ending -----------------------------------------------------------------------------------


def _finish(rnd: Round, status: str, duration_ms: int, points: int = 0) -> None:
    rnd.status = status
    rnd.duration_ms = int(duration_ms)
    rnd.ended_at = rnd.started_at + timedelta(milliseconds=int(duration_ms))
    if not rnd.credited:
        # Input the server did not believe earns nothing and counts nowhere on the leaderboard.
        rnd.points = 0
        return
    rnd.points = points
    # In SQL, not in Python: rounds of one player ending at once must all count.
    db.session.execute(
        update(Player).where(Player.id == rnd.player_id)
        .values(rounds_played=Player.rounds_played + 1, total_score=Player.total_score + points,
                best_round=case((Player.best_round < points, points), else_=Player.best_round))
        .execution_options(synchronize_session=False))  # the commit reloads the player


def expire_if_due(rnd: Round) -> bool:
    """End an active round whose time (plus grace for the network) ran out, as a timeout."""
    if rnd.status != "active":
        return False
    if not expiry.past_deadline(rnd, elapsed_ms(rnd)):
        return False
    _finish(rnd, "timeout", rnd.settings["timer_ms"])
    return True


def end_round(player: Player, round_id: str, reason: object) -> Round:
    """The page asks to end the round (skip, or its timer ran out). Idempotent."""
    if reason not in ("skip", "timeout"):
        raise ServiceError('reason must be "skip" or "timeout"')
    rnd = load_round(player, round_id, lock=True)
    expire_if_due(rnd)
    if rnd.status == "active":
        elapsed = elapsed_ms(rnd)
        if reason == "skip":
            _finish(rnd, "skipped", elapsed)
        elif elapsed + EARLY_TIMEOUT_TOLERANCE_MS >= rnd.settings["timer_ms"]:
            _finish(rnd, "timeout", min(elapsed, rnd.settings["timer_ms"]))
        else:
            db.session.rollback()
            raise ServiceError("the round still has time left", status=409,
                               remaining_ms=rnd.settings["timer_ms"] - elapsed)
    db.session.commit()
    return rnd


# --- brushing ---------------------------------------------------------------------------------


def _number(value: object, what: str) -> float:
    # bool is an int subclass in Python; true/false are not coordinates.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ServiceError(f"{what} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ServiceError(f"{what} must be finite")
    return number


def parse_points(payload: dict[str, Any], width: int, height: int) -> tuple[int, list[tuple[float, float, float]]]:
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


def _batch_end(payload: dict[str, Any]) -> str | None:
    """``"end": "skip"`` in a batch: store its points, then end the round as skipped."""
    end = payload.get("end")
    if end is not None and end != "skip":
        raise ServiceError('end must be "skip" or absent')
    return end


def _last_point(rnd: Round) -> tuple[float, float, float] | None:
    """The round's last stored point: from this process' mask cache when it served the previous
    batch, else one read by its index."""
    if rnd.n_points == 0:
        return None
    cached = cached_last_point(rnd.id, rnd.n_points)
    if cached is not None:
        return cached
    row = db.session.execute(select(BrushPoint.x, BrushPoint.y, BrushPoint.t_ms).where(
        BrushPoint.round_id == rnd.id, BrushPoint.idx == rnd.n_points - 1)).one_or_none()
    return None if row is None else tuple(row)


def add_points(player: Player, round_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Append a batch, then (if the round is still on) guess and decide. Idempotent by index.
    Returns the round's state as the page sees it (`round_state`).

    Every new point is checked against the server's clock first (services/plausibility.py): a
    batch a hand could not have drawn by the time it arrived leaves the round uncredited.

    The points are committed first, so they are safe whatever happens next; the classifier
    then runs with no transaction open (a guess takes milliseconds to seconds under load, and
    holding SQLite's write lock or a round's row lock meanwhile serialised every player and
    kept the micro-batcher from ever pooling them); the guess is stored in its own short
    transaction.
    """
    # Arrival time, taken before waiting for the round's lock: time a batch spends queued behind
    # other requests is the server's, not the player's.
    now = server_now()
    player_id = player.id  # read before the commits below expire the player
    rnd = _load_round(player_id, round_id, lock=True)
    stimulus = stimulus_view(rnd.stimulus_id)
    start, points = parse_points(payload, stimulus.width, stimulus.height)
    end = _batch_end(payload)
    stored = rnd.n_points
    if start > stored:
        raise ServiceError("points are missing before this batch", status=409, expected_index=stored)
    new = points[stored - start:]
    if stored + len(new) > current_app.config["MAX_POINTS_PER_ROUND"]:
        raise ServiceError("this round has reached its maximum number of points", status=409)
    previous = _last_point(rnd)
    plausibility.require_monotonic(new, previous)
    server_ms = round_elapsed_ms(rnd, now)
    expire_if_due(rnd)
    if rnd.status != "active":
        new = _late_points_kept(rnd, new, previous, server_ms)
    else:
        reason = plausibility.implausibility(rnd, new, previous, server_ms)
        if reason is not None and rnd.credited:
            rnd.credited = False
            rnd.flag_reason = reason[:255]
    question = None
    if new:
        # One executemany, not one ORM object per point (the unit of work cost ~4 ms per batch).
        _core(_INSERT_POINTS, [
            {"round_id": rnd.id, "idx": stored + i, "x": x, "y": y, "t_ms": t, "received_at": now}
            for i, (x, y, t) in enumerate(new)])
        _store_counts(rnd, stored + len(new),
                      (rnd.path_px or 0.0) + plausibility.path_length(new, previous))
        if rnd.status == "active" and end is None:
            question = _Question.of(rnd, stored, new)
    if end == "skip" and rnd.status == "active":
        _finish(rnd, "skipped", server_ms)
    db.session.commit()
    if question is not None:
        return _guess(player_id, question)
    return round_state(rnd)


def _core(statement: Any, params: Any = None) -> Any:
    """Run a Core statement on the session's transaction. The hot path's writes go this way:
    the ORM's unit of work and bulk layer (flush bookkeeping, RETURNING of new ids) cost more
    CPU per batch than the SQL itself. Rows written so are never ORM objects of this session."""
    return db.session.connection().execute(statement, params)


def _store_counts(rnd: Round, n_points: int, path_px: float) -> None:
    """One UPDATE of the round's point count and pointer path, and the loaded object told the
    stored values (`set_committed_value`: not marked changed, so no second UPDATE at commit)."""
    _core(_STORE_COUNTS, {"round_id": rnd.id, "n_points": n_points, "path_px": path_px})
    set_committed_value(rnd, "n_points", n_points)
    set_committed_value(rnd, "path_px", path_px)


def _late_points_kept(rnd: Round, new: list[tuple[float, float, float]],
                      previous: tuple[float, float, float] | None,
                      server_ms: int) -> list[tuple[float, float, float]]:
    """Which points of a batch for an ended round are kept: only if the batch arrived within the
    round's grace after its end by the server's clock, only the points drawn (page time) before
    the end within ``CLOCK_TOLERANCE_MS``, and only if those pass the plausibility checks. The
    rest are counted in ``Round.dropped_points``."""
    end_ms = rnd.duration_ms or 0
    tolerance = current_app.config["CLOCK_TOLERANCE_MS"]
    kept: list[tuple[float, float, float]] = []
    if server_ms <= end_ms + int(rnd.settings.get("timeout_grace_ms", 0)):
        for point in new:
            if point[2] > end_ms + tolerance:
                break
            kept.append(point)
        if plausibility.implausibility(rnd, kept, previous, server_ms) is not None:
            kept = []
    rnd.dropped_points = (rnd.dropped_points or 0) + len(new) - len(kept)
    return kept


@dataclass(frozen=True)
class _Question:
    """What a guess needs from the round, read before the commit expires the ORM objects."""

    round_id: str
    category: str
    started_at: datetime
    settings: dict[str, Any]
    pixels: np.ndarray
    n_before: int
    new: list[tuple[float, float, float]]

    @classmethod
    def of(cls, rnd: Round, stored: int, new: list[tuple[float, float, float]]) -> "_Question":
        return cls(rnd.id, rnd.category, rnd.started_at, dict(rnd.settings),
                   stimulus_view(rnd.stimulus_id).pixels, stored, new)


def revealed_image(rnd: Round) -> Any:
    """What the classifier sees: the stimulus where the stored brush points revealed it."""
    stimulus = stimulus_view(rnd.stimulus_id)
    mask = round_mask(rnd.id, stimulus.width, stimulus.height,
                      rnd.settings["brush_radius_px"], rnd.n_points, [])
    return render.reveal(stimulus.pixels, mask)


def _lock_round_with_totals(player_id: int, round_id: str) -> tuple[Round, tuple[int, int]]:
    """`load_round` with ``lock``, and the player's ``(total_score, best_round)`` in the same
    statement (the page's answer shows them)."""
    begin_write()
    row = db.session.execute(_LOCK_ROUND_WITH_TOTALS, {"round_id": round_id}).one_or_none()
    _check_owner(None if row is None else row[0], player_id)
    rnd, total_score, best_round = row
    return rnd, (total_score, best_round)


def _guess(player_id: int, q: _Question) -> dict[str, Any]:
    """Guess on the round's revealed image with no transaction open, store the guess, and
    return the round's state (built from the values in hand before the commit expires them)."""
    height, width = q.pixels.shape
    mask = round_mask(q.round_id, width, height, q.settings["brush_radius_px"], q.n_before, q.new)
    db.session.commit()  # end the read (if the mask was rebuilt): nothing is held while guessing
    service = get_guess_service()
    top5 = service.top5(render.reveal(q.pixels, mask))
    elapsed = ms_between(q.started_at, server_now())
    correct = is_recognised(top5[0]["label"], top5[0]["p"], q.category,
                            q.settings["recognition_min_prob"])
    rnd, totals = _lock_round_with_totals(player_id, q.round_id)
    # A guess that finished after timer + grace ends the round here as a timeout (no round is
    # credited after its time); a concurrent request may also have ended it meanwhile.
    expire_if_due(rnd)
    if rnd.status != "active":
        db.session.commit()
        return round_state(rnd)
    n_points = q.n_before + len(q.new)
    _core(_INSERT_GUESS, {"round_id": rnd.id, "n_points": n_points, "server_ms": elapsed,
                          "client_t_ms": q.new[-1][2], "top5": top5, "correct": correct,
                          "model_version": service.version})
    if correct:
        _finish(rnd, "recognized", elapsed, round_points(elapsed, q.settings["timer_ms"]))
        db.session.commit()
        return round_state(rnd)  # the player's totals changed: read them back
    state = round_state(rnd, {"top5": top5, "correct": correct, "n_points": n_points}, totals)
    db.session.commit()
    return state
