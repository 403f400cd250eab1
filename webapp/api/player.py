"""Player endpoints: who am I, pseudonym, consent, leaderboard."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from ..extensions import db
from ..models import Player
from ..services.errors import ServiceError
from ..services.players import (check_consent_answer, current_player, give_consent,
                                player_summary, rename)
from . import bp
from .errors import json_body


@bp.get("/me")
def me():
    """The session's player; a visitor who has not agreed to the consent is nobody yet (nothing
    is stored before consent) and sees ``needs_consent``."""
    return jsonify(player_summary(current_player()))


@bp.post("/me")
def update_me():
    player = current_player()
    body = json_body()
    if player is None:
        raise ServiceError("no player yet: agree to the consent first", status=403)
    rename(player, body.get("pseudonym"))
    return jsonify(player_summary(player))


@bp.post("/consent")
def consent():
    """Agree to the consent text; the player (and their cookie) is created here."""
    body = json_body()
    check_consent_answer(body.get("version"), body.get("agree"))
    player = current_player(create=True)
    give_consent(player, body.get("version"), body.get("agree"))
    return jsonify(player_summary(player))


@bp.get("/leaderboard")
def leaderboard():
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        raise ServiceError("limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise ServiceError("limit must be between 1 and 100")
    players = db.session.scalars(
        select(Player).where(Player.rounds_played > 0)
        .order_by(Player.total_score.desc(), Player.best_round.desc(), Player.id).limit(limit))
    me = current_player()
    entries = [{"rank": i + 1, "pseudonym": p.pseudonym, "total_score": p.total_score,
                "best_round": p.best_round, "rounds_played": p.rounds_played,
                "me": me is not None and p.id == me.id}
               for i, p in enumerate(players)]
    return jsonify({"entries": entries})
