"""A round from start to end, with the server as the authority on time, recognition and points.

This module says what the page sees of a round (`round_state`) and which of a participant's
study rounds count (`rounds_played`). Rounds are started by `services.starting`; everything after
the start (brush-point batches, the page's end of the round, its reads) takes the hot path
(`services.pipeline`: applied in memory by `services.brushing`, guessed in one forward pass and
committed together by `services.group_commit`). Elapsed time is always the server's: from the
round's creation to now.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import Player, Round, Study
from . import expiry
from .clock import round_elapsed_ms
from .live import LiveRound
from .stimuli import stimulus_view

#: a study round counts toward a participant's quota only with this many brush points (the
#: research side's `few_points` quality flag draws the line at the same place) ...
MIN_POINTS_PER_STUDY_ROUND = 3
#: ... and after this much server time, unless the study sets its own ``min_round_ms``
DEFAULT_MIN_ROUND_MS = 2000


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


# --- the page's view -------------------------------------------------------------------------


def round_state(live: LiveRound, totals: tuple[int, int]) -> dict[str, Any]:
    """The round as the page sees it (docs/API.md), from the hot path's entry for it (with its
    latest guess) and the player's ``(total_score, best_round)``."""
    rnd, guess = live, live.guess
    settings = rnd.settings
    stim = stimulus_view(rnd.stimulus_id)
    if rnd.status == "active":
        elapsed = round_elapsed_ms(rnd)
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
