"""Round endpoints: start, read, send brush points, end. The logic is in services.rounds."""

from __future__ import annotations

from flask import jsonify

from ..services import rounds as service
from ..services.errors import ServiceError
from ..services.players import current_player
from . import bp, limits
from .errors import json_body


def _me():
    """Rounds need an existing player (made by agreeing to the consent)."""
    player = current_player()
    if player is None:
        raise ServiceError("no player session: agree to the consent first", status=403)
    return player


@bp.post("/rounds")
@limits.round_starts_per_player
@limits.round_starts_per_address
def start_round():
    body = json_body()
    rnd, created = service.start_round(_me(), body.get("round_id"), body.get("study"),
                                       body.get("device_class"))
    return jsonify(service.round_state(rnd)), 201 if created else 200


@bp.get("/rounds/<round_id>")
def get_round(round_id: str):
    """The round's state, e.g. for a page resuming after a reload (ends it if time ran out)."""
    from ..extensions import db

    rnd = service.load_round(_me(), round_id, lock=True)
    service.expire_if_due(rnd)
    db.session.commit()
    return jsonify(service.round_state(rnd))


@bp.post("/rounds/<round_id>/points")
@limits.batches_per_player
@limits.batches_per_address
def post_points(round_id: str):
    return jsonify(service.add_points(_me(), round_id, json_body()))


@bp.post("/rounds/<round_id>/end")
def end_round(round_id: str):
    rnd = service.end_round(_me(), round_id, json_body().get("reason"))
    return jsonify(service.round_state(rnd))
