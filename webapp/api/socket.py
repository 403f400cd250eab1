"""``/api/socket``: the game's round requests over one WebSocket per page instead of one HTTP
request each.

A brush-point batch over HTTP cost the server a request's worth of work on top of the batch
itself (gunicorn's parser, Flask's dispatch, the session cookie, security headers, the player's
row), several times what the hot path (`services.pipeline`) spends on the batch. Over the socket
all of that happens once, when the page connects; each message is then only JSON in, the same
operation the HTTP route runs (`webapp/api/rounds.py`), and JSON out.

A message is an HTTP request in miniature and its answer mirrors the HTTP answer, so the page
can send any of its round requests either way (`static/js/api.js` uses the socket while it is
open and plain HTTP otherwise)::

    → {"id": 7, "method": "POST", "path": "/api/rounds/<id>/points", "body": {...}}
    ← {"id": 7, "status": 200, "body": {...round state...}}
    ← {"id": 8, "status": 429, "body": {"error": "..."}, "retry_after": 1}

Served here: ``POST /api/rounds``, ``GET /api/rounds/<id>``, ``POST /api/rounds/<id>/points`` and
``POST /api/rounds/<id>/end``, with the HTTP routes' rules, rate limits (the same counters,
`limits.socket_refusal`) and errors; anything else is answered 404 (use HTTP). The connection
itself is refused, before the handshake, like a bad request: 403 without a player session or
from another site's page (``Sec-Fetch-Site``/``Origin``, `webapp.same_origin`), 503 (with ``Retry-After``) when this process has no free
socket slot (`SocketSlots`).

Each open socket holds one of gunicorn's threads (gthread workers) for as long as it is open, so
a process accepts at most ``MAX_SOCKETS`` at once (gunicorn.conf.py lowers it to the worker's
threads minus those kept for plain requests) and closes a socket that stays silent for
``SOCKET_IDLE_S``; a page whose socket is refused or closed keeps playing over HTTP and tries
again later. The server declines permessage-deflate: messages are a few hundred bytes, and
compressing them cost more CPU than the rest of the message's handling.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable

from flask import Flask, current_app, g, request, session
from flask_sock import Sock

from ..addresses import client_address
from ..same_origin import cross_origin_reason
from ..extensions import db
from ..services.clock import server_now
from ..services.errors import ServiceError
from . import bp, limits
from . import rounds as calls
from .errors import error_response, parse_json_object

sock = Sock()
log = logging.getLogger(__name__)
ENDPOINT = "api.game_socket"

Reply = tuple[int, dict[str, Any]]


class SocketSlots:
    """How many game sockets this process has open, against ``MAX_SOCKETS``."""

    def __init__(self) -> None:
        self.open = 0
        self._lock = threading.Lock()

    def take(self, limit: int) -> bool:
        with self._lock:
            if self.open >= limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


def _slots(app: Flask) -> SocketSlots:
    return app.extensions.setdefault("game_socket_slots", SocketSlots())


@bp.before_request
def _admit_socket():  # noqa: ANN202 - a Flask hook: None or a response
    """Vet a socket before its handshake (see the module docstring); None lets it through."""
    if request.endpoint != ENDPOINT:
        return None
    # Browsers send Origin (and Sec-Fetch-Site) with a handshake and pages cannot forge them;
    # the session cookie would otherwise let another site's page act as the player
    # (cross-site WebSocket hijacking). The rule of every state-changing request (issue 20).
    reason = cross_origin_reason(any_method=True)
    if reason is not None:
        return error_response(f"the game socket is for this site's pages only ({reason})", 403)
    g.socket_player = calls.player_or_403()
    if not _slots(current_app).take(int(current_app.config["MAX_SOCKETS"])):
        response, status = error_response("no free game socket: use HTTP for now", 503)
        response.headers["Retry-After"] = str(current_app.config["SOCKET_RETRY_AFTER_S"])
        return response, status
    g.socket_slot = True
    # Decline permessage-deflate (see the module docstring): without the client's offer in the
    # handshake, the server's answer names no extension and both sides send plain frames.
    request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    return None


@bp.teardown_request
def _release_slot(_exc: BaseException | None) -> None:
    if g.pop("socket_slot", None):
        _slots(current_app).give_back()


# --- the operations -----------------------------------------------------------------------------

_ROUND = r"/api/rounds/([^/]+)"


def _start(player_id: int, public_id: str, body: dict[str, Any], _args: list[str]) -> Reply:
    _limit("round_start", public_id)
    state, status = calls.start(player_id, body)
    return status, state


def _read(player_id: int, _public_id: str, _body: dict[str, Any], args: list[str]) -> Reply:
    return 200, calls.read(player_id, args[0])


def _points(player_id: int, public_id: str, body: dict[str, Any], args: list[str]) -> Reply:
    arrived = server_now()  # before the batch waits for its tick, as over HTTP
    _limit("batch", public_id)
    return 200, calls.add_points(player_id, args[0], body, arrived)


def _end(player_id: int, _public_id: str, body: dict[str, Any], args: list[str]) -> Reply:
    return 200, calls.end(player_id, args[0], body)


ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
    ("POST", re.compile(r"/api/rounds"), _start),
    ("GET", re.compile(_ROUND), _read),
    ("POST", re.compile(_ROUND + "/points"), _points),
    ("POST", re.compile(_ROUND + "/end"), _end),
]


def _limit(kind: str, public_id: str) -> None:
    retry_after = limits.socket_refusal(kind, public_id, client_address())
    if retry_after is not None:
        raise ServiceError("too many requests: slow down", status=429, retry_after=retry_after)


def answer(text: str, player_id: int, public_id: str) -> dict[str, Any]:
    """The reply to one message (see the module docstring)."""
    request_id = None
    try:
        message = parse_json_object(text.encode("utf-8"))
        request_id = message.get("id")
        method, path, body = message.get("method"), message.get("path"), message.get("body", {})
        if body is None and method == "GET":
            body = {}
        if not isinstance(body, dict):
            raise ServiceError("request body must be a JSON object")
        for route_method, pattern, operation in ROUTES:
            found = pattern.fullmatch(path) if isinstance(path, str) else None
            if found and method == route_method:
                status, data = operation(player_id, public_id, body, list(found.groups()))
                return {"id": request_id, "status": status, "body": data}
        raise ServiceError("not served over the game socket: use HTTP", status=404)
    except ServiceError as exc:
        db.session.rollback()
        reply = {"id": request_id, "status": exc.status, "body": {"error": exc.message, **exc.extra}}
        if "retry_after" in exc.extra:
            reply["retry_after"] = exc.extra["retry_after"]
        return reply
    except Exception:  # a server fault: answered like HTTP's 500, the socket stays usable
        db.session.rollback()
        log.exception("game socket request failed")
        return {"id": request_id, "status": 500, "body": {"error": "internal server error"}}
    finally:
        db.session.close()  # nothing held between messages (a socket may stay quiet for long)


@sock.route("/socket", bp=bp)
def game_socket(ws) -> None:  # noqa: ANN001 - a simple_websocket.Server
    """Serve one page's requests until it closes the socket or stays silent too long."""
    player = g.socket_player
    player_id, public_id = player.id, session["player"]
    db.session.close()
    idle_s = float(current_app.config["SOCKET_IDLE_S"])
    while (text := ws.receive(timeout=idle_s)) is not None:
        if isinstance(text, bytes):
            ws.send(json.dumps({"id": None, "status": 400,
                                "body": {"error": "messages must be JSON text"}}))
            continue
        ws.send(json.dumps(answer(text, player_id, public_id)))
