"""Every failure under /api is JSON: ``{"error": message}`` with a 4xx status, never a 500 for
bad input. Request bodies are parsed strictly (no NaN/Infinity, an object at the top)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..services.errors import ServiceError
from . import bp


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body() -> dict[str, Any]:
    """The request's JSON object. sendBeacon posts a Blob, so the content type is not required
    to be application/json; the body must still be a JSON object."""
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise ServiceError("request body must be valid JSON") from None
    if not isinstance(data, dict):
        raise ServiceError("request body must be a JSON object")
    return data


def error_response(message: str, status: int, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    db.session.rollback()
    return error_response(exc.message, exc.status, **exc.extra)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    return error_response(exc.description or exc.name, exc.code or 400)


def register_app_handlers(app) -> None:  # noqa: ANN001 - Flask app
    """404/405/413 for /api paths are raised before a blueprint is chosen, and 429 may come from a
    rate limit on any route; answer them in JSON."""

    def handler(exc: HTTPException):
        if request.path.startswith("/api/"):
            return error_response(exc.description or exc.name, exc.code or 400)
        return exc

    for code in (404, 405, 413, 429):
        app.register_error_handler(code, handler)
