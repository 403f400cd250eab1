"""Stimulus images for the page."""

from __future__ import annotations

from flask import Response

from ..extensions import db
from ..models import Stimulus
from ..services.errors import ServiceError
from . import bp


#: ids are 32-bit integers on PostgreSQL (64-bit on SQLite); a larger one cannot exist, and
#: handing it to the database would overflow there (a 500) instead of being "not found"
MAX_ID = 2**31 - 1


@bp.get("/stimuli/<int:stimulus_id>/image.png")
def stimulus_image(stimulus_id: int) -> Response:
    stimulus = db.session.get(Stimulus, stimulus_id) if 0 < stimulus_id <= MAX_ID else None
    if stimulus is None:
        raise ServiceError("unknown stimulus", status=404)
    return Response(stimulus.image_png, mimetype="image/png",
                    headers={"Cache-Control": "public, max-age=86400"})
