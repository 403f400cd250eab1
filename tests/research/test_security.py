"""Attacks on the research side, replayed with real requests (issue 8): environment and secret
key checks, login throttling and hashing cost, session invalidation and lifetime, token scopes.

Browser-level checks (headers in Chromium, participant binding) are in tests/browser/test_security_browser.py,
the login flood against a live server in tests/research/test_login_flood.py.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

import pytest
from sqlalchemy import select

from tests.conftest import make_test_app
from tests.research.conftest import PASSWORD, login


# --- DA_ENV and SECRET_KEY --------------------------------------------------------------------


@pytest.mark.parametrize("env", ["Production", "prod", "staging", ""])
def test_unknown_environment_is_refused_at_startup(monkeypatch, tmp_path, env):
    from webapp import create_app

    monkeypatch.setenv("DA_ENV", env)
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    with pytest.raises(RuntimeError, match="DA_ENV"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'e.sqlite3'}"})


@pytest.mark.parametrize("key", ["x", "short-but-random-9f2c", "x" * 64, "ab" * 32,
                                 "password" * 5,
                                 # issue 20: accepted by the old per-character entropy estimate
                                 "abcdefghijklmnopqrstuvwxyz012345",
                                 "0123456789abcdef0123456789abcdef",
                                 "qwertyuiopasdfghjklzxcvbnm123456789",
                                 "Tr0ub4dor&3-Tr0ub4dor&3-Tr0ub4dor&3"])
def test_production_refuses_short_or_guessable_keys(monkeypatch, tmp_path, key):
    from webapp import create_app

    monkeypatch.setenv("DA_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'k.sqlite3'}"})


def test_production_accepts_a_generated_key(monkeypatch, tmp_path):
    from webapp import create_app

    monkeypatch.setenv("DA_ENV", "production")
    for key in (secrets.token_hex(32), secrets.token_urlsafe(32)):
        monkeypatch.setenv("SECRET_KEY", key)
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'ok.sqlite3'}"})
        assert app.config["SESSION_COOKIE_SECURE"] is True


# --- login throttling, hashing cost -----------------------------------------------------------


def test_wrong_passwords_are_throttled_with_growing_delays_and_logged(app, client, researcher,
                                                                      caplog):
    """Failures from one address for one account: 1 s between them, then the wider windows."""
    import time

    caplog.set_level(logging.WARNING, logger="webapp.research.auth")
    assert login(client, password="wrong guess 0").status_code == 401
    again = login(client, password="wrong guess 1")
    assert again.status_code == 429 and int(again.headers["Retry-After"]) == 1
    # The right password does not get through from this address while it is throttled.
    right = login(client)
    assert right.status_code == 429 and "Retry-After" in right.headers
    assert client.get("/research/", headers={"Accept": "application/json"}).status_code == 401
    answers = []
    for i in range(5):
        time.sleep(1.05)
        answers.append(login(client, password=f"wrong guess {2 + i}").status_code)
    # 5 failures a minute: the fifth spaced-out guess waits for the minute window
    assert answers == [401] * 4 + [429]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed login for account 'alice'" in m for m in messages) == 5
    assert any("login throttled" in m for m in messages)


def test_an_attackers_failures_never_lock_the_owner_out_elsewhere(database_url, tmp_path):
    """Issue 20: 20 wrong passwords over 4 minutes from one address blocked the owner's correct
    password from another address for 53 minutes. Now the attacker's address is throttled for
    that account, and the owner, elsewhere, logs in at once."""
    from webapp.research.auth import create_researcher

    app = make_test_app(database_url, tmp_path, TRUSTED_PROXY_HOPS=1)
    with app.app_context():
        create_researcher("alice", PASSWORD)
    attacker = app.test_client()
    attacker_at = {"X-Forwarded-For": "203.0.113.9"}
    answers = [attacker.post("/research/login", headers=attacker_at,
                             data={"username": "alice", "password": f"guess {i}"}).status_code
               for i in range(20)]
    assert answers[0] == 401 and set(answers[1:]) == {429}
    # Still throttled for the attacker, even with the right password ...
    assert attacker.post("/research/login", headers=attacker_at,
                         data={"username": "alice", "password": PASSWORD}).status_code == 429
    # ... while the owner at another address is not.
    owner = app.test_client()
    answer = owner.post("/research/login", headers={"X-Forwarded-For": "198.51.100.7"},
                        data={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 302


def test_account_throttle_is_per_account_and_counts_only_failures(app, client, researcher):
    from webapp.research.auth import create_researcher

    with app.app_context():
        create_researcher("bob", "bobs long password")
    for i in range(6):
        login(client, password=f"wrong guess {i}")
    # bob is not affected by alice's failures, and successful logins never use up the budget.
    for _ in range(6):
        assert login(client, "bob", "bobs long password").status_code == 302


def test_address_limit_covers_many_account_names(app, client):
    answers = [client.post("/research/login", data={"username": f"user{i}", "password": "x"}).status_code
               for i in range(22)]
    assert answers[:20] == [401] * 20 and answers[20:] == [429, 429]


def _count_scrypt(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def test_unknown_and_known_users_cost_the_same_number_of_hashes(app, client, researcher, monkeypatch):
    calls = _count_scrypt(monkeypatch)
    assert login(client, "alice", "wrong password!").status_code == 401
    known = len(calls)
    calls.clear()
    assert login(client, "nobody-here", "wrong password!").status_code == 401
    assert known == len(calls) == 1


def test_login_is_refused_quickly_when_hashing_is_busy(app, client, researcher):
    import time

    app.config["LOGIN_HASH_WAIT_S"] = 0.2
    slots = app.extensions["login_hash_slots"]
    assert slots.acquire(timeout=1)  # another login is hashing right now
    try:
        started = time.perf_counter()
        busy = login(client)
        waited = time.perf_counter() - started
    finally:
        slots.release()
    assert busy.status_code == 503
    assert waited < 1.0
    assert login(client).status_code == 302


# --- sessions ---------------------------------------------------------------------------------


def _cookie(client) -> str:
    return client.get_cookie("session").value


def test_logout_ends_every_session_including_saved_cookies(app, researcher):
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop).status_code == 302 and login(phone).status_code == 302
    saved = _cookie(laptop)
    assert laptop.post("/research/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", saved)
    for client in (thief, phone):
        assert client.get("/research/dashboard", headers={"Accept": "application/json"}).status_code == 401


def test_password_change_ends_sessions_opened_before(app, researcher):
    from webapp.extensions import db
    from webapp.models import Researcher
    from webapp.research.auth import set_password

    client = app.test_client()
    login(client)
    saved = _cookie(client)
    with app.app_context():
        set_password(db.session.get(Researcher, researcher["id"]), "another long password")
    replay = app.test_client()
    replay.set_cookie("session", saved)
    assert replay.get("/research/", headers={"Accept": "application/json"}).status_code == 401


def test_researcher_login_lapses_after_the_configured_hours(app, client, researcher, monkeypatch):
    import time as time_module

    assert app.config["RESEARCHER_SESSION_HOURS"] <= 12
    login(client)
    assert client.get("/research/").status_code == 200
    now = time_module.time()
    monkeypatch.setattr(time_module, "time", lambda: now + app.config["RESEARCHER_SESSION_HOURS"] * 3600 + 5)
    assert client.get("/research/", headers={"Accept": "application/json"}).status_code == 401


def test_player_cookie_outlives_a_researcher_login(app):
    assert app.permanent_session_lifetime.days >= 365
    client = app.test_client()
    client.post("/api/consent", json={"version": app.config["CONSENT_VERSION"], "agree": True})
    assert client.get_cookie("session").expires is not None


# --- API token scopes -------------------------------------------------------------------------


def test_token_reads_exports_but_nothing_else(app, client, seeded, token):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/research/export/clicks", headers=headers).status_code == 200
    refused = {
        "csrf token page": client.get("/research/tokens", headers=headers),
        "new token": client.post("/research/tokens", data={"name": "child"}, headers=headers),
        "study form": client.get("/research/studies/new", headers=headers),
        "edit study": client.post("/research/studies/pilot/edit", data={"name": "x"}, headers=headers),
        "withdraw": client.post(f"/research/participants/{seeded.player_ids[0]}/withdraw",
                                data={"confirm": "delete"}, headers=headers),
        "dashboard": client.get("/research/dashboard", headers=headers),
    }
    for what, response in refused.items():
        assert response.status_code == 403, what
        assert "csrf_token" not in response.get_data(as_text=True), what
    from webapp.extensions import db
    from webapp.models import ApiToken, Player

    with app.app_context():
        assert db.session.scalar(select(db.func.count(ApiToken.id))) == 1  # no offspring
        assert db.session.get(Player, seeded.player_ids[0]) is not None


# --- headers, cookies, redirects --------------------------------------------------------------


def test_every_response_carries_the_security_headers(app, client, researcher):
    for path in ("/", "/consent", "/leaderboard", "/api/me", "/research/login", "/study/nope",
                 "/static/css/site.css", "/api/nothing-here"):
        headers = client.get(path).headers
        csp = headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert headers.get("X-Frame-Options") == "DENY", path
        assert headers.get("X-Content-Type-Options") == "nosniff", path
        assert headers.get("Referrer-Policy") == "same-origin", path


def test_production_cookies_are_secure_and_hsts_is_sent(monkeypatch, tmp_path):
    monkeypatch.setenv("DA_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    app = make_test_app(f"sqlite:///{tmp_path / 'prod.sqlite3'}", tmp_path, SECRET_KEY=secrets.token_hex(32))
    client = app.test_client()
    response = client.post("/api/consent", base_url="https://game.example",
                           json={"version": app.config["CONSENT_VERSION"], "agree": True})
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_development_cookies_work_over_plain_http(app, client):
    cookie = client.post("/api/consent", json={"version": app.config["CONSENT_VERSION"],
                                               "agree": True}).headers["Set-Cookie"]
    assert "; Secure" not in cookie and "; HttpOnly" in cookie


@pytest.mark.parametrize("target", ["/\t/example.org/", "/\n/example.org/", "/\r/example.org/",
                                    "//example.org/", "/\\example.org/", "\\\\example.org",
                                    "https://example.org/", "/ /example.org"])
def test_consent_follows_only_same_site_paths(client, target):
    page = client.get("/consent", query_string={"next": target}).get_data(as_text=True)
    assert 'data-next="/"' in page and "example.org" not in page


def test_consent_keeps_a_same_site_next(client):
    page = client.get("/consent", query_string={"next": "/?study=pilot"}).get_data(as_text=True)
    assert 'data-next="/?study=pilot"' in page
