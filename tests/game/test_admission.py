"""Issue 22: while a crowd joins, the game's own requests are not held up by everybody else's.

`webapp.admission` lets at most ``COLD_REQUESTS`` requests outside the game's round traffic run
at once per process; these tests hold a slot with a request that blocks, and watch who waits."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask

from webapp.admission import Admission, install_admission


def _blocking_app(release: threading.Event, inside: list[str]):
    """A WSGI app that records each request's path and blocks ``/slow`` until ``release``."""

    def app(environ, start_response):
        inside.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/slow":
            release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def _call(gate: Admission, path: str) -> float:
    """Seconds the request took through the gate."""
    t0 = time.monotonic()
    gate({"PATH_INFO": path}, lambda *_: None)
    return time.monotonic() - t0


def _one_slot_taken(max_wait_s: float):
    """A gate with one slot, held by a ``/slow`` request until ``release`` is set:
    ``(gate, release, inside, slow_thread)``."""
    release, inside = threading.Event(), []
    gate = Admission(_blocking_app(release, inside), limit=1, max_wait_s=max_wait_s)
    slow = threading.Thread(target=_call, args=(gate, "/slow"))
    slow.start()
    while "/slow" not in inside:
        time.sleep(0.001)
    return gate, release, inside, slow


def test_other_requests_wait_for_a_slot_while_round_requests_go_straight_through():
    gate, release, inside, slow = _one_slot_taken(max_wait_s=5.0)
    # the one slot is taken: the game's round traffic still runs at once ...
    assert _call(gate, "/api/rounds/abc/points") < 0.5
    assert _call(gate, "/api/socket") < 0.5
    # so does the login, whose password hashing has slots of its own (503 when they are taken)
    assert _call(gate, "/research/login") < 0.5
    # ... and a page or the consent waits for the slot
    waiting = threading.Thread(target=_call, args=(gate, "/api/consent"))
    waiting.start()
    time.sleep(0.3)
    assert "/api/consent" not in inside
    release.set()
    slow.join(5)
    waiting.join(5)
    assert inside[-1] == "/api/consent" and gate.waited_out == 0


def test_a_request_never_waits_longer_than_the_limit():
    """A slow request (a large export) may delay the others, never block them."""
    gate, release, _inside, slow = _one_slot_taken(max_wait_s=0.2)
    took = _call(gate, "/leaderboard")
    release.set()
    slow.join(5)
    assert 0.15 < took < 2.0 and gate.waited_out == 1
    # the slot the slow request held is free again, and waiting out did not leak one
    assert _call(gate, "/leaderboard") < 0.1 and _call(gate, "/leaderboard") < 0.1


def _burning_app(cpu_s: float, started: list[float]):
    """A WSGI app that records when each request started and burns ``cpu_s`` of CPU."""

    def app(environ, start_response):
        started.append(time.monotonic())
        until = time.thread_time() + cpu_s
        while time.thread_time() < until:
            pass
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def test_gated_requests_are_paced_to_their_share_of_the_process():
    """After a request that used c of CPU, the next starts no sooner than c * (1/share - 1)
    later: with a share of 1/3, two requests of 50 ms CPU are at least 150 ms apart (50 ms of
    the first, 100 ms of pause). Round requests are not paced."""
    started: list[float] = []
    gate = Admission(_burning_app(0.05, started), limit=1, max_wait_s=5.0, cpu_share=1 / 3)
    _call(gate, "/api/consent")
    _call(gate, "/api/consent")
    assert started[1] - started[0] >= 0.145
    answered = time.monotonic()
    _call(gate, "/api/rounds/abc/points")  # straight through, though a 100 ms pause is due
    assert started[2] - answered < 0.09
    # a pause never makes a request wait longer than the limit
    slow = Admission(_burning_app(0.2, started), limit=1, max_wait_s=0.05, cpu_share=0.01)
    _call(slow, "/api/consent")
    assert _call(slow, "/api/consent") < 0.05 + 0.2 + 0.5


def test_a_share_must_be_a_fraction():
    for share in (0.0, -1.0, 1.5):
        with pytest.raises(ValueError, match="cpu_share"):
            Admission(lambda *_: [], limit=1, max_wait_s=1.0, cpu_share=share)


def test_a_share_outside_0_1_stops_the_app_naming_the_setting():
    for share in (0.0, 2.0):
        app = Flask(__name__)
        app.config.update(COLD_REQUESTS=1, COLD_MAX_WAIT_MS=100, COLD_CPU_SHARE=share)
        with pytest.raises(RuntimeError, match="DA_COLD_CPU_SHARE"):
            install_admission(app)


def test_the_setting_decides_whether_requests_are_gated():
    for limit, gated in ((2, True), (0, False)):
        app = Flask(__name__)
        app.config.update(COLD_REQUESTS=limit, COLD_MAX_WAIT_MS=100, COLD_CPU_SHARE=0.5)
        install_admission(app)
        assert isinstance(app.wsgi_app, Admission) is gated
        if gated:
            assert app.wsgi_app.pause_per_cpu_s == 1.0


def test_the_game_is_served_through_the_gate(game_app):
    assert isinstance(game_app.wsgi_app, Admission)
    client = game_app.test_client()
    assert client.get("/api/me").status_code == 200
    assert client.get("/consent").status_code == 200
