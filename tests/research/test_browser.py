"""The research pages in real headless Chromium: log in, read the dashboard, download exports.

Uses the system's Chromium (never a downloaded one); without it the tests skip with a clear
message, except in CI (``CI=true``) where that is a failure.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import make_test_app
from tests.research.conftest import PASSWORD, add_round, human_points, make_player, make_set, make_study

@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The real app over HTTP (werkzeug in a thread) on a seeded SQLite database, with CSRF on
    as in production."""
    from werkzeug.serving import make_server

    from webapp.extensions import db
    from webapp.research.auth import create_researcher

    app = make_test_app(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        create_researcher("alice", PASSWORD, is_admin=True)  # sees studies made without an owner
        stimuli = make_set()
        study = make_study("pilot", "test-set")
        for i in range(3):
            player = make_player(study, external_id=f"PID{i}")
            for j in range(2):
                add_round(player, stimuli[(i + j) % 3], human_points(15, 10 * i + j), study=study)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(accept_downloads=True)
    tab = context.new_page()
    yield tab
    context.close()


def _login(page, server: str) -> None:
    page.goto(f"{server}/research/dashboard?study=pilot")
    assert "/research/login" in page.url  # anonymous visitors land on the login form
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/research/dashboard?study=pilot")


def test_login_rejects_a_wrong_password(page, server):
    page.goto(f"{server}/research/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "wrong password" in page.text_content("main")
    assert "/research/login" in page.url


def test_dashboard_after_login(page, server):
    _login(page, server)
    assert page.text_content("#stat-rounds") == "6"
    assert page.text_content("#stat-participants") == "3"
    assert page.locator("#coverage tbody tr").count() == 3
    page.click("text=Participants")
    page.wait_for_selector("#participants")
    assert page.locator("#participants tbody tr").count() == 3
    assert "PID1" in page.text_content("#participants")
    # Exclude a participant through the (CSRF-protected) form and see it marked.
    page.locator("#participants tbody tr").first.locator("button:has-text('Exclude')").click()
    page.wait_for_selector("#participants tr.excluded")
    page.click("text=Log out")
    page.goto(f"{server}/research/dashboard")
    assert "/research/login" in page.url


def test_download_from_the_export_page(page, server):
    _login(page, server)
    page.goto(f"{server}/research/export?study=pilot")
    with page.expect_download() as clicks_info:
        page.click("#download-clicks")
    rows = list(csv.DictReader(io.StringIO(Path(clicks_info.value.path()).read_text())))
    assert len(rows) == 6 * 15 and {r["study"] for r in rows} == {"pilot"}
    assert clicks_info.value.suggested_filename == "pilot-clicks.csv"
    assert not any(r["participant"].startswith("PID") for r in rows)
    with page.expect_download() as bundle_info:
        page.click("#download-bundle")
    archive = zipfile.ZipFile(bundle_info.value.path())
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"]["clicks.csv"]["rows"] == 90
    assert manifest["filters"]["study"] == "pilot"


def test_token_page_creates_a_token_that_downloads(page, server):
    _login(page, server)
    page.goto(f"{server}/research/tokens")
    page.fill("input[name=name]", "browser-made")
    page.click("text=Create token")
    token = page.text_content("#new-token")
    response = page.request.get(f"{server}/research/export/rounds?study=pilot",
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200 and len(response.text().splitlines()) == 7
    page.click("text=Revoke")
    page.wait_for_selector("text=revoked")
    again = page.request.get(f"{server}/research/export/rounds",
                             headers={"Authorization": f"Bearer {token}"})
    assert again.status == 401
