"""The server's clock, the only one the game believes.

Every time the game decides with (a round's elapsed time, when a batch arrived, when a round is
abandoned) comes from `server_now()`. Tests put a callable in ``app.config["CLOCK"]`` to move
time forward without sleeping; production leaves it unset and gets `models.utcnow`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from ..models import Round, utcnow


def server_now() -> datetime:
    """Now, as naive UTC (the stored-timestamp convention), from the configured clock."""
    clock = current_app.config.get("CLOCK") or utcnow
    return clock()


def ms_between(start: datetime, end: datetime) -> int:
    """Whole milliseconds from ``start`` to ``end``."""
    return int((end - start) / timedelta(milliseconds=1))


def round_elapsed_ms(rnd: Round, now: datetime | None = None) -> int:
    """Server milliseconds since the round was created."""
    return ms_between(rnd.started_at, now or server_now())
