"""What a player sees and what the science gets, replayed in real Chromium (issue 9, items 1-6):
a phone round fits the screen and starts unscrolled, the recognition rule is on screen, nothing
of the previous round lingers while the next one loads, the timer follows the server's clock
over a slow network, a skip pressed during a network drop stays a skip, and the leaderboard
marks the player's own row in readable colours.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.gameplay import (DRAINED, GAME_READY, Network, box_in_viewport, drag_mouse,
                                    ink_path, open_game, scripted, server_elapsed_ms, slow_network,
                                    stimulus, stored_round)

NEVER_RECOGNISE = {"RECOGNITION_MIN_PROB": 1.01, "ROUND_TIMER_MS": 120000}
PHONE = {"viewport": {"width": 390, "height": 664}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 3}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def stored_device(server, round_id: str) -> str | None:
    from webapp.extensions import db
    from webapp.models import Round

    with server.app.app_context():
        value = db.session.get(Round, round_id).device_class
        db.session.remove()
    return value


def test_phone_round_fits_the_screen_and_each_round_starts_unscrolled(browser, live_server_factory) -> None:
    """Item 1: on a 390x664 touch screen prompt, timer, canvas, the AI's guess and Skip/Next are
    all on screen without scrolling; after scrolling down and tapping Next the new round starts
    scrolled to the top with the whole canvas visible; the round is stored as a phone round."""
    server = live_server_factory(**NEVER_RECOGNISE)
    context, page, errors = open_game(browser, server, **PHONE)
    assert page.evaluate("window.scrollY") == 0
    for part in ("category", "timer", "game-canvas", "ai-guess", "skip"):
        box_in_viewport(page, part)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first = page.evaluate("window.__da.roundId()")

    page.get_by_test_id("skip").tap()
    expect(page.get_by_test_id("next")).to_be_visible()
    box_in_viewport(page, "round-result")
    box_in_viewport(page, "next")
    # The player scrolls down (to the score, say) and then taps Next from there.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert page.evaluate("window.scrollY") > 100
    page.get_by_test_id("next").tap()
    page.wait_for_function(GAME_READY)
    assert page.evaluate("window.scrollY") == 0
    for part in ("category", "timer", "game-canvas", "ai-guess", "skip"):
        box_in_viewport(page, part)

    assert stored_device(server, first) == "phone"
    assert stored_device(server, page.evaluate("window.__da.roundId()")) == "phone"
    assert errors == []
    context.close()

    context, page, errors = open_game(browser, server, **DESKTOP)
    for part in ("category", "timer", "game-canvas", "ai-guess", "skip"):
        box_in_viewport(page, part)
    assert stored_device(server, page.evaluate("window.__da.roundId()")) == "desktop"
    assert errors == []
    context.close()


def test_the_guess_says_how_sure_the_ai_must_be(browser, live_server_factory, shipped_classifier) -> None:
    """Item 2: "I think it's <the right word> (15%)" comes with the rule (top guess and at least
    50% sure), on the phone and on the desktop, and the how-to page states the same rule."""
    server = live_server_factory(ROUND_TIMER_MS=120000)
    fake = scripted(server, shipped_classifier)
    for device in (PHONE, DESKTOP):
        context, page, errors = open_game(browser, server, **device)
        st = stimulus(page)
        expect(page.get_by_test_id("need")).to_contain_text("at least 50% sure")
        fake.answer, fake.p = st["category"], 0.15  # the right word, but only 15% sure
        drag_mouse(page, [(3.0, 3.0), (9.0, 4.0)], st["width"], st["height"])
        page.wait_for_function(DRAINED)
        expect(page.get_by_test_id("ai-guess")).to_have_text(f"I think it's {st['category']} (15%)")
        need = page.get_by_test_id("need")
        expect(need).to_be_visible()
        expect(need).to_contain_text(f"{st['category']} 15%")
        expect(need).to_contain_text("at least 50% sure")
        box_in_viewport(page, "need")
        assert page.evaluate("window.__da.state().status") == "active"
        assert errors == []
        context.close()
    context = browser.new_context()
    how_to = context.new_page()
    how_to.goto(f"{server.url}/how-to")
    expect(how_to.locator("main")).to_contain_text("at least 50% sure")
    context.close()


def test_between_rounds_the_old_drawing_goes_and_the_timer_waits(browser, live_server_factory) -> None:
    """Item 3: with 2.5 s of latency on starting a round, tapping Next clears the old drawing,
    its highlight, the AI view and guess at once, shows a loading state with no timer, and
    brushing meanwhile makes no points; the timer appears with the drawing."""
    server = live_server_factory(**NEVER_RECOGNISE)
    network = Network()
    context, page, errors = open_game(browser, server, network, **PHONE)
    st = stimulus(page)
    drag_mouse(page, ink_path(st["gray"])[:20], st["width"], st["height"])
    page.wait_for_function(DRAINED)
    page.get_by_test_id("skip").tap()
    expect(page.get_by_test_id("next")).to_be_visible()
    network.cut(page)  # the round start goes over HTTP, where the latency is
    slow_network(server, 1.25, 1.25, match=lambda method, path: method == "POST" and path == "/api/rounds")

    page.get_by_test_id("next").tap()
    expect(page.get_by_test_id("loading")).to_be_visible()
    expect(page.get_by_test_id("timer")).to_be_hidden()
    expect(page.get_by_test_id("ai-guess")).to_have_text("Nothing yet: brush to show it something.")
    # The canvas is a blank sheet (one colour), the AI view black: nothing of the old round.
    colours = page.evaluate("""() => {
        const read = (c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
            return [...seen]; };
        return [read(document.querySelector('[data-testid=game-canvas]')), read(document.getElementById('ai-view'))];
    }""")
    assert len(colours[0]) == 1 and colours[1] == ["0,0,0"], colours
    page.get_by_test_id("game-canvas").tap(position={"x": 60, "y": 60})
    assert page.evaluate("window.__da.pointCount()") == 0

    page.wait_for_function(GAME_READY, timeout=15000)
    expect(page.get_by_test_id("loading")).to_be_hidden()
    expect(page.get_by_test_id("timer")).to_be_visible()
    assert errors == []
    context.close()


def _seconds(text: str) -> float:
    return float(re.search(r"([\d.]+) s", text).group(1))


def test_timer_follows_the_server_clock_and_stops_at_the_servers_time(
        browser, live_server_factory, shipped_classifier) -> None:
    """Item 4: with 600 ms latency each way the page's time left matches the server's (the
    offset is corrected for the round trip), and after a win the timer shows the time the server
    recognised the drawing at, the same as the outcome says."""
    server = live_server_factory(ROUND_TIMER_MS=15000)
    fake = scripted(server, shipped_classifier)
    fake.p = 0.99
    slow_network(server, 0.6, 0.6)
    context, page, errors = open_game(browser, server, **DESKTOP)
    round_id = page.evaluate("window.__da.roundId()")
    page.wait_for_timeout(1500)  # a few state answers have come back by now
    for _ in range(3):
        shown = _seconds(page.get_by_test_id("timer").inner_text())
        server_left = (15000 - server_elapsed_ms(server, round_id)) / 1000
        assert abs(shown - server_left) <= 0.3, (shown, server_left)
        page.wait_for_timeout(700)

    st = stimulus(page)
    fake.answer = st["category"]
    drag_mouse(page, [(3.0, 3.0), (9.0, 4.0)], st["width"], st["height"])
    expect(page.get_by_test_id("round-result")).to_contain_text("Recognised after", timeout=10000)
    stored = stored_round(server, round_id)
    from webapp.extensions import db
    from webapp.models import Round

    with server.app.app_context():
        duration = db.session.get(Round, round_id).duration_ms
        db.session.remove()
    assert stored["status"] == "recognized"
    expect(page.get_by_test_id("round-result")).to_contain_text(f"Recognised after {duration / 1000:.1f} s")
    expect(page.get_by_test_id("timer")).to_have_text(f"{(15000 - duration) / 1000:.1f} s")
    scale = page.evaluate("""() => new DOMMatrix(getComputedStyle(
        document.querySelector('.timer-fill')).transform).a""")
    assert abs(scale - (15000 - duration) / 15000) < 0.01, scale
    assert errors == []
    context.close()


def test_skip_during_a_network_drop_stays_a_skip(browser, live_server_factory, shipped_classifier) -> None:
    """Item 5: points brushed during a network drop, then Skip: once the network is back the
    round ends as skipped with 0 points (the points stored, the skip travelling with them as
    one ordered action), although the points alone would have won the round."""
    server = live_server_factory(ROUND_TIMER_MS=60000)
    fake = scripted(server, shipped_classifier)
    bodies: list[dict] = []  # what the page sent about the round, over either transport
    network = Network(log=bodies)
    context, page, errors = open_game(browser, server, network, **DESKTOP)
    st = stimulus(page)
    fake.answer, fake.p = st["category"], 0.99  # any points would be recognised
    round_id = page.evaluate("window.__da.roundId()")
    bodies.clear()
    page.on("request", lambda r: bodies.append({"url": r.url, "body": r.post_data_json})
            if r.method == "POST" and round_id in r.url else None)

    network.cut(page, "**/points")
    drag_mouse(page, ink_path(st["gray"])[:15], st["width"], st["height"])
    page.wait_for_timeout(400)
    assert page.evaluate("window.__da.unsent()") > 0
    page.get_by_test_id("skip").click()
    page.wait_for_timeout(800)  # the skip waits in the outbox behind the points
    network.restore(page)
    expect(page.get_by_test_id("round-result")).to_contain_text("Skipped", timeout=15000)
    page.wait_for_function(DRAINED)

    stored = stored_round(server, round_id)
    assert stored["status"] == "skipped" and stored["points"] == 0
    assert stored["xyt"] == page.evaluate("window.__da.points()")
    delivered = [b for b in bodies if b["url"].endswith("/points")]
    assert delivered[-1]["body"]["end"] == "skip"
    assert not any(b["url"].endswith("/end") for b in bodies)
    expect(page.get_by_test_id("score")).to_have_text("0")
    assert errors == []
    context.close()


def _contrast(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against the white card behind it."""
    return page.evaluate("""(selector) => {
        const rgb = getComputedStyle(document.querySelector(selector)).color.match(/\\d+/g).map(Number);
        const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
        const L = 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
        return 1.05 / (L + 0.05);
    }""", selector)


