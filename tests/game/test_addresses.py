"""Whose address a request has: X-Forwarded-For is believed only behind configured proxies, and
rate-limited routes answer 429 in JSON with Retry-After."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_test_app


def _player_hash(app, forwarded_for: str) -> str:
    from webapp.extensions import db
    from webapp.models import Player

    client = app.test_client()
    agreed = client.post("/api/consent", headers={"X-Forwarded-For": forwarded_for},
                         json={"version": app.config["CONSENT_VERSION"], "agree": True})
    assert agreed.status_code == 200
    with app.app_context():
        return db.session.scalars(db.select(Player.address_hash).order_by(Player.id.desc())).first()


def _app(tmp_path: Path, **overrides):
    return make_test_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, **overrides)


def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    """A client that invents X-Forwarded-For must not look like a different address (that would
    defeat the per-address quality flag and per-address rate limits)."""
    app = _app(tmp_path)
    assert _player_hash(app, "203.0.113.1") == _player_hash(app, "198.51.100.7")


def test_forwarded_for_is_honoured_behind_one_trusted_proxy(tmp_path: Path) -> None:
    app = _app(tmp_path, TRUSTED_PROXY_HOPS=1)
    assert _player_hash(app, "203.0.113.1") != _player_hash(app, "198.51.100.7")
    # With one trusted hop, only the address that proxy appended counts, not what the client
    # put in front of it.
    assert _player_hash(app, "10.9.9.9, 203.0.113.1") == _player_hash(app, "203.0.113.1")


@pytest.mark.parametrize("storage", ["memory://"])
def test_rate_limited_route_answers_json_429_with_retry_after(tmp_path: Path, storage: str) -> None:
    from webapp.extensions import limiter

    app = _app(tmp_path, RATELIMIT_STORAGE_URI=storage)

    @app.route("/api/_limited")
    @limiter.limit("2/minute")
    def limited():  # noqa: ANN202 - test route
        return {"ok": True}

    client = app.test_client()
    assert [client.get("/api/_limited").status_code for _ in range(2)] == [200, 200]
    answer = client.get("/api/_limited")
    assert answer.status_code == 429
    assert "error" in answer.get_json()
    assert int(answer.headers["Retry-After"]) > 0


def test_spoofed_forwarded_for_cannot_escape_the_address_burst_flag(tmp_path: Path) -> None:
    """Six new players from one address, each inventing a different X-Forwarded-For: without
    trusted proxies they are still one address, so the per-address quality flag catches them."""
    from webapp.extensions import db
    from webapp.models import Player
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    app = _app(tmp_path)
    for i in range(6):
        agreed = app.test_client().post("/api/consent", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                                        json={"version": app.config["CONSENT_VERSION"], "agree": True})
        assert agreed.status_code == 200
    with app.app_context():
        players = set(db.session.scalars(db.select(Player.id)))
        flagged = {pid for pid, flags in flags_for(Scope()).items()
                   if "address_burst" in {f.code for f in flags}}
    assert len(players) == 6 and flagged == players
