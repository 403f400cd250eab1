"""Abandoned rounds: the server ends them without any client (webapp/services/expiry.py), and
they count nowhere a played round counts."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from tests.game.anticheat_helpers import FakeClock
from tests.game.conftest import consented_client, start
from webapp.extensions import db
from webapp.models import Player, Round

TIMER, GRACE, AFTER = 3000, 1000, 60000


def _app(make_game_app):
    clock = FakeClock()
    app = make_game_app(CLOCK=clock.now, ROUND_TIMER_MS=TIMER, TIMEOUT_GRACE_MS=GRACE, ABANDON_AFTER_MS=AFTER)
    return app, clock


def _status(app, round_id):
    with app.app_context():
        return db.session.get(Round, round_id).status


def test_a_round_left_by_its_page_is_abandoned_on_the_next_round_start(make_game_app):
    """Today such rounds stay `active` forever and count in coverage and sampling."""
    app, clock = _app(make_game_app)
    leaver = consented_client(app)
    left, _ = start(leaver)
    assert leaver.post(f"/api/rounds/{left}/points", json={"start_index": 0, "points": [[3, 3, 10.0]]}).status_code == 200
    clock.advance(TIMER + GRACE + AFTER - 1)
    start(consented_client(app))
    assert _status(app, left) == "active"  # not yet: its page may still come back
    clock.advance(2)
    start(consented_client(app))  # any round start sweeps: no client of the leaver needed
    assert _status(app, left) == "abandoned"
    with app.app_context():
        rnd = db.session.get(Round, left)
        assert not rnd.credited and rnd.points == 0 and rnd.n_points == 1  # its points stay
        assert db.session.scalar(select(Player.rounds_played).where(Player.id == rnd.player_id)) == 0
    # its page coming back later finds the round over; late points are not taken
    late = leaver.post(f"/api/rounds/{left}/points", json={"start_index": 1, "points": [[4, 4, 20.0]]})
    assert late.status_code == 200 and late.json["status"] == "abandoned" and late.json["n_points"] == 1
    assert leaver.get("/api/me").json["rounds_played"] == 0
    assert leaver.get("/api/leaderboard").json["entries"] == []


def test_cli_expires_abandoned_rounds(make_game_app):
    app, clock = _app(make_game_app)
    client = consented_client(app)
    left, _ = start(client)
    clock.advance(TIMER + GRACE + AFTER + 1)
    result = app.test_cli_runner().invoke(args=["rounds", "expire"])
    assert result.exit_code == 0 and "1 abandoned round(s) expired" in result.output
    assert _status(app, left) == "abandoned"
    again = app.test_cli_runner().invoke(args=["rounds", "expire"])
    assert "0 abandoned round(s) expired" in again.output


def test_abandoned_rounds_do_not_count_in_sampling_or_coverage(make_game_app):
    """Stimulus `a` has two abandoned rounds, `b` one skipped round: `a` is the least played.
    (Counting abandoned rounds, as today, makes `b` the only choice.)"""
    from webapp.research.dashboard import coverage_totals
    from webapp.research.filters import Scope
    from webapp.services.stimuli import Drawing, import_drawings

    app, clock = _app(make_game_app)
    with app.app_context():
        import_drawings([Drawing("a", "cat", np.zeros((28, 28), np.uint8)),
                         Drawing("b", "dog", np.zeros((28, 28), np.uint8))], "tiny")
    app.config["DEFAULT_STIMULUS_SET"] = "tiny"
    ids = {}
    for _ in range(3):
        client = consented_client(app)
        round_id, state = start(client)
        ids.setdefault(state["stimulus"]["key"], []).append((client, round_id))
    # whichever stimulus got two rounds plays the part of `a`
    a = max(ids, key=lambda k: len(ids[k]))
    b = min(ids, key=lambda k: len(ids[k]))
    client, round_id = ids[b][0]
    client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
    clock.advance(TIMER + GRACE + AFTER + 1)
    assert app.test_cli_runner().invoke(args=["rounds", "expire"]).exit_code == 0
    assert {_status(app, r) for _, r in ids[a]} == {"abandoned"}
    with app.app_context():
        totals = coverage_totals(Scope())
        target = totals["target"]
        # 204 default stimuli + 2 tiny ones, and only `b`'s skipped round counts
        assert totals["rounds_missing"] == (204 + 2) * target - 1
    _, state = start(consented_client(app))  # a newcomer: `a` (0 plays counted) over `b` (1)
    assert state["stimulus"]["key"] == a
