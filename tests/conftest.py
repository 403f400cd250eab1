"""Shared fixtures: the app on each supported database.

`app` is parametrised over SQLite and PostgreSQL. PostgreSQL tests run whenever a server answers
at ``DA_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
elsewhere they skip with a clear message, except in CI (``CI=true``) where a missing server is
an error, so the PostgreSQL path can never silently go untested there.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PG_ADMIN_URL = os.environ.get("DA_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _postgres_reachable() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver/network failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    reason = _postgres_reachable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but PostgreSQL at {PG_ADMIN_URL} is unreachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({reason}); "
                    "set DA_TEST_POSTGRES_URL or start a server to run these tests")
    name = f"da_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Database URL for one test: a temporary SQLite file, or the session's PostgreSQL db."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_url")


#: The suite plays scripted rounds far faster than a hand and from one address, so its apps get
#: room under the game's rate limits and anti-cheat thresholds (production keeps the defaults
#: of webapp/config.py). Tests of those features pass the shipped values back in
#: (`shipped_settings`).
SCRIPTED_PLAY = {"LIMIT_ROUND_STARTS": "10000/minute", "LIMIT_ROUND_STARTS_PER_ADDRESS": "10000/minute",
                 "LIMIT_BATCHES": "10000/second", "LIMIT_BATCHES_PER_ADDRESS": "10000/second",
                 "MAX_ACTIVE_ROUNDS": 1000, "LIMIT_NEW_PLAYERS_PER_ADDRESS": "10000/minute",
                 "LEADERBOARD_MIN_ROUNDS": 1, "LEADERBOARD_PER_ADDRESS": 0, "CLOCK_TOLERANCE_MS": 3_600_000,
                 "MAX_POINTER_SPEED": 1e6}


def shipped_settings(*names: str) -> dict:
    """The values ``names`` have outside the test suite (webapp/config.py defaults, or the
    environment's ``DA_*`` settings)."""
    from webapp.config import from_env

    defaults = from_env("/nonexistent")
    return {name: defaults[name] for name in (names or SCRIPTED_PLAY)}


def make_test_app(database_url: str, tmp_path: Path, **overrides):
    """App on a migrated, empty database (the same migrations `make play` runs)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test",
              "WTF_CSRF_ENABLED": False, **SCRIPTED_PLAY}
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        _drop_everything(db)
        upgrade()
    return app


class LiveServer:
    """The app served over real HTTP on 127.0.0.1 in a thread (werkzeug, threaded), for tests
    that need a real connection: browsers and WebSockets."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def _drop_everything(db) -> None:
    """Leave the database empty (PostgreSQL is shared by the tests of one session)."""
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def app(database_url: str, tmp_path: Path):
    from webapp.extensions import db

    application = make_test_app(database_url, tmp_path)
    yield application
    with application.app_context():
        db.session.remove()
        _drop_everything(db)
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = f"Chromium not found at {CHROMIUM} (set DA_CHROMIUM); browser tests need it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """One headless system Chromium for the whole session (each test opens its own context).

    Playwright's sync API allows one running instance per thread, so every browser test in the
    suite shares this fixture. No browser is ever downloaded: without ``/usr/bin/chromium`` (or
    ``DA_CHROMIUM``) the tests skip with a clear message, except in CI (``CI=true``) where that
    is a failure, so browser tests can never silently go unrun there.
    """
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shipped_classifier():
    """The classifier shipped in ``models/weights``, on the CPU, loaded once per session."""
    from models.classifier import load_classifier

    return load_classifier(device="cpu")
