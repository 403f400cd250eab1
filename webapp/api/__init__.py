"""The game's JSON API (contract: docs/API.md, served as OpenAPI at /api/openapi.json)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from . import errors, openapi, player, rounds, socket, stimuli  # noqa: E402,F401  (routes register on bp)
