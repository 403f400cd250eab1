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
from .clock import round_elapsed_ms
from .live import LiveRound
from .stimuli import stimulus_view

#: a study round counts toward a participant's quota only with this many brush points (the
#: research side's `few_points` quality flag draws the line at the same place)
MIN_POINTS_PER_STUDY_ROUND = 3
#: the statuses that are a result of play: the drawing was recognised, or the timer ran out
RESULTS = ("recognized", "timeout")


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
        **({"study_credit": study_credit(rnd.status, rnd.credited, rnd.n_points)}
           if rnd.study_id is not None and rnd.status != "active" else {}),
    }
