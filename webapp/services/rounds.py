"""A round from start to end, with the server as the authority on time, recognition and points.

The page sends brush points in batches; each batch is appended (idempotently, keyed by the
points' index in the round), the revealed image is rebuilt from *all* stored points with
`models.render` (the same rule the page draws with), the classifier guesses, and the guess is
stored. Elapsed time is always the server's: from the round's creation to now.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from models import render

from ..extensions import db
from ..models import BrushPoint, Guess, Player, Round, Study, utcnow
from .errors import ServiceError
from .guessing import get_guess_service
from .sampling import choose_stimulus, pool_set_ids, study_stimulus_ids
from .scoring import is_recognised, round_points
from .stimuli import stimulus_pixels

ENDED = ("recognized", "timeout", "skipped")
#: a page's clock may run a little behind the server's; late points this close still count
LATE_TOLERANCE_MS = 1000
#: the page's timer may fire slightly before the server's; `timeout` ends this close are fine
EARLY_TIMEOUT_TOLERANCE_MS = 1000
#: no round lasts a day: a larger t_ms is a broken client
MAX_T_MS = 24 * 3600 * 1000
#: what the page may report about its device (anything else is stored as unknown, None)
DEVICE_CLASSES = ("phone", "tablet", "desktop")


def elapsed_ms(rnd: Round) -> int:
    """Server milliseconds since the round was created."""
    return int((utcnow() - rnd.started_at) / timedelta(milliseconds=1))


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
    """
    rid = _valid_round_id(round_id)
    existing = db.session.get(Round, rid)
    if existing is not None:
        if existing.player_id != player.id:
            raise ServiceError("this round id belongs to someone else", status=409)
        return existing, False
    if player.consent_version is None:
        raise ServiceError("consent required before playing", status=403)
    study = _study_for(player, study_slug)
    if study is not None and study.mode != "public":
        quota = int(study.settings.get("rounds_per_participant") or 0)
        done = db.session.query(Round).filter_by(player_id=player.id, study_id=study.id).count()
        if quota and done >= quota:
            raise ServiceError("all rounds of this study are done", status=409)
    set_ids = ([s.id for s in study.stimulus_sets] if study is not None and study.stimulus_sets
               else pool_set_ids([current_app.config["DEFAULT_STIMULUS_SET"]]))
    stimulus = choose_stimulus(player, set_ids, only=study_stimulus_ids(study))
    version = get_guess_service().version
    rnd = Round(id=rid, player_id=player.id, stimulus_id=stimulus.id,
                study_id=study.id if study else None, category=stimulus.category,
                status="active", model_version=version,
                settings=_settings(study, stimulus.width, stimulus.height, version),
                address_hash=player.address_hash, device_class=device_class(device))
    db.session.add(rnd)
    db.session.commit()
    return rnd, True


# --- reading ----------------------------------------------------------------------------------


def load_round(player: Player, round_id: str, lock: bool = False) -> Round:
    """The player's round, row-locked for the rest of the transaction when ``lock``."""
    query = select(Round).where(Round.id == round_id)
    if lock:
        query = query.with_for_update()
    rnd = db.session.scalar(query)
    if rnd is None:
        raise ServiceError("unknown round", status=404)
    if rnd.player_id != player.id:
        raise ServiceError("this round belongs to someone else", status=403)
    return rnd


def round_state(rnd: Round) -> dict[str, Any]:
    """The round as the page sees it (docs/API.md)."""
    settings = rnd.settings
    stim = rnd.stimulus
    last = db.session.scalar(select(Guess).where(Guess.round_id == rnd.id)
                             .order_by(Guess.id.desc()).limit(1))
    if rnd.status == "active":
        elapsed = elapsed_ms(rnd)
        remaining = max(0, settings["timer_ms"] - elapsed)
    else:
        elapsed, remaining = rnd.duration_ms or 0, 0
    player = rnd.player
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
        "guess": (None if last is None else
                  {"top5": last.top5, "correct": last.correct, "n_points": last.n_points}),
        "points": rnd.points, "total_score": player.total_score, "best_round": player.best_round,
        "model_version": rnd.model_version,
    }


