"""Fixtures for the browser tests: the system's headless Chromium driven by Playwright, and a
live game server (the real app on a temporary SQLite database) in a background thread.

No browser is ever downloaded: the tests use ``/usr/bin/chromium`` (or ``DA_CHROMIUM``). When it
is missing they skip with a clear message, except in CI (``CI=true``) where that is a failure,
so the browser tests can never silently go unrun there.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import REPO, LiveServer, make_test_app

#: origin under which `static_page` serves the repository's static/ folder without a server
STATIC_ORIGIN = "http://static.test"


@pytest.fixture
def static_page(browser) -> Iterator[Any]:
    """A page whose origin serves files from ``static/`` straight from disk, so the JS modules
    can be tested without the app (ES modules need an http origin, not file://)."""
    context = browser.new_context()
    page = context.new_page()

    def serve(route) -> None:
        rel = route.request.url[len(STATIC_ORIGIN):].split("?")[0].lstrip("/")
        path = (REPO / rel).resolve()
        if rel == "" or rel == "index.html":
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>t</title>")
        elif path.is_file() and (REPO / "static") in path.parents:
            ctype = "text/javascript" if path.suffix == ".js" else mimetypes.guess_type(path.name)[0]
            route.fulfill(status=200, content_type=ctype or "application/octet-stream",
                          body=path.read_bytes())
        else:
            route.fulfill(status=404, body="not found")

    page.route(f"{STATIC_ORIGIN}/**", serve)
    page.goto(f"{STATIC_ORIGIN}/index.html")
    yield page
    context.close()


@pytest.fixture(scope="session")
def shipped_classifier():
    """The shipped classifier, loaded once for all live servers of the session."""
    from models import load_classifier

    return load_classifier(device="cpu")


def prepare_game(app, classifier) -> None:
    """Import the default stimulus set (as `make play` does) and hand the app its classifier."""
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app.extensions["classifier"] = classifier
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])


@pytest.fixture
def live_server_factory(tmp_path: Path, shipped_classifier) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server whose app config takes the given overrides (e.g. a short timer)."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        database_url = f"sqlite:///{tmp_path / f'live{len(servers)}.sqlite3'}"
        app = make_test_app(database_url, tmp_path, **overrides)
        prepare_game(app, shipped_classifier)
        server = LiveServer(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        with server.app.app_context():
            from webapp.extensions import db

            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server(live_server_factory) -> LiveServer:
    return live_server_factory()
