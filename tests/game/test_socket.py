"""The game socket (`webapp/api/socket.py`) against a live server: the same round requests as
over HTTP, with the same answers, refusals, rate limits and errors, and refused before its
handshake when it must be."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import LiveServer
from tests.game.conftest import consented_client
from webapp.extensions import db


@pytest.fixture
def live(make_game_app):
    """``start(**config)`` → (app, server): the game served over real connections."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> tuple[Any, LiveServer]:
        app = make_game_app(**overrides)
        servers.append(LiveServer(app))
        return app, servers[-1]

    yield start
    for server in servers:
        server.stop()


@contextmanager
def game_socket(server: LiveServer, cookie: str | None, origin: str | None = None,
                compression: str | None = "deflate") -> Iterator[ClientConnection]:
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    if origin is not None:
        headers["Origin"] = origin
    with connect(server.url.replace("http://", "ws://") + "/api/socket", additional_headers=headers,
                 compression=compression, open_timeout=10) as ws:
        yield ws


class Caller:
    """Requests over one socket, each answered before the next is sent (as the page does)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.next_id = ws, 0

    def __call__(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "path": path, "body": body}))
        reply = json.loads(self.ws.recv(timeout=30))
        assert reply["id"] == self.next_id
        return reply


def _cookie(app) -> str:
    return consented_client(app).get_cookie("session").value


def _count(app, sql: str, **params) -> int:
    with app.app_context():
        return db.session.execute(sa.text(sql), params).scalar_one()


def test_a_round_over_the_socket_answers_as_http_does(live):
    app, server = live()
    http = consented_client(app)
    with game_socket(server, http.get_cookie("session").value) as ws:
        call = Caller(ws)
        round_id = str(uuid.uuid4())
        started = call("POST", "/api/rounds", {"round_id": round_id})
        assert started["status"] == 201 and started["body"]["status"] == "active"
        again = call("POST", "/api/rounds", {"round_id": round_id})
        assert again["status"] == 200 and again["body"]["stimulus"] == started["body"]["stimulus"]
        # along the empty top border (Quick, Draw! bitmaps are padded): never recognised
        points = [[x + 0.5, 0.5, 100.0 + 10 * x] for x in range(10)]
        url = f"/api/rounds/{round_id}/points"
        first = call("POST", url, {"start_index": 0, "points": points[:5]})
        assert first["status"] == 200 and first["body"]["n_points"] == 5
        assert first["body"]["guess"]["n_points"] == 5
        resent = call("POST", url, {"start_index": 0, "points": points[:5]})
        assert resent["status"] == 200 and resent["body"]["n_points"] == 5
        gap = call("POST", url, {"start_index": 7, "points": points[7:]})
        assert gap["status"] == 409 and gap["body"]["expected_index"] == 5
        read = call("GET", f"/api/rounds/{round_id}")
        over_http = http.get(f"/api/rounds/{round_id}").json
        assert read["status"] == 200
        assert {k: v for k, v in read["body"].items() if k not in ("elapsed_ms", "remaining_ms")} == \
            {k: v for k, v in over_http.items() if k not in ("elapsed_ms", "remaining_ms")}
        early = call("POST", f"/api/rounds/{round_id}/end", {"reason": "timeout"})
        assert early["status"] == 409 and early["body"]["remaining_ms"] > 0
        skipped = call("POST", f"/api/rounds/{round_id}/end", {"reason": "skip"})
        assert skipped["status"] == 200 and skipped["body"]["status"] == "skipped"
    assert _count(app, "SELECT count(*) FROM brush_point WHERE round_id = :r", r=round_id) == 5
    assert _count(app, "SELECT count(*) FROM guess WHERE round_id = :r", r=round_id) == 1
    assert http.get("/api/me").json["rounds_played"] == 1


def test_bad_messages_get_4xx_and_the_socket_stays_usable(live):
    app, server = live()
    other = _cookie(app)
    with game_socket(server, other) as ws:
        theirs = str(uuid.uuid4())
        assert Caller(ws)("POST", "/api/rounds", {"round_id": theirs})["status"] == 201
    with game_socket(server, _cookie(app)) as ws:
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["status"] == 400
        ws.send(json.dumps({"id": 1, "method": "POST", "path": "/api/rounds", "body": [1, 2]}))
        assert json.loads(ws.recv(timeout=10)) == {"id": 1, "status": 400, "body": {
            "error": "request body must be a JSON object"}}
        ws.send('{"id": 2, "method": "POST", "path": "/api/rounds", "body": {"round_id": NaN}}')
        assert json.loads(ws.recv(timeout=10))["status"] == 400
        ws.send(b"\x00binary")
        assert json.loads(ws.recv(timeout=10))["status"] == 400
        call = Caller(ws)
        call.next_id = 2
        assert call("POST", "/api/leaderboard", {})["status"] == 404
        assert call("GET", "/api/rounds/no-such-round")["status"] == 404
        assert call("POST", f"/api/rounds/{theirs}/points",
                    {"start_index": 0, "points": [[1, 1, 1]]})["status"] == 403
        mine = str(uuid.uuid4())
        assert call("POST", "/api/rounds", {"round_id": mine})["status"] == 201
        outside = call("POST", f"/api/rounds/{mine}/points", {"start_index": 0, "points": [[99, 1, 1]]})
        assert outside["status"] == 400 and "canvas" in outside["body"]["error"]
        assert call("POST", f"/api/rounds/{mine}/end", {"reason": "win"})["status"] == 400
        fine = call("POST", f"/api/rounds/{mine}/points", {"start_index": 0, "points": [[1, 1, 1]]})
        assert fine["status"] == 200 and fine["body"]["n_points"] == 1
    assert _count(app, "SELECT count(*) FROM brush_point") == 1


def test_the_socket_is_refused_before_its_handshake(live):
    app, server = live(MAX_SOCKETS=1)
    with pytest.raises(InvalidStatus) as refused:
        with game_socket(server, None):
            pass
    assert refused.value.response.status_code == 403  # no player session
    cookie = _cookie(app)
    with pytest.raises(InvalidStatus) as refused:
        with game_socket(server, cookie, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403  # another site's page
    with game_socket(server, cookie, origin=server.url) as ws:
        with pytest.raises(InvalidStatus) as refused:
            with game_socket(server, cookie):
                pass
        response = refused.value.response
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert json.loads(response.body)["error"]
        assert Caller(ws)("GET", "/api/rounds/x")["status"] == 404  # the first one still works
    deadline = time.monotonic() + 10  # its slot is free again once the server saw it close
    while True:
        try:
            with game_socket(server, cookie):
                break
        except InvalidStatus:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_the_server_declines_compression_and_closes_a_silent_socket(live):
    app, server = live(SOCKET_IDLE_S=0.5)
    with game_socket(server, _cookie(app), compression="deflate") as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=60)  # the server closes it after half a second of silence


def test_socket_and_http_count_against_the_same_rate_limits(live):
    """A player cannot double their rate by mixing transports: both hit one counter."""
    app, server = live(LIMIT_BATCHES="5/minute")
    http = consented_client(app)
    round_id = str(uuid.uuid4())
    assert http.post("/api/rounds", json={"round_id": round_id}).status_code == 201
    url = f"/api/rounds/{round_id}/points"
    for i in range(3):
        assert http.post(url, json={"start_index": i, "points": [[1, 1, i]]}).status_code == 200
    with game_socket(server, http.get_cookie("session").value) as ws:
        call = Caller(ws)
        for i in range(3, 5):
            assert call("POST", url, {"start_index": i, "points": [[1, 1, i]]})["status"] == 200
        refused = call("POST", url, {"start_index": 5, "points": [[1, 1, 5]]})
        assert refused["status"] == 429 and refused["retry_after"] >= 1
    again = http.post(url, json={"start_index": 5, "points": [[1, 1, 5]]})
    assert again.status_code == 429 and "Retry-After" in again.headers
    assert _count(app, "SELECT count(*) FROM brush_point WHERE round_id = :r", r=round_id) == 5
