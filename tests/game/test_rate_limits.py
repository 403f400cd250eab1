"""Rate limits on the game API (webapp/api/limits.py) and the cap on rounds running at once
(webapp/services/starting.py): 429 JSON with Retry-After, per player and per address, counted
in a store several gunicorn workers share.

The Redis variant runs when a server answers at DA_TEST_REDIS_URL (default
redis://127.0.0.1:6379/0) and skips otherwise - also under CI=true, because CI does not provide
Redis (the per-process variant, the shipped ``memory-sweep://``, always runs)."""

from __future__ import annotations

import uuid

import pytest

from benchmarks.server import DatabaseUnavailable, shared_rate_limits
from tests.game.conftest import consented_client, start

def _storage(kind: str) -> str:
    """The store's URI: the shipped per-process one, or the Redis a multi-worker deployment
    uses (asked the way the load benchmark asks, `shared_rate_limits`; skipped without one)."""
    if kind == "memory":
        return "memory-sweep://"
    try:
        return shared_rate_limits()["DA_RATELIMIT_STORAGE_URI"]
    except DatabaseUnavailable as exc:
        pytest.skip(f"{exc}; Redis is optional")


def _start_status(client, **extra) -> tuple[int, dict, dict]:
    answer = client.post("/api/rounds", json={"round_id": str(uuid.uuid4()), **extra})
    return answer.status_code, answer.get_json(), answer.headers


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_round_starts_are_limited_per_player(make_game_app, kind):
    """Today: 500 rounds at 28/s from one player, no limit at all."""
    app = make_game_app(RATELIMIT_STORAGE_URI=_storage(kind), LIMIT_ROUND_STARTS="3/minute")
    client = consented_client(app)
    codes = []
    for _ in range(4):
        code, body, headers = _start_status(client)
        codes.append(code)
        if code == 201:
            client.post(f"/api/rounds/{body['round_id']}/end", json={"reason": "skip"})
    assert codes == [201, 201, 201, 429]
    assert "error" in body and int(headers["Retry-After"]) > 0
    # another player is not affected by this one's limit
    assert _start_status(consented_client(app))[0] == 201


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_batches_are_limited_per_player(make_game_app, kind):
    app = make_game_app(RATELIMIT_STORAGE_URI=_storage(kind), LIMIT_BATCHES="5/minute")
    client = consented_client(app)
    round_id, _ = start(client)
    codes = [client.post(f"/api/rounds/{round_id}/points",
                         json={"start_index": i, "points": [[1.0 + i, 1.0, 10.0 * i]]}).status_code
             for i in range(6)]
    assert codes == [200] * 5 + [429]


def test_new_cookies_do_not_escape_the_per_address_limit(make_game_app):
    """A script that drops its cookie becomes a new player each time; the address still counts."""
    app = make_game_app(RATELIMIT_STORAGE_URI="memory://", LIMIT_ROUND_STARTS_PER_ADDRESS="4/minute")
    codes = [_start_status(consented_client(app))[0] for _ in range(5)]
    assert codes == [201] * 4 + [429]


def test_rounds_running_at_once_are_capped(make_game_app):
    """Today: 20 active rounds per player. The cap frees up when a round ends."""
    app = make_game_app(MAX_ACTIVE_ROUNDS=2)
    client = consented_client(app)
    first, _ = start(client)
    start(client)
    code, body, headers = _start_status(client)
    assert code == 429 and "rounds running" in body["error"] and int(headers["Retry-After"]) > 0
    client.post(f"/api/rounds/{first}/end", json={"reason": "skip"})
    assert _start_status(client)[0] == 201


def test_shipped_limits_leave_room_for_the_page():
    """The defaults let an honest page play: its outbox sends at most ~7 batches a second
    (150 ms window, one request in flight) and one round at a time."""
    from limits import parse_many

    from tests.conftest import shipped_settings

    shipped = shipped_settings("LIMIT_BATCHES", "LIMIT_ROUND_STARTS", "MAX_ACTIVE_ROUNDS")
    per_second = [lim for lim in parse_many(shipped["LIMIT_BATCHES"]) if lim.get_expiry() == 1]
    assert per_second and per_second[0].amount >= 10
    assert all(lim.amount / lim.get_expiry() >= 5 for lim in parse_many(shipped["LIMIT_BATCHES"]))
    assert shipped["MAX_ACTIVE_ROUNDS"] >= 2


def test_an_unreadable_limit_stops_the_app_at_start(tmp_path):
    from tests.conftest import make_test_app

    with pytest.raises(RuntimeError, match="DA_LIMIT_BATCHES='lots' is not a rate limit"):
        make_test_app(f"sqlite:///{tmp_path / 'l.sqlite3'}", tmp_path, LIMIT_BATCHES="lots")
