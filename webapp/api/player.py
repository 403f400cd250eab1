"""Player endpoints: who am I, pseudonym, consent, leaderboard."""

from __future__ import annotations

from flask import current_app, jsonify, request
from sqlalchemy import func, select

from ..extensions import db
from ..models import Player
from ..services.errors import ServiceError
from ..services.players import (check_consent_answer, current_player, give_consent, join,
                                player_summary, rename)
from ..study_nav import on_public_leaderboard
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
    """Agree to the consent text; a visitor's player (and their cookie) is created here."""
    body = json_body()
    version = check_consent_answer(body.get("version"), body.get("agree"))
    player = current_player()
    if player is None:
        return jsonify(join(version))
    give_consent(player, version, True)
    return jsonify(player_summary(player))


@bp.get("/leaderboard")
def leaderboard():
    """Best players by total score. A player is listed after ``LEADERBOARD_MIN_ROUNDS``
    credited rounds (a name made a second ago cannot be there), and each client address class
    shows at most ``LEADERBOARD_PER_ADDRESS`` players, its best (0 = no cap), so a script making
    players from one address cannot fill the board."""
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        raise ServiceError("limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise ServiceError("limit must be between 1 and 100")
    cfg = current_app.config
    order = (Player.total_score.desc(), Player.best_round.desc(), Player.id)
    ranked = (select(Player.id, Player.pseudonym, Player.total_score, Player.best_round,
                     Player.rounds_played,
                     func.row_number().over(partition_by=func.coalesce(Player.address_hash,
                                                                       Player.public_id),
                                            order_by=order).label("nth"))
              .where(Player.rounds_played >= max(1, int(cfg["LEADERBOARD_MIN_ROUNDS"])),
                     on_public_leaderboard())
              .subquery())
    query = select(ranked).order_by(ranked.c.total_score.desc(), ranked.c.best_round.desc(),
                                    ranked.c.id).limit(limit)
    per_address = int(cfg["LEADERBOARD_PER_ADDRESS"])
    if per_address > 0:
        query = query.where(ranked.c.nth <= per_address)
    me = current_player()
    entries = [{"rank": i + 1, "pseudonym": row.pseudonym, "total_score": row.total_score,
                "best_round": row.best_round, "rounds_played": row.rounds_played,
                "me": me is not None and row.id == me.id}
               for i, row in enumerate(db.session.execute(query))]
    return jsonify({"entries": entries})
