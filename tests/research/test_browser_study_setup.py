"""Running a study from the researcher's side, in real Chromium (issue 9, items 7, 8, 11-13):
the participant link right after creating a study, the projected rounds on the study page and
the target on the dashboard, quality flags that fit a lab and say why, the stimuli page sorted
and filtered by rounds and reliability, and research pages that fit a phone's width.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import make_test_app
from tests.research.conftest import PASSWORD, add_round, human_points, make_player, make_set, make_study

#: the address participants use (DA_PUBLIC_URL); the test server itself is on 127.0.0.1, which
#: a Prolific link must never point at (tests/research/test_public_url.py)
PUBLIC_URL = "https://draw.example.org"
PHONE = {"viewport": {"width": 390, "height": 664}, "has_touch": True, "is_mobile": True}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    """The app over HTTP with CSRF on, a 30-stimulus set, a lab study whose participants all
    share one address (address rule off) and a web study with a burst from one address."""
    from werkzeug.serving import make_server

    from webapp.extensions import db
    from webapp.research.auth import create_researcher

    app = make_test_app(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path, WTF_CSRF_ENABLED=True,
                        PUBLIC_URL=PUBLIC_URL)
    with app.app_context():
        create_researcher("alice", PASSWORD, is_admin=True)  # sees studies made without an owner
        stimuli = make_set(n=30)
        lab = make_study("lab", "test-set", address_burst_per_hour=0)
        web = make_study("web", "test-set")
        for i in range(6):
            for study, address in ((lab, "lab-address"), (web, "cafe-address")):
                player = make_player(study, external_id=f"{study.slug}{i}", address_hash=address)
                # Rounds only on the last three stimuli (by key): least-played-first hid them.
                for j in range(2):
                    add_round(player, stimuli[27 + (i + j) % 3], human_points(15, 10 * i + j),
                              study=study, address_hash=address)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", app
    http.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _login(browser, url: str, **context_args):
    context = browser.new_context(**context_args)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/research/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/research/")
    return context, page, errors


def test_new_study_shows_its_link_its_projection_and_its_target(browser, server) -> None:
    """Items 8 and 12: the form projects the rounds a study needs from the stimuli it uses; after
    saving, the dashboard shows the participant link with a working copy button, the plan, and
    whether the target is met (it is, once every used stimulus has its rounds)."""
    url, app = server
    context, page, errors = _login(browser, url, permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{url}/research/studies/new")
    page.fill("input[name=slug]", "pilot")
    page.fill("input[name=name]", "Pilot")
    page.check("input[name=sets][value=test-set]")
    page.select_option("select[name=mode]", "prolific")
    page.fill("input[name=completion_url]", "https://app.prolific.com/submissions/complete?cc=X")
    page.fill("input[name=n_stimuli]", "6")
    page.fill("input[name=target_rounds_per_stimulus]", "2")
    page.fill("input[name=rounds_per_participant]", "4")
    projection = page.get_by_test_id("projection")
    assert "6 stimuli × 2 rounds = 12 rounds, about 3 participants" in projection.inner_text()
    page.click("form.card button[type=submit]")
    page.wait_for_url("**/research/dashboard?study=pilot*")

    link = page.get_by_test_id("study-link-pilot")
    assert link.is_visible()
    expected = f"{PUBLIC_URL}/study/pilot?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}&SESSION_ID={{{{%SESSION_ID%}}}}"
    assert link.inner_text() == expected
    page.locator("#participant-link button.copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    target = page.get_by_test_id("study-target")
    assert "Target not met yet" in target.inner_text()
    assert "6 stimuli × 2 rounds = 12 rounds ≈ 3 participants" in target.inner_text()
    assert page.locator("#coverage tbody tr").count() == 6

    from webapp.extensions import db
    from webapp.models import Stimulus, Study

    with app.app_context():
        study = db.session.scalar(db.select(Study).where(Study.slug == "pilot"))
        chosen = db.session.scalars(db.select(Stimulus).where(
            Stimulus.id.in_(study.settings["stimulus_ids"]))).all()
        player = make_player(study, external_id="P1")
        for stim in chosen * 2:
            add_round(player, stim, human_points(10, stim.id), study=study)
    page.reload()
    assert "Target met" in page.get_by_test_id("study-target").inner_text()
    assert errors == []
    context.close()


def test_flags_fit_a_lab_and_say_why(browser, server) -> None:
    """Item 7: six participants behind one lab address are not flagged in a study that turned the
    address rule off; in a study that keeps it, each flagged row says why, in words."""
    url, _ = server
    context, page, errors = _login(browser, url)
    page.goto(f"{url}/research/participants?study=lab")
    assert page.locator("#participants tbody tr").count() == 6
    assert page.locator("#participants .flag").count() == 0
    page.goto(f"{url}/research/participants?study=web")
    reasons = page.locator("#participants .flag-reason")
    assert reasons.count() == 6
    for i in range(6):
        text = reasons.nth(i).inner_text()
        assert text.startswith("address_burst") and "6 new participants from one address" in text
        assert "threshold 5" in text
        assert reasons.nth(i).is_visible()
    # The exports' "leave out flagged participants" keeps the whole lab study.
    answer = page.request.get(f"{url}/research/export/rounds?study=lab&exclude_flagged=1")
    assert answer.status == 200 and len(answer.text().splitlines()) == 1 + 12
    assert errors == []
    context.close()


def test_stimuli_page_sorts_and_filters_by_rounds_and_reliability(browser, server) -> None:
    """Item 11: the stimuli with data come first (not on the last page), a minimum number of
    rounds filters, and reliability sorts (stimuli without a value last)."""
    url, _ = server
    context, page, errors = _login(browser, url)
    page.goto(f"{url}/research/stimuli?study=web")
    captions = page.locator(".map figcaption")
    first = [captions.nth(i).inner_text() for i in range(3)]
    assert all("4 rounds" in c for c in first), first  # 12 rounds over 3 stimuli, most first
    page.fill("input[name=min_rounds]", "1")
    page.click("#stimuli-order button[type=submit]")
    page.wait_for_url("**min_rounds=1*")
    assert captions.count() == 3
    page.select_option("select[name=sort]", "reliability_desc")
    page.fill("input[name=min_rounds]", "0")
    page.click("#stimuli-order button[type=submit]")
    page.wait_for_url("**sort=reliability_desc*")
    values = []
    for i in range(captions.count()):
        shown = captions.nth(i).inner_text().rsplit("reliability ", 1)[1].strip()
        values.append(None if shown == "–" else float(shown))
    known = [v for v in values if v is not None]
    assert len(known) == 3 and known == sorted(known, reverse=True)
    assert values[:3] == known  # the stimuli with a value come first
    assert errors == []
    context.close()


def test_research_pages_fit_a_phone(browser, server) -> None:
    """Item 13: no research page is wider than a 390 px phone (wide tables scroll in place)."""
    url, _ = server
    context, page, errors = _login(browser, url, **PHONE)
    for path in ("/research/", "/research/dashboard?study=web", "/research/participants?study=web",
                 "/research/stimuli?study=web", "/research/studies/new", "/research/export"):
        page.goto(f"{url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    assert errors == []
    context.close()
