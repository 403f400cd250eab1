"""Withdrawal: delete a participant and, through the database's cascades, all of their data.

The `player` row is the only place a person is linked to their rounds; its foreign keys cascade
to `round`, then `brush_point` and `guess` (ON DELETE CASCADE, enforced on SQLite by the
`foreign_keys` pragma). Deleting that one row therefore removes the person from every table and
every later export, and nothing about them (not even a tombstone with their id) remains: on
SQLite the deleted pages are zeroed (``secure_delete``) and the WAL is checkpointed and
truncated, so no copy survives in the database files either.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from sqlalchemy import select

from ..database import begin_write, purge_deleted_rows
from ..extensions import db
from ..models import Player, Round
from ..redirects import is_local_path
from ..services.coverage import add_plays
from . import bp
from .access import player_or_404
from .auth import current_researcher, researcher_required


def withdraw_player(player: Player) -> None:
    """Delete the participant and everything they produced; commits.

    Their rounds no longer count as plays of their stimuli (`services.coverage`); the rounds are
    read under the write lock (SQLite) or locked (PostgreSQL), so a concurrent sweep cannot
    abandon one of them between the count and the delete."""
    begin_write()
    played = db.session.scalars(select(Round.stimulus_id).where(Round.player_id == player.id,
                                                                Round.status != "abandoned")
                                .with_for_update()).all()
    add_plays(played, sign=-1)
    db.session.delete(player)
    db.session.commit()
    purge_deleted_rows()


def _back() -> str:
    target = request.form.get("next")
    return target if is_local_path(target, "/research") else url_for("research.index")


@bp.post("/participants/<int:player_id>/withdraw")
@researcher_required
def researcher_withdraw(player_id: int) -> Any:
    """A researcher carries out a withdrawal request (e.g. received through Prolific)."""
    player = player_or_404(current_researcher(), player_id)
    if request.form.get("confirm") != "delete":
        flash("Type 'delete' to confirm the withdrawal.", "error")
        return redirect(_back())
    withdraw_player(player)
    flash("The participant and all of their data were deleted.", "info")
    return redirect(_back())


@bp.post("/participants/<int:player_id>/exclude")
@researcher_required
def toggle_exclude(player_id: int) -> Any:
    """Leave a participant out of exports (or take them back in); their data is kept."""
    player = player_or_404(current_researcher(), player_id)
    player.excluded = request.form.get("excluded") == "1"
    db.session.commit()
    return redirect(_back())
