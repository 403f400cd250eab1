"""A recruited participant plays the game in study mode from their Prolific link to the
completion link, which the page only shows once the server confirmed every round is stored.
The end of the study is a page of its own, and withdrawing is one tap away while playing."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.gameplay import DRAINED, GAME_READY, box_in_viewport, drag_mouse, stimulus

COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc=TESTCODE"


def make_study(server, rounds: int, timer_ms: int = 60000) -> None:
    from webapp.extensions import db
    from webapp.models import StimulusSet, Study

    with server.app.app_context():
        default_set = db.session.scalar(db.select(StimulusSet).where(
            StimulusSet.name == server.app.config["DEFAULT_STIMULUS_SET"]))
        study = Study(slug="pilot", name="Pilot study", mode="prolific", consent_version="pilot-v1",
                      completion_url=COMPLETION_URL, settings={"rounds_per_participant": rounds,
                                                               "timer_ms": timer_ms})
        study.stimulus_sets.append(default_set)
        db.session.add(study)
        db.session.commit()
        db.session.remove()


def participant(server, pid: str) -> dict:
    from webapp.extensions import db
    from webapp.models import Player, Round

    with server.app.app_context():
        player = db.session.scalar(db.select(Player).where(Player.external_id == pid))
        rounds = db.session.scalars(db.select(Round).where(Round.player_id == player.id)).all()
        out = {"completed": player.completed_at is not None,
               "rounds": {r.id: (r.status, r.n_points, r.study_id is not None) for r in rounds}}
        db.session.remove()
    return out


def test_participant_plays_the_study_rounds_then_gets_the_completion_link(browser, live_server_factory) -> None:
    server = live_server_factory(RECOGNITION_MIN_PROB=1.01)
    make_study(server, rounds=2, timer_ms=3000)  # rounds end by the timer: skips never count
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    pid = "5f0c2a9b8e7d6c5b4a392817"
    page.goto(f"{server.url}/study/pilot?PROLIFIC_PID={pid}&STUDY_ID=s1&SESSION_ID=x1")
    page.locator("input[name=agree]").check()
    page.locator("#start-study").click()
    page.wait_for_url("**/?study=pilot")

    sent = {}
    for number in (1, 2):
        page.wait_for_function(GAME_READY)
        expect(page.get_by_test_id("study-progress")).to_have_text(f"Round {number} of 2")
        withdraw = page.get_by_test_id("study-withdraw")
        expect(withdraw).to_be_visible()
        expect(withdraw).to_have_attribute("href", "/study/withdraw")
        st = stimulus(page)
        drag_mouse(page, [(3.0, 3.0), (9.5, 4.25), (12.0, 20.0)], st["width"], st["height"])
        expect(page.get_by_test_id("round-result")).to_contain_text("Time's up: 0 points", timeout=15000)
        page.wait_for_function(DRAINED)
        sent[page.evaluate("window.__da.roundId()")] = page.evaluate("window.__da.pointCount()")
        page.get_by_test_id("next").click()

    link = page.get_by_role("link", name="Return to the study platform")
    expect(link).to_have_attribute("href", COMPLETION_URL)
    # The end is a clear page: a thank-you and the way back, nothing left over from the game.
    done = page.get_by_test_id("study-done")
    expect(done).to_be_visible()
    expect(done).to_contain_text("All rounds done")
    expect(done).to_contain_text("Everything is saved")
    for leftover in ("game-canvas", "skip", "ai-guess", "timer", "category"):
        expect(page.get_by_test_id(leftover)).to_be_hidden()
    expect(page.get_by_text("Nothing yet: brush to show it something.")).to_be_hidden()
    stored = participant(server, pid)
    assert stored["completed"]
    assert {rid: n for rid, (_, n, _) in stored["rounds"].items()} == sent
    assert all(status == "timeout" and in_study for status, _, in_study in stored["rounds"].values())
    assert errors == []
    context.close()


def players_with(server, pid: str) -> int:
    from webapp.extensions import db
    from webapp.models import Player

    with server.app.app_context():
        n = db.session.scalar(db.select(db.func.count()).select_from(Player).where(Player.external_id == pid))
        db.session.remove()
    return n


def test_withdraw_while_playing_and_the_link_stores_nothing_before_consent(browser, live_server_factory) -> None:
    """Item 9: on a phone, mid-round, the participant finds the withdraw link, withdraws, and
    re-opens their study link: the consent page is shown and no participant row (holding their
    PROLIFIC_PID) exists until they agree again."""
    server = live_server_factory(RECOGNITION_MIN_PROB=1.01)
    make_study(server, rounds=3)
    context = browser.new_context(viewport={"width": 390, "height": 664}, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    pid = "6a0c2a9b8e7d6c5b4a392817"
    link = f"{server.url}/study/pilot?PROLIFIC_PID={pid}&STUDY_ID=s1&SESSION_ID=x1"
    page.goto(link)
    assert players_with(server, pid) == 0  # reading the consent text stores nothing
    page.locator("input[name=agree]").check()
    page.locator("#start-study").tap()
    page.wait_for_function(GAME_READY)
    assert players_with(server, pid) == 1
    for part in ("study-withdraw", "study-progress", "category", "timer", "game-canvas", "ai-guess", "skip"):
        box_in_viewport(page, part)  # the study's extra line still leaves the round on one screen
    st = stimulus(page)
    drag_mouse(page, [(3.0, 3.0), (9.5, 4.25)], st["width"], st["height"])
    page.wait_for_function(DRAINED)

    page.get_by_test_id("study-withdraw").tap()
    page.locator("#confirm-withdraw").tap()
    expect(page.locator("#withdrawn")).to_be_visible()
    assert players_with(server, pid) == 0

    page.goto(link)
    expect(page.locator("#start-study")).to_be_visible()
    assert players_with(server, pid) == 0
    assert errors == []
    context.close()