# --- ending -----------------------------------------------------------------------------------


def _finish(rnd: Round, status: str, duration_ms: int, points: int = 0) -> None:
    rnd.status = status
    rnd.duration_ms = int(duration_ms)
    rnd.ended_at = rnd.started_at + timedelta(milliseconds=int(duration_ms))
    rnd.points = points
    player = rnd.player
    player.rounds_played += 1
    player.total_score += points
    player.best_round = max(player.best_round, points)


def expire_if_due(rnd: Round) -> bool:
    """End an active round whose time (plus grace for the network) ran out, as a timeout."""
    if rnd.status != "active":
        return False
    limit = rnd.settings["timer_ms"] + rnd.settings.get("timeout_grace_ms", 0)
    if elapsed_ms(rnd) <= limit:
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


def add_points(player: Player, round_id: str, payload: dict[str, Any], classify: bool = True) -> Round:
    """Append a batch, then (if the round is still on and ``classify``) guess and decide.
    Idempotent by index."""
    rnd = load_round(player, round_id, lock=True)
    start, points = parse_points(payload, rnd.stimulus.width, rnd.stimulus.height)
    stored = rnd.n_points
    if start > stored:
        raise ServiceError("points are missing before this batch", status=409, expected_index=stored)
    new = points[stored - start:]
    if stored + len(new) > current_app.config["MAX_POINTS_PER_ROUND"]:
        raise ServiceError("this round has reached its maximum number of points", status=409)
    expire_if_due(rnd)
    if rnd.status != "active":
        # Late batches: keep what was drawn before the round ended, nothing after.
        limit = (rnd.duration_ms or 0) + LATE_TOLERANCE_MS
        kept = []
        for point in new:
            if point[2] > limit:
                break
            kept.append(point)
        new = kept
    if new:
        now = utcnow()
        db.session.add_all(BrushPoint(round_id=rnd.id, idx=stored + i, x=x, y=y, t_ms=t, received_at=now)
                           for i, (x, y, t) in enumerate(new))
        rnd.n_points = stored + len(new)
        if rnd.status == "active" and classify:
            _guess(rnd, client_t_ms=new[-1][2])
    db.session.commit()
    return rnd


def revealed_image(rnd: Round) -> Any:
    """What the classifier sees: the stimulus where the stored brush points revealed it."""
    rows = db.session.execute(select(BrushPoint.x, BrushPoint.y).where(BrushPoint.round_id == rnd.id)
                              .order_by(BrushPoint.idx)).all()
    image = stimulus_pixels(rnd.stimulus)
    mask = render.brush_mask(rows, rnd.stimulus.width, rnd.stimulus.height,
                             rnd.settings["brush_radius_px"])
    return render.reveal(image, mask)


def _guess(rnd: Round, client_t_ms: float) -> None:
    db.session.flush()
    service = get_guess_service()
    top5 = service.top5(revealed_image(rnd))
    elapsed = elapsed_ms(rnd)
    correct = is_recognised(top5[0]["label"], top5[0]["p"], rnd.category,
                            rnd.settings["recognition_min_prob"])
    db.session.add(Guess(round_id=rnd.id, n_points=rnd.n_points, server_ms=elapsed,
                         client_t_ms=client_t_ms, top5=top5, correct=correct,
                         model_version=service.version))
    if correct:
        _finish(rnd, "recognized", elapsed, round_points(elapsed, rnd.settings["timer_ms"]))


# --- a skip that travels with the last points -------------------------------------------------


def add_points_then_skip(player: Player, round_id: str, payload: dict[str, Any]) -> Round:
    """A points batch carrying ``"end": "skip"``: the player pressed Skip while these points were
    still on their way (e.g. during a network drop). They are stored, but not shown to the
    classifier, and the round ends as skipped: the outcome follows the order of the player's
    actions, so a skip can never turn into a win when the queued points arrive late."""
    add_points(player, round_id, payload, classify=False)
    return end_round(player, round_id, "skip")
