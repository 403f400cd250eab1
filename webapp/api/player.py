"""Player endpoints: who am I, pseudonym, consent, leaderboard."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from ..extensions import db
from ..models import Player
from ..services.errors import ServiceError
from ..services.players import clean_pseudonym, current_player, give_consent, player_summary
from ..study_nav import on_public_leaderboard
from . import bp
from .errors import json_body


@bp.get("/me")
def me():
    return jsonify(player_summary(current_player(create=True)))


@bp.post("/me")
def update_me():
    player = current_player(create=True)
    player.pseudonym = clean_pseudonym(json_body().get("pseudonym"))
    db.session.commit()
    return jsonify(player_summary(player))


@bp.post("/consent")
def consent():
    player = current_player(create=True)
    body = json_body()
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
        select(Player).where(Player.rounds_played > 0, on_public_leaderboard())
        .order_by(Player.total_score.desc(), Player.best_round.desc(), Player.id).limit(limit))
    me = current_player(create=False)
    entries = [{"rank": i + 1, "pseudonym": p.pseudonym, "total_score": p.total_score,
                "best_round": p.best_round, "rounds_played": p.rounds_played,
                "me": me is not None and p.id == me.id}
               for i, p in enumerate(players)]
    return jsonify({"entries": entries})
