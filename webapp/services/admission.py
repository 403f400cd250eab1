"""Whether a player may start another round now: expire what pages left behind, then cap how
many rounds one player runs at once.

Request-rate limits (round starts and batches per player and per address) live on the API
routes (`webapp/api/limits.py`); this cap needs the database, so it lives here. A page plays one
round at a time, so a handful of active rounds is already generous (``MAX_ACTIVE_ROUNDS``,
default 3); more is a script farming stimuli in parallel.
"""

from __future__ import annotations

from flask import current_app

from ..models import Player
from .errors import ServiceError
from .expiry import active_round_count, sweep_abandoned

#: seconds a refused player is told to wait (a round frees up within one timer at most)
RETRY_AFTER_S = 5


def check_can_start(player: Player) -> None:
    """Raise 429 (with Retry-After) when the player already runs ``MAX_ACTIVE_ROUNDS`` rounds."""
    # Inside the round start's transaction: committing here would release SQLite's write lock
    # before the cap is checked, and concurrent starts of one player could all pass it.
    sweep_abandoned(commit=False)
    cap = int(current_app.config["MAX_ACTIVE_ROUNDS"])
    running = active_round_count(player.id)
    if running >= cap:
        raise ServiceError(f"you already have {running} rounds running (at most {cap}): "
                           "finish or skip one first", status=429, retry_after=RETRY_AFTER_S)

