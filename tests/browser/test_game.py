"""The game in real headless Chromium against a live server with the real classifier.

Each test plays as a new player (own cookie jar): consent, then rounds. What the page shows is
checked through its data-testid hooks; what the server stored is read from the database.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect

from models import render
from tests.browser.gameplay import (DRAINED, GAME_READY, Network, drag_mouse, ink_path, open_game,
                                    png_gray, stimulus, stored_round, to_page)

#: keeps rounds going while a test counts points (no probability reaches it)
NEVER_RECOGNISE = {"RECOGNITION_MIN_PROB": 1.01, "ROUND_TIMER_MS": 120000}


def mask_bits(mask: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in mask.ravel())


def page_points(page) -> list[list[float]]:
    return page.evaluate("window.__da.points()")


def test_play_a_round_until_the_ai_recognises_it(browser, live_server_factory) -> None:
    """Brush along the ink; once the classifier names the category the round ends with points
    (10..100) that the page shows in the round result and the total score."""
    server = live_server_factory(ROUND_TIMER_MS=60000)
    context, page, errors = open_game(browser, server)
    for _attempt in range(6):
        st = stimulus(page)
        drag_mouse(page, ink_path(st["gray"]), st["width"], st["height"])
        page.wait_for_function(DRAINED)
        if page.evaluate("window.__da.state().status") == "recognized":
            break
        # This drawing fooled the classifier even fully brushed: skip to another one.
        page.get_by_test_id("skip").click()
        expect(page.get_by_test_id("next")).to_be_visible()
        page.get_by_test_id("next").click()
        page.wait_for_function(GAME_READY)
    else:
        pytest.fail("the classifier recognised none of 6 fully brushed drawings")

    result = page.get_by_test_id("round-result")
    expect(result).to_contain_text("points")
    points = int(re.search(r"\+(\d+) points", result.inner_text()).group(1))
    assert 10 <= points <= 100
    expect(page.get_by_test_id("score")).to_have_text(str(points))
    expect(page.get_by_test_id("ai-guess")).to_contain_text(st["category"])
    expect(page.get_by_test_id("next")).to_be_visible()

    stored = stored_round(server, page.evaluate("window.__da.roundId()"))
    assert stored["status"] == "recognized" and stored["points"] == points
    assert stored["player_total"] == points
    # Everything stored is exactly what the page made, in order (points the page drew after
    # the server's end may be refused, so the stored ones are a prefix).
    mine = page_points(page)
    assert stored["idx"] == list(range(len(stored["xyt"])))
    assert stored["xyt"] == mine[:len(stored["xyt"])]
    # A quick drag became a continuous trail: no gap wider than half the brush radius.
    xy = np.asarray(stored["xyt"])[:, :2]
    assert np.hypot(*np.diff(xy, axis=0).T).max() <= stored["settings"]["brush_radius_px"] / 2 + 1e-9
    assert errors == []
    context.close()


def test_a_real_page_brushing_is_believed_by_the_shipped_anti_cheat(browser, live_server_factory) -> None:
    """The page's clock, batching and gap filling, in Chromium, against the shipped plausibility
    thresholds (the other tests relax them): brushing along the ink, every round is credited.

    Recognition is switched off (no probability reaches 1.01) so that the whole drag is judged:
    with it on, the classifier sometimes named the drawing after 9 points and the page's later
    points were (rightly) refused, which left too little input for this test to mean anything."""
    from tests.conftest import shipped_settings

    server = live_server_factory(ROUND_TIMER_MS=60000, RECOGNITION_MIN_PROB=1.01,
                                 **shipped_settings("CLOCK_TOLERANCE_MS", "MAX_POINTER_SPEED"))
    context, page, errors = open_game(browser, server)
    st = stimulus(page)
    drag_mouse(page, ink_path(st["gray"]), st["width"], st["height"], steps=2)
    page.wait_for_function(DRAINED)
    stored = stored_round(server, page.evaluate("window.__da.roundId()"))
    assert stored["n_points"] > 20
    assert stored["credited"] and stored["flag_reason"] is None, stored["flag_reason"]
    assert stored["status"] == "active"  # still running: nothing ended or refused the round
    assert errors == []
    context.close()


def test_timeout_ends_the_round_with_zero_points(browser, live_server_factory) -> None:
    server = live_server_factory(ROUND_TIMER_MS=1500, TIMEOUT_GRACE_MS=300)
    context, page, errors = open_game(browser, server)
    round_id = page.evaluate("window.__da.roundId()")
    expect(page.get_by_test_id("round-result")).to_contain_text("Time's up", timeout=15000)
    expect(page.get_by_test_id("timer")).to_contain_text("0.0 s")
    expect(page.get_by_test_id("score")).to_have_text("0")
    expect(page.get_by_test_id("skip")).to_be_disabled()
    stored = stored_round(server, round_id)
    assert stored["status"] == "timeout" and stored["points"] == 0
    assert errors == []
    context.close()


def test_skip_keeps_the_points_and_next_brings_another_drawing(browser, live_server_factory) -> None:
    server = live_server_factory(**NEVER_RECOGNISE)
    context, page, errors = open_game(browser, server)
    st = stimulus(page)
    first_round = page.evaluate("window.__da.roundId()")
    drag_mouse(page, [(2.0, 2.0), (8.0, 3.0), (8.0, 9.0)], st["width"], st["height"])
    page.get_by_test_id("skip").click()
    expect(page.get_by_test_id("round-result")).to_contain_text("Skipped")
    page.wait_for_function(DRAINED)
    stored = stored_round(server, first_round)
    assert stored["status"] == "skipped" and stored["points"] == 0
    assert stored["xyt"] == page_points(page) and len(stored["xyt"]) > 3

    page.get_by_test_id("next").click()
    page.wait_for_function(GAME_READY)
    assert page.evaluate("window.__da.roundId()") != first_round
    assert page.evaluate("window.__da.state().stimulus.id") != st["id"]
    expect(page.get_by_test_id("skip")).to_be_enabled()
    expect(page.get_by_test_id("round-result")).to_have_text("")
    assert errors == []
    context.close()


def test_touch_round_on_a_phone(browser, live_server_factory) -> None:
    """Touch input (a swipe through CDP and single taps) brushes like a mouse, the page does
    not scroll under the finger, and the canvas' backing store follows devicePixelRatio."""
    server = live_server_factory(**NEVER_RECOGNISE)
    context, page, errors = open_game(browser, server, has_touch=True, is_mobile=True,
                                      viewport={"width": 390, "height": 844}, device_scale_factor=2)
    canvas = page.get_by_test_id("game-canvas")
    canvas.scroll_into_view_if_needed()
    page.evaluate("""() => { window.__types = [];
        document.querySelector('[data-testid=game-canvas]')
            .addEventListener('pointerdown', (e) => window.__types.push(e.pointerType)); }""")
    css_width, backing = page.evaluate(
        "() => { const c = document.querySelector('[data-testid=game-canvas]'); return [c.clientWidth, c.width]; }")
    assert css_width <= 390 and backing == round(css_width * 2)

    st = stimulus(page)
    path = ink_path(st["gray"])[:12]
    cdp = context.new_cdp_session(page)
    scroll_before = page.evaluate("window.scrollY")

    def touch(kind: str, xy: tuple[float, float] | None) -> None:
        points = [] if xy is None else [{"x": xy[0], "y": xy[1], "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", to_page(page, *path[0], st["width"], st["height"]))
    for x, y in path[1:]:
        touch("touchMove", to_page(page, x, y, st["width"], st["height"]))
    touch("touchEnd", None)
    after_swipe = page.evaluate("window.__da.pointCount()")
    assert after_swipe > len(path)  # densified between samples
    assert page.evaluate("window.scrollY") == scroll_before

    for x, y in [(3.0, 3.0), (24.5, 4.0), (4.0, 24.0)]:
        page.touchscreen.tap(*to_page(page, x * st["width"] / 28, y * st["height"] / 28,
                                      st["width"], st["height"]))
    page.wait_for_function(f"() => window.__da.pointCount() >= {after_swipe + 3}")
    assert set(page.evaluate("window.__types")) == {"touch"}

    page.wait_for_function(DRAINED)
    stored = stored_round(server, page.evaluate("window.__da.roundId()"))
    assert stored["xyt"] == page_points(page)
    assert page.evaluate("window.__da.maskBits()").count("1") > 0
    assert errors == []
    context.close()


def test_reload_mid_round_loses_no_point(browser, live_server_factory) -> None:
    """Reload right after brushing (before the batch timer fires), and again after a network
    failure: the page resumes the same round, re-sends what the server lacks, and the database
    ends up with every point the page generated, bit for bit, with the timer still running."""
    server = live_server_factory(**NEVER_RECOGNISE)
    network = Network()
    context, page, errors = open_game(browser, server, network)
    round_id = page.evaluate("window.__da.roundId()")
    st = stimulus(page)
    path = ink_path(st["gray"])
    third = max(2, len(path) // 3)

    # 1. Reload before the 150 ms flush: the points survive in localStorage (and the beacon).
    drag_mouse(page, path[:third], st["width"], st["height"])
    before = page_points(page)
    elapsed_before = page.evaluate("window.__da.state().elapsed_ms")
    page.reload()
    page.wait_for_function(GAME_READY)
    assert page.evaluate("window.__da.roundId()") == round_id
    assert page.evaluate("window.__da.state().status") == "active"
    assert page.evaluate("window.__da.state().elapsed_ms") > elapsed_before
    page.wait_for_function(DRAINED)
    assert stored_round(server, round_id)["xyt"] == before == page_points(page)
    # The brushed area is back on screen after the reload.
    assert page.evaluate("window.__da.maskBits()") == mask_bits(
        render.brush_mask(before, st["width"], st["height"], page.evaluate("window.__da.state().settings.brush_radius_px")))

    # 2. Brush while every points request fails (the game socket drops, HTTP fails), then
    # reload: the outbox re-sends the rest.
    network.cut(page, "**/points")
    drag_mouse(page, path[third:2 * third], st["width"], st["height"])
    page.wait_for_timeout(400)  # at least one failed attempt
    assert page.evaluate("window.__da.unsent()") > 0
    generated = page_points(page)
    assert len(generated) > len(before)
    network.restore(page)
    page.reload()
    page.wait_for_function(GAME_READY)
    page.wait_for_function(DRAINED)
    stored = stored_round(server, round_id)
    assert stored["xyt"] == generated == page_points(page)
    assert stored["n_points"] == page.evaluate("window.__da.pointCount()")
    assert errors == []
    context.close()


def test_points_go_over_the_game_socket_and_over_http_while_it_is_gone(browser, live_server_factory) -> None:
    """The page sends its batches over the game socket while it is open; when the socket drops
    (and reconnecting fails) the same outbox sends them over HTTP, and once the socket is back
    the page uses it again. Every point arrives once, bit for bit."""
    server = live_server_factory(**NEVER_RECOGNISE)
    network = Network()
    context, page, errors = open_game(browser, server, network)
    http_batches: list[str] = []
    page.on("request", lambda request: http_batches.append(request.url)
            if request.url.endswith("/points") else None)
    round_id = page.evaluate("window.__da.roundId()")
    st = stimulus(page)
    path = ink_path(st["gray"])
    third = max(2, len(path) // 3)

    page.wait_for_timeout(300)  # the socket opens after the page's first requests
    drag_mouse(page, path[:third], st["width"], st["height"])
    page.wait_for_function(DRAINED)
    assert network.opened == 1 and http_batches == []

    network.cut(page)  # only the socket fails: HTTP still works
    drag_mouse(page, path[third:2 * third], st["width"], st["height"])
    page.wait_for_function(DRAINED)
    assert len(http_batches) > 0
    network.restore(page)

    # The page tries its socket again with its next requests once its backoff (1-30 s) ran out.
    rest = path[2 * third:]
    deadline = time.monotonic() + 40
    while network.opened < 2:
        assert time.monotonic() < deadline, "the page never reopened its game socket"
        drag_mouse(page, rest[:2], st["width"], st["height"])
        rest = rest[2:] or path[:2]
        page.wait_for_timeout(500)
    page.wait_for_function(DRAINED)
    over_http = len(http_batches)
    drag_mouse(page, rest, st["width"], st["height"])
    page.wait_for_function(DRAINED)
    assert len(http_batches) == over_http
    stored = stored_round(server, round_id)
    assert stored["xyt"] == page_points(page)
    assert errors == []
    context.close()


def test_server_reveals_the_pixels_the_player_saw(browser, live_server_factory) -> None:
    """The page's mask (and its "what the AI sees" image) equals render.brush_mask / reveal
    over the points stored in the database, and the page decodes the stimulus exactly."""
    server = live_server_factory(**NEVER_RECOGNISE)
    context, page, errors = open_game(browser, server)
    st = stimulus(page)
    path = ink_path(st["gray"])
    w, h = st["width"], st["height"]
    drag_mouse(page, path[: len(path) // 2] + [(0.025 * w, 0.975 * h), (0.468 * w, 0.532 * h)], w, h)
    page.get_by_test_id("game-canvas").click(position={"x": 5, "y": 5})  # a single tap-like point
    page.wait_for_function(DRAINED)

    stored = stored_round(server, page.evaluate("window.__da.roundId()"))
    image = png_gray(stored["png"])
    assert np.array_equal(st["gray"], image)  # no colour management or scaling on the way
    mask = render.brush_mask(stored["xyt"], stored["width"], stored["height"],
                             stored["settings"]["brush_radius_px"])
    assert 0 < mask.sum() < mask.size
    assert page.evaluate("window.__da.maskBits()") == mask_bits(mask)
    assert page.evaluate("window.__da.revealed()") == render.reveal(image, mask).ravel().tolist()
    assert errors == []
    context.close()


def test_pseudonym_edit_is_plain_text_everywhere(browser, live_server_factory) -> None:
    """A pseudonym that is HTML is shown as text on the game page and the leaderboard (never
    parsed into elements), and a name over 24 characters is refused with a message."""
    server = live_server_factory()
    context, page, errors = open_game(browser, server)
    name = "<b>Bo</b><img src=x>"
    page.locator("#edit-name").click()
    page.locator("#name-input").fill("x" * 30)
    expect(page.get_by_test_id("name-count")).to_contain_text("at most 24")
    expect(page.locator("#name-form button[type=submit]")).to_be_disabled()
    page.locator("#name-input").fill(name)
    page.locator("#name-form button[type=submit]").click()
    expect(page.get_by_test_id("pseudonym")).to_have_text(name)
    assert page.get_by_test_id("pseudonym").locator("b, img").count() == 0
    page.get_by_test_id("skip").click()  # a finished round puts the player on the leaderboard
    expect(page.get_by_test_id("next")).to_be_visible()

    page.goto(f"{server.url}/leaderboard")
    board = page.get_by_test_id("leaderboard")
    expect(board.locator("tbody tr").first).to_contain_text(name)
    assert board.locator("tbody b, tbody img").count() == 0
    page.goto(f"{server.url}/")  # the server-rendered game page escapes it too
    page.wait_for_function(GAME_READY)
    expect(page.get_by_test_id("pseudonym")).to_have_text(name)
    assert page.locator("main img, .who b").count() == 0
    assert errors == []
    context.close()
