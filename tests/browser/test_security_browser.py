"""Issues 8 and 20 in a real browser (headless Chromium): the Content-Security-Policy holds on
every page without a single violation, a study link cannot take over a participant from another
browser (nor tell it whether the id has joined), the consent page follows only same-site
``next`` paths, production cookies are ``Secure``, a page on another port cannot change anything
through the JSON API, and the page's ``sendBeacon`` flush still lands."""

from __future__ import annotations

import secrets
import time

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
        create_researcher("alice", PASSWORD, is_admin=True)  # sees studies made without an owner
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
    # The page a new id sees: it says nothing of whether the id has joined, shows nothing of it.
    assert response.status == 200
    expect(intruder.locator("#start-study")).to_be_visible()
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
    assert response.header_value("set-cookie") is None  # nothing is stored before consent
    assert response.header_value("x-frame-options") == "DENY"
    with page.expect_response("**/api/consent") as agreed:
        page.locator("#agree").check()
        page.get_by_test_id("consent-agree").click()
    cookie = agreed.value.header_value("set-cookie")
    assert cookie and "Secure" in cookie and "HttpOnly" in cookie
    context.close()


def test_a_page_on_another_port_cannot_change_a_player(browser, live_server_factory) -> None:
    """Issue 20: a same-site page (same host, another port) posted a text/plain form to /api/me
    and renamed the player, and a cross-site one replaced the visitor's cookie. The browser
    sends the (Lax) cookie along with a same-site form; the server refuses it before doing
    anything."""
    server = live_server_factory(RECOGNITION_MIN_PROB=1.01)
    other_port = live_server_factory()
    context, page, _ = open_game(browser, server)
    name = page.evaluate("fetch('/api/me').then(r => r.json()).then(me => me.pseudonym)")
    def session_player() -> str:
        cookie = next(c for c in context.cookies() if c["name"] == "session")["value"]
        serializer = server.app.session_interface.get_signing_serializer(server.app)
        return serializer.loads(cookie)["player"]

    player_before = session_player()
    form = (f'<form method="post" action="{server.url}/api/me" enctype="text/plain">'
            '<input name=\'{"pseudonym": "Hijacked", "x": "\' value=\'"}\'>'
            '<button id="go">go</button></form>')
    # The attacker's page: same host, another port (same-site), no CSP of ours.
    context.route(f"{other_port.url}/attack", lambda route: route.fulfill(
        status=200, content_type="text/html", body=form))
    attacker = context.new_page()
    attacker.goto(f"{other_port.url}/attack")
    with attacker.expect_response(f"{server.url}/api/me") as answer:
        attacker.click("#go")
    assert answer.value.status in (403, 415)
    sent = answer.value.request.all_headers()
    # It is the attack: the browser sent the player's (Lax) cookie with another port's form.
    assert sent["origin"] == other_port.url and "session=" in sent.get("cookie", "")
    assert page.evaluate("fetch('/api/me').then(r => r.json()).then(me => me.pseudonym)") == name
    assert session_player() == player_before
    context.close()


def test_the_pages_beacon_flush_still_lands(browser, live_server_factory) -> None:
    """The page hands unsent points to navigator.sendBeacon when it is hidden; the JSON-only,
    same-origin-only API must still take them (a JSON Blob from the site's own page)."""
    from tests.browser.gameplay import Network, drag_mouse, ink_path, stimulus, stored_round

    server = live_server_factory(RECOGNITION_MIN_PROB=1.01, ROUND_TIMER_MS=120000)
    network = Network()
    context, page, errors = open_game(browser, server, network)
    round_id = page.evaluate("window.__da.roundId()")
    st = stimulus(page)
    # What reaches the server (Playwright cannot intercept beacons, only the page's fetches).
    arrived: list[tuple[str, str]] = []
    inner = server.app.wsgi_app

    def recording(environ, start_response):  # noqa: ANN001, ANN202 - WSGI
        if environ["PATH_INFO"].endswith("/points"):
            arrived.append((environ.get("CONTENT_TYPE", ""), environ.get("HTTP_SEC_FETCH_SITE", "")))
        return inner(environ, start_response)

    server.app.wsgi_app = recording
    # The outbox's own requests fail (its fetches, and the game socket drops), so only the
    # beacon can deliver the points.
    network.cut(page, "**/points")
    drag_mouse(page, ink_path(st["gray"])[:12], st["width"], st["height"])
    generated = page.evaluate("window.__da.pointCount()")
    assert generated > 0
    page.goto("about:blank")  # pagehide: the beacon goes out
    deadline = time.monotonic() + 10
    while stored_round(server, round_id)["n_points"] < generated and time.monotonic() < deadline:
        time.sleep(0.2)
    assert arrived and all(ctype.startswith("application/json") and site == "same-origin"
                           for ctype, site in arrived), arrived
    assert stored_round(server, round_id)["n_points"] == generated
    assert errors == []
    context.close()
