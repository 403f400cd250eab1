"""Every failure under /api is JSON: ``{"error": message}`` with a 4xx status, never a 500 for
bad input. Request bodies are parsed strictly (no NaN/Infinity, an object at the top)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..same_origin import UNSAFE_METHODS
from ..services.errors import ServiceError
from . import bp


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def require_json_content_type() -> None:
    """415 unless the body is declared ``application/json``. A page on another site can post
    a form (``text/plain``, urlencoded, multipart) without asking the browser's permission, but
    not JSON, so the API takes JSON only (the page's ``sendBeacon`` sends a JSON Blob)."""
    if request.mimetype != "application/json":
        raise ServiceError("requests to the API must be JSON (Content-Type: application/json)",
                           status=415)


def json_body() -> dict[str, Any]:
    """The request's JSON object (declared ``application/json``: see
    `require_json_content_type`, which every state-changing API request passes first)."""
    require_json_content_type()
    return parse_json_object(request.get_data(cache=True))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a strict JSON object (the rules of the module docstring), or `ServiceError`.
    Shared by HTTP bodies and the game socket's messages (`webapp/api/socket.py`)."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise ServiceError("request body must be valid JSON") from None
    except RecursionError:
        # e.g. 20,000 nested "[": deeper than the parser's stack, and no request needs it.
        raise ServiceError("request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ServiceError("request body must be a JSON object")
    # "\ud800" escapes decode to unpaired surrogates, which are not text: no database column
    # can store them. Only a \u escape can make one (the strict UTF-8 decode above refuses
    # encoded surrogates), so bodies without one (every brush-point batch) skip re-encoding.
    if b"\\u" in raw:
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ServiceError("request body must be valid JSON text (unpaired surrogate)") from None
    return data


@bp.before_request
def _json_only() -> None:
    """Before any view runs (so before any player exists or cookie is set): state-changing API
    requests must be JSON."""
    if request.method in UNSAFE_METHODS:
        require_json_content_type()


def error_response(message: str, status: int, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    db.session.rollback()
    response, status = error_response(exc.message, exc.status, **exc.extra)
    if "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response, status


def _http_error_response(exc: HTTPException) -> tuple[Response, int]:
    """The JSON answer for an HTTP error, keeping the headers the status needs: ``Allow`` on
    405 (Flask-Limiter adds ``Retry-After`` to its 429s itself). A 413 also closes the
    connection: its body was never read, so the connection cannot carry another request."""
    response, status = error_response(exc.description or exc.name, exc.code or 400)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 413:
        response.headers["Connection"] = "close"
    return response, status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    return _http_error_response(exc)


def register_app_handlers(app) -> None:  # noqa: ANN001 - Flask app
    """403 (another site's request, `webapp.same_origin`), 404/405/413 for /api paths are raised
    before a blueprint is chosen (so is the 400 for a plain request to the game socket's path),
    and 429 may come from a rate limit on any route; answer them in JSON."""

    def handler(exc: HTTPException):
        if request.path.startswith("/api/"):
            return _http_error_response(exc)
        return exc

    for code in (400, 403, 404, 405, 413, 415, 429):
        app.register_error_handler(code, handler)
