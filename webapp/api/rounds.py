"""Round endpoints: start, read, send brush points, end.

Each operation is one function that both transports call: the HTTP routes below and the
WebSocket (`webapp/api/socket.py`), so a request means the same over either. All of them run on
the hot path's thread (`services.pipeline`); the request thread checks who is asking, and lets go
of its database connection while it waits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import jsonify

from ..extensions import db
from ..models import Player
from ..services.brushing import END_REASONS
from ..services.clock import server_now
from ..services.errors import ServiceError
from ..services.pipeline import get_pipeline
from ..services.players import current_player
from . import bp, limits
from .errors import json_body


def player_or_403() -> Player:
    """Rounds need an existing player (made by agreeing to the consent)."""
    player = current_player()
    if player is None:
        raise ServiceError("no player session: agree to the consent first", status=403)
    return player


# --- the operations, shared by both transports --------------------------------------------------


def start(player_id: int, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Start (or re-post) a round; ``(state, 201 or 200)`` (on the hot path's thread)."""
    db.session.close()
    return get_pipeline().start_round(player_id, body)


def read(player_id: int, round_id: str) -> dict[str, Any]:
    """The round's state, e.g. for a page resuming after a reload (ends it if time ran out)."""
    db.session.close()  # nothing held while the request waits for its tick
    return get_pipeline().read_round(player_id, round_id)


def add_points(player_id: int, round_id: str, body: dict[str, Any], arrived: datetime) -> dict[str, Any]:
    """A batch of brush points that arrived at server time ``arrived``; answered once committed.
    The request's own session lets go of its connection first: a batch waiting for its tick
    holds nothing (hundreds wait at once under load)."""
    db.session.close()
    return get_pipeline().add_points(player_id, round_id, body, arrived)


def end(player_id: int, round_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Skip, or the page's timer ran out (idempotent)."""
    reason = body.get("reason")
    if reason not in END_REASONS:
        raise ServiceError('reason must be "skip" or "timeout"')
    db.session.close()
    return get_pipeline().end_round(player_id, round_id, reason)


# --- HTTP ----------------------------------------------------------------------------------------


@bp.post("/rounds")
@limits.round_starts_per_player
@limits.round_starts_per_address
def start_round():
    body = json_body()
    state, status = start(player_or_403().id, body)
    return jsonify(state), status


@bp.get("/rounds/<round_id>")
def get_round(round_id: str):
    return jsonify(read(player_or_403().id, round_id))


@bp.post("/rounds/<round_id>/points")
@limits.batches_per_player
@limits.batches_per_address
def post_points(round_id: str):
    # Arrival time, taken before the batch waits for its tick: time a batch spends queued behind
    # other requests is the server's, not the player's.
    arrived = server_now()
    player_id = player_or_403().id
    return jsonify(add_points(player_id, round_id, json_body(), arrived))


@bp.post("/rounds/<round_id>/end")
def end_round(round_id: str):
    player_id = player_or_403().id
    return jsonify(end(player_id, round_id, json_body()))
