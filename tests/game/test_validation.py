"""Bad input gets a 4xx JSON error and changes nothing that is stored."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.game.conftest import consented_client, start

BAD_BATCHES = [
    (b"{", 400),
    (b"[]", 400),
    (b'"points"', 400),
    (b'{"start_index": 0, "points": [[NaN, 1, 1]]}', 400),
    (b'{"start_index": 0, "points": [[1, Infinity, 1]]}', 400),
    (b'{"start_index": 0, "points": [[1e400, 1, 1]]}', 400),
    (b'{"start_index": true, "points": []}', 400),
    (b'{"start_index": -1, "points": []}', 400),
    (b'{"start_index": 0.5, "points": []}', 400),
    (b'{"start_index": 0, "points": {"x": 1}}', 400),
    (b'{"start_index": 0, "points": [[1, 2]]}', 400),
    (b'{"start_index": 0, "points": [[1, 2, 3, 4]]}', 400),
    (b'{"start_index": 0, "points": [["1", 2, 3]]}', 400),
    (b'{"start_index": 0, "points": [[true, 2, 3]]}', 400),
    (b'{"start_index": 0, "points": [[29, 2, 3]]}', 400),
    (b'{"start_index": 0, "points": [[-0.1, 2, 3]]}', 400),
    (b'{"start_index": 0, "points": [[1, 2, -5]]}', 400),
    (b"\xff\xfe", 400),
]


@pytest.mark.parametrize("body,status", BAD_BATCHES)
def test_bad_batches_are_refused_and_store_nothing(game_app, body, status):
    client = consented_client(game_app)
    round_id, _ = start(client)
    good = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": [[1, 1, 5]]})
    assert good.status_code == 200
    response = client.post(f"/api/rounds/{round_id}/points", data=body, content_type="application/json")
    assert response.status_code == status and isinstance(response.json["error"], str)
    assert client.get(f"/api/rounds/{round_id}").json["n_points"] == 1


def test_too_many_points_and_oversized_bodies(game_app):
    client = consented_client(game_app)
    round_id, _ = start(client)
    limit = game_app.config["MAX_POINTS_PER_BATCH"]
    many = [[1, 1, i] for i in range(limit + 1)]
    response = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": many})
    assert response.status_code == 400 and str(limit) in response.json["error"]
    huge = json.dumps({"start_index": 0, "points": [[1.123456789, 1.123456789, 1.123456789]] * 3000})
    response = client.post(f"/api/rounds/{round_id}/points", data=huge, content_type="application/json")
    assert response.status_code == 413 and "error" in response.json
    assert client.get(f"/api/rounds/{round_id}").json["n_points"] == 0


def test_round_point_cap(make_game_app):
    app = make_game_app(MAX_POINTS_PER_ROUND=4)
    client = consented_client(app)
    round_id, _ = start(client)
    assert client.post(f"/api/rounds/{round_id}/points",
                       json={"start_index": 0, "points": [[1, 1, 1]] * 3}).status_code == 200
    over = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 3, "points": [[1, 1, 2]] * 2})
    assert over.status_code == 409
    assert client.get(f"/api/rounds/{round_id}").json["n_points"] == 3


@pytest.mark.parametrize("path,method,body,status", [
    ("/api/rounds", "post", {"round_id": "not-a-uuid"}, 400),
    ("/api/rounds", "post", {"round_id": 5}, 400),
    ("/api/rounds", "post", {"round_id": str(uuid.uuid4()), "study": "nope"}, 404),
    ("/api/rounds", "post", {"round_id": str(uuid.uuid4()), "study": 3}, 400),
    (f"/api/rounds/{uuid.uuid4()}", "get", None, 404),
    (f"/api/rounds/{uuid.uuid4()}/points", "post", {"start_index": 0, "points": []}, 404),
    (f"/api/rounds/{uuid.uuid4()}/end", "post", {"reason": "skip"}, 404),
    ("/api/me", "post", {"pseudonym": ""}, 400),
    ("/api/me", "post", {"pseudonym": "x" * 25}, 400),
    ("/api/me", "post", {"pseudonym": "\u200b\t\u200b"}, 400),
    ("/api/me", "post", {"pseudonym": 7}, 400),
    ("/api/consent", "post", {"version": "x"}, 400),
    ("/api/leaderboard?limit=abc", "get", None, 400),
    ("/api/leaderboard?limit=0", "get", None, 400),
    ("/api/stimuli/999999/image.png", "get", None, 404),
    ("/api/no-such-thing", "get", None, 404),
    ("/api/rounds", "get", None, 405),
])
def test_malformed_requests_get_json_errors(game_app, path, method, body, status):
    client = consented_client(game_app)
    response = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert response.status_code == status
    assert isinstance(response.json["error"], str)


def test_end_reason_is_checked(game_app):
    client = consented_client(game_app)
    round_id, _ = start(client)
    response = client.post(f"/api/rounds/{round_id}/end", json={"reason": "win"})
    assert response.status_code == 400
    assert client.get(f"/api/rounds/{round_id}").json["status"] == "active"


def test_rounds_without_a_player_cookie_are_refused(game_app):
    response = game_app.test_client().post("/api/rounds", json={"round_id": str(uuid.uuid4())})
    assert response.status_code == 403
