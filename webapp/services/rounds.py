"""A round from start to end, with the server as the authority on time, recognition and points.

This module starts rounds (through the ORM: choosing the stimulus, the active-round cap, the
study's quota) and says what the page sees of a round (`round_state`). Everything after the
start (brush-point batches, the page's end of the round, its reads) takes the hot path
(`services.pipeline`: applied in memory by `services.brushing`, guessed in one forward pass and
committed together by `services.group_commit`), which also shares `round_state`. Elapsed time
is always the server's: from the round's creation to now.

Concurrency: a round start begins with `database.begin_write` (SQLite's write lock up front) and
locks the player's row (PostgreSQL), so one player's starts run one after another and the
active-round cap holds; a round id posted twice at once is settled by its primary key.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models import render

from ..database import begin_write, commit_keeping_loaded
from ..extensions import db
from ..models import Guess, Player, Round, Study
from . import admission, expiry
from .clock import round_elapsed_ms, server_now
from .coverage import add_plays
from .errors import ServiceError
from .guessing import get_guess_service
from .live import LiveRound
from .sampling import choose_stimulus, pool_set_ids, study_stimulus_ids
from .stimuli import stimulus_view

ENDED = ("recognized", "timeout", "skipped", "abandoned")
#: a study round counts toward a participant's quota only with this many brush points (the
#: research side's `few_points` quality flag draws the line at the same place) ...
MIN_POINTS_PER_STUDY_ROUND = 3
#: ... and after this much server time, unless the study sets its own ``min_round_ms``
DEFAULT_MIN_ROUND_MS = 2000
#: what the page may report about its device (anything else is stored as unknown, None)
DEVICE_CLASSES = ("phone", "tablet", "desktop")


def elapsed_ms(rnd: Round) -> int:
    """Server milliseconds since the round was created."""
    return round_elapsed_ms(rnd)


def min_round_ms(study: Study) -> int:
    value = study.settings.get("min_round_ms")
    return DEFAULT_MIN_ROUND_MS if value is None else int(value)


def rounds_played(player: Player, study: Study) -> int:
    """The participant's study rounds that were genuinely played: ended by play (not
    abandoned), credited by the anti-cheat, with brush points, and lasting at least the study's
    minimum server time. Rounds skipped straight through, rounds of forged input and rounds left
    to expire do not count, so nobody reaches the completion URL without playing."""
    return db.session.scalar(
        select(func.count(Round.id)).where(
            Round.player_id == player.id, Round.study_id == study.id,
            Round.status.in_(expiry.PLAYED), Round.credited.is_(True),
            Round.n_points >= MIN_POINTS_PER_STUDY_ROUND,
            Round.duration_ms >= min_round_ms(study))) or 0


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
        commit_keeping_loaded()  # the answer is built from the round and player in hand
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


# --- the page's view -------------------------------------------------------------------------


#: `round_state`'s default: read the round's latest guess from the database
LATEST_GUESS: Any = object()


def round_state(rnd: Round | LiveRound, guess: Mapping[str, Any] | None = LATEST_GUESS,
                totals: tuple[int, int] | None = None) -> dict[str, Any]:
    """The round as the page sees it (docs/API.md), from a stored round or the hot path's
    `live.LiveRound` (which has the same attributes).

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
    }
