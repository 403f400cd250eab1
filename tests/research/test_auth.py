"""Researcher accounts, sessions, API tokens, CSRF and the production secret check."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import select

from tests.conftest import make_test_app
from tests.research.conftest import PASSWORD, login


def test_password_is_stored_hashed(app, researcher):
    from webapp.extensions import db
    from webapp.models import Researcher

    with app.app_context():
        stored = db.session.scalar(select(Researcher.password_hash))
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


def test_login_logout_cycle(app, client, researcher):
    assert client.get("/research/", headers={"Accept": "text/html"}).status_code == 302
    assert client.get("/research/").status_code == 401
    bad = login(client, password="wrong password!")
    assert bad.status_code == 401 and b"wrong password" in bad.data
    assert client.get("/research/", headers={"Accept": "application/json"}).status_code == 401
    time.sleep(1.05)  # after a failure, this address waits a second before trying this account again
    ok = login(client)
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/research/")
    assert client.get("/research/").status_code == 200
    assert client.post("/research/logout").status_code == 302
    assert client.get("/research/", headers={"Accept": "application/json"}).status_code == 401


def test_login_redirects_only_inside_research(client, researcher):
    to_dashboard = client.post("/research/login", data={"username": "alice", "password": PASSWORD,
                                                        "next": "/research/dashboard"})
    assert to_dashboard.headers["Location"].endswith("/research/dashboard")
    client.post("/research/logout")
    evil = client.post("/research/login", data={"username": "alice", "password": PASSWORD,
                                                "next": "https://evil.example/"})
    assert evil.headers["Location"].endswith("/research/")


def test_anonymous_page_visit_redirects_to_login_with_next(client):
    response = client.get("/research/dashboard?study=x", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert "/research/login?next=/research/dashboard" in response.headers["Location"]


def test_password_change_ends_open_sessions(app, research_client, researcher):
    from webapp.extensions import db
    from webapp.models import Researcher
    from webapp.research.auth import set_password

    assert research_client.get("/research/").status_code == 200
    with app.app_context():
        set_password(db.session.get(Researcher, researcher["id"]), "another long password")
    assert research_client.get("/research/", headers={"Accept": "application/json"}).status_code == 401


def test_token_create_shows_once_and_stores_only_sha256(app, research_client):
    from webapp.extensions import db
    from webapp.models import ApiToken

    page = research_client.post("/research/tokens", data={"name": "laptop"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    plain = html.split('<code id="new-token">')[1].split("</code>")[0]
    assert plain.startswith("da_") and len(plain) > 40
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest()
        assert plain not in (row.token_hash, row.name)
    again = research_client.get("/research/tokens").get_data(as_text=True)
    assert plain not in again and "laptop" in again


def test_token_authenticates_and_revocation_stops_it(app, client, research_client, token):
    from webapp.extensions import db
    from webapp.models import ApiToken

    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/research/export/rounds", headers=headers).status_code == 200
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.last_used_at is not None
        token_id = row.id
    assert research_client.post(f"/research/tokens/{token_id}/revoke").status_code == 302
    refused = client.get("/research/export/rounds", headers=headers)
    assert refused.status_code == 401 and refused.json == {"error": "invalid or revoked token"}


def test_bad_token_is_401_even_with_a_logged_in_session(research_client):
    response = research_client.get("/research/", headers={"Authorization": "Bearer da_nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_cannot_revoke_someone_elses_token(app, client, token):
    from webapp.extensions import db
    from webapp.models import ApiToken
    from webapp.research.auth import create_researcher

    with app.app_context():
        create_researcher("bob", "bobs long password")
        token_id = db.session.scalar(select(ApiToken.id))
    login(client, "bob", "bobs long password")
    assert client.post(f"/research/tokens/{token_id}/revoke").status_code == 404
    assert client.get("/research/export/rounds", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.fixture
def csrf_app(tmp_path):
    application = make_test_app(f"sqlite:///{tmp_path / 'csrf.sqlite3'}", tmp_path, WTF_CSRF_ENABLED=True)
    from webapp.research.auth import create_researcher

    with application.app_context():
        create_researcher("alice", PASSWORD)
    return application


def test_forms_need_the_csrf_token(csrf_app):
    client = csrf_app.test_client()
    refused = client.post("/research/login", data={"username": "alice", "password": PASSWORD})
    assert refused.status_code == 400
    page = client.get("/research/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    accepted = client.post("/research/login", data={"username": "alice", "password": PASSWORD,
                                                    "csrf_token": token})
    assert accepted.status_code == 302
    # Logged in, a form post without the token is still refused.
    assert client.post("/research/tokens", data={"name": "x"}).status_code == 400


def test_production_without_a_key_uses_the_instance_key(monkeypatch, tmp_path):
    """No SECRET_KEY in production: the random key in the instance folder, never a shipped one;
    a weak key set by hand is refused."""
    from webapp import create_app

    monkeypatch.setenv("DA_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DA_SECRET_KEY_FILE", str(tmp_path / "secret_key"))
    db_url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    key = create_app({"SQLALCHEMY_DATABASE_URI": db_url}).config["SECRET_KEY"]
    assert key == (tmp_path / "secret_key").read_text().strip() and len(key) >= 64
    monkeypatch.setenv("SECRET_KEY", "dev-only-not-secret")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": db_url})
    monkeypatch.setenv("SECRET_KEY", "9f2c4e7a1b8d03f65e2a9c7d4b1f8e06a3c5d7f9e1b2a4c6d8f0e2b4a6c8d0f2")
    assert create_app({"SQLALCHEMY_DATABASE_URI": db_url}).config["ENV_NAME"] == "production"