def test_leaderboard_marks_my_row_and_says_when_a_name_is_too_long(browser, live_server_factory) -> None:
    """Item 6: the player's own row is highlighted (and announced), a too-long pseudonym is
    said to be too long instead of being cut silently, and the gold rank 1 meets WCAG AA."""
    server = live_server_factory(**NEVER_RECOGNISE)
    pages = []
    for name in ("Ada", "Grace"):
        context, page, errors = open_game(browser, server, **PHONE)
        page.locator("#edit-name").tap()
        page.locator("#name-input").fill(name)
        page.locator("#name-form button[type=submit]").tap()
        expect(page.get_by_test_id("pseudonym")).to_have_text(name)
        page.get_by_test_id("skip").tap()
        expect(page.get_by_test_id("next")).to_be_visible()
        pages.append((context, page, errors))

    context, page, errors = pages[1]
    page.locator("#edit-name").tap()
    page.locator("#name-input").fill("x" * 30)
    count = page.get_by_test_id("name-count")
    expect(count).to_be_visible()
    expect(count).to_contain_text("Too long: 30 characters, at most 24")
    expect(page.locator("#name-form button[type=submit]")).to_be_disabled()
    assert page.locator("#name-input").input_value() == "x" * 30  # nothing cut behind the player's back

    page.goto(f"{server.url}/leaderboard")
    mine = page.locator("tr[aria-current=true]")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("Grace")
    expect(mine).to_contain_text("(you)")
    other = page.get_by_test_id("leaderboard").locator("tbody tr", has_text="Ada")
    assert mine.evaluate("(tr) => getComputedStyle(tr.cells[1]).backgroundColor") != \
        other.evaluate("(tr) => getComputedStyle(tr.cells[1]).backgroundColor")
    assert _contrast(page, "[data-testid=leaderboard] tbody tr:first-child td:first-child") >= 4.5
    for ctx, _, errs in pages:
        assert errs == []
        ctx.close()
