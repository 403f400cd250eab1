"""Issue 8 in a real browser (headless Chromium): the Content-Security-Policy holds on every
page without a single violation, a study link cannot take over a participant from another
browser, the consent page follows only same-site ``next`` paths, and production cookies are
``Secure``."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect

from tests.browser.gameplay import GAME_READY, open_game
from tests.browser.test_study_mode import COMPLETION_URL, make_study
from tests.research.conftest import PASSWORD

PID = "5f0c2a9b8e7d6c5b4a392817"


def _watch_csp(context) -> list[str]:
    """Collect every CSP violation the browser reports, from the DOM event and the console."""
    violations: list[str] = []
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => console.error("
        "'CSP-VIOLATION ' + e.violatedDirective + ' ' + e.blockedURI));")

    def on_console(msg) -> None:
        if "CSP-VIOLATION" in msg.text or "Content Security Policy" in msg.text:
            violations.append(msg.text)

    context.on("console", on_console)
    return violations


def _add_researcher(server) -> None:
    from webapp.extensions import db
    from webapp.research.auth import create_researcher

    with server.app.app_context():
        create_researcher("alice", PASSWORD)
        db.session.remove()


def test_no_page_violates_the_content_security_policy(browser, live_server_factory) -> None:
    server = live_server_factory(RECOGNITION_MIN_PROB=1.01)
    make_study(server, rounds=2)
    _add_researcher(server)
    context = browser.new_context()
    violations = _watch_csp(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    header = page.goto(f"{server.url}/consent").header_value("content-security-policy")
    assert header and "default-src 'self'" in header
    # The public game: consent, then a round.
    page.locator("#agree").check()
    page.get_by_test_id("consent-agree").click()
    page.wait_for_url(f"{server.url}/")
    page.wait_for_function(GAME_READY)
    for path in ("/leaderboard", "/how-to", "/about"):
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
    # A recruited participant: study link, consent, study-mode game, withdrawal page.
    page.goto(f"{server.url}/study/pilot?PROLIFIC_PID={PID}&STUDY_ID=s1&SESSION_ID=x1")
    page.locator("input[name=agree]").check()
    page.locator("#start-study").click()
    page.wait_for_url("**/?study=pilot")
    page.wait_for_function(GAME_READY)
    expect(page.get_by_test_id("study-progress")).to_have_text("Round 1 of 2")
    page.goto(f"{server.url}/study/withdraw")
    # The research side: login form, then every page.
    page.goto(f"{server.url}/research/login")
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/research/")
    for path in ("/research/dashboard", "/research/participants", "/research/stimuli",
                 "/research/export", "/research/tokens", "/research/studies/new",
                 "/research/studies/pilot/edit"):
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
    assert violations == [] and errors == []
    # The watcher does see a violation when there is one (an inline script planted here).
    page.evaluate("document.body.appendChild(Object.assign(document.createElement('script'),"
                  " {textContent: 'window.planted = 1'}))")
    page.wait_for_timeout(200)
    assert violations and page.evaluate("window.planted") is None
    context.close()


def test_a_second_browser_with_the_same_prolific_id_gets_nothing(browser, live_server_factory) -> None:
    server = live_server_factory(RECOGNITION_MIN_PROB=1.01)
    make_study(server, rounds=2)
    link = f"{server.url}/study/pilot?PROLIFIC_PID={PID}&STUDY_ID=s1&SESSION_ID=x1"
    own = browser.new_context()
    page = own.new_page()
    page.goto(link)
    page.locator("input[name=agree]").check()
    page.locator("#start-study").click()
    page.wait_for_url("**/?study=pilot")
    page.wait_for_function(GAME_READY)
    session_cookie = next(c for c in own.cookies() if c["name"] == "session")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"

    other = browser.new_context()
    intruder = other.new_page()
    response = intruder.goto(link.replace("x1", "x2"))
    assert response.status == 403
    expect(intruder.locator("#started-elsewhere")).to_be_visible()
    assert COMPLETION_URL not in intruder.content()
    assert intruder.goto(f"{server.url}/study/pilot/state").status == 403
    intruder.goto(f"{server.url}/study/withdraw")
    expect(intruder.get_by_text("There is no data linked to this browser")).to_be_visible()
    # The participant's own browser still plays on (resume by the same link).
    page.goto(link)
    page.wait_for_url("**/?study=pilot")
    page.wait_for_function(GAME_READY)
    own.close()
    other.close()


def test_consent_never_sends_the_player_to_another_site(browser, live_server) -> None:
    context = browser.new_context()
    context.route("**://example.org/**", lambda route: route.fulfill(status=200, body="elsewhere"))
    for target in ("/%09/example.org/", "/%0A/example.org/", "//example.org/", "/%5Cexample.org/"):
        page = context.new_page()
        page.goto(f"{live_server.url}/consent?next={target}")
        page.locator("#agree").check()
        page.get_by_test_id("consent-agree").click()
        page.wait_for_url(f"{live_server.url}/**")
        page.wait_for_load_state("networkidle")
        assert page.url.startswith(live_server.url + "/"), (target, page.url)
        page.close()
    context.close()


def test_production_cookies_are_secure_in_the_browser(browser, live_server_factory, monkeypatch) -> None:
    monkeypatch.setenv("DA_ENV", "production")
    server = live_server_factory(SECRET_KEY=secrets.token_hex(32))
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(f"{server.url}/consent")
    cookie = response.header_value("set-cookie")
    assert cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert response.header_value("x-frame-options") == "DENY"
    context.close()
