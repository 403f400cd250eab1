"""When a round's time is over by the server's clock, and what happens to rounds nobody ends.

The page ends every round it plays (recognition, skip, or its timer). A round that is still
``active`` ``ABANDON_AFTER_MS`` after its timer + grace ran out was left by its page (tab
closed, bot gone): the server ends it as ``abandoned``, which counts nowhere a played round
counts (rounds played, leaderboard, stimulus coverage, sampling). The sweep needs no client: it
runs lazily whenever a round is created, and on demand with ``flask --app wsgi rounds expire``
(e.g. from cron). Its points stay stored, as drawn; `Round.credited` is False.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select, update

from ..extensions import db
from ..models import Round
from .clock import server_now
from .coverage import add_plays, recount

#: statuses that count as a played round (everything ended except `abandoned`)
PLAYED = ("recognized", "timeout", "skipped")


def deadline_ms(settings: Mapping[str, Any]) -> int:
    """Server ms after a round's start (its stored ``settings``: timer + network grace) beyond
    which nothing in it can be credited."""
    return int(settings["timer_ms"]) + int(settings.get("timeout_grace_ms", 0))


def past_deadline(rnd: Round, elapsed_ms: int) -> bool:
    """True when ``elapsed_ms`` (server time) is after the round's timer + grace."""
    return elapsed_ms > deadline_ms(rnd.settings)


def sweep_abandoned(commit: bool = True) -> int:
    """End every round left active past its timer + grace + ``ABANDON_AFTER_MS`` as abandoned.

    Safe to run concurrently: each update only touches rows still ``active``. Returns how many
    rounds it ended; commits them unless ``commit`` is False (a caller in the middle of its own
    write transaction, which must keep its locks until it commits)."""
    now = server_now()
    after = int(current_app.config["ABANDON_AFTER_MS"])
    # Timers differ per study; no round's deadline is shorter than the grace alone, so this
    # bound only narrows the candidates, and each round is then judged by its own settings.
    oldest_possible = now - timedelta(milliseconds=after)
    candidates = db.session.execute(select(Round.id, Round.started_at, Round.settings, Round.stimulus_id)
                                    .where(Round.status == "active", Round.started_at < oldest_possible)).all()
    ended = 0
    for rid, started_at, settings, stimulus_id in candidates:
        if (now - started_at) / timedelta(milliseconds=1) <= deadline_ms(settings) + after:
            continue
        result = db.session.execute(
            update(Round).where(Round.id == rid, Round.status == "active")
            .values(status="abandoned", credited=False, points=0, duration_ms=int(settings["timer_ms"]),
                    ended_at=started_at + timedelta(milliseconds=int(settings["timer_ms"]))))
        if result.rowcount:  # this sweep ended it (a concurrent one may have been first)
            add_plays([stimulus_id], sign=-1)
            ended += 1
    if commit:
        db.session.commit()
    return ended


rounds_cli = AppGroup("rounds", help="Maintain game rounds.")


@rounds_cli.command("expire")
def expire_command() -> None:
    """End rounds their pages left behind (active past timer + grace + DA_ABANDON_AFTER_MS)."""
    click.echo(f"{sweep_abandoned()} abandoned round(s) expired")


@rounds_cli.command("recount")
def recount_command() -> None:
    """Recompute every stimulus' play count from its rounds (a check; it should find none wrong)."""
    click.echo(f"{recount()} stimulus play count(s) corrected")
