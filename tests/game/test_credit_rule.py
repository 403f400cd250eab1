"""Issue 20, item 1: what the research side's quality flags know, scoring knows.

The credit rule (webapp/services/plausibility.py) and the research side's per-round flags
(webapp/research/quality.py: ``too_fast``, ``server_too_fast``) share one function,
`plausibility.faster_than_a_pointer`, so a round the dashboard would flag as implausible is never
credited. Replayed here: the issue's squeezed bot (the drawing's whole ink path in one batch about
30 ms after the round started, its page times squeezed into 0-900 ms, inside the 1 s clock
tolerance) earns nothing, and a quick real player (a drag at 3 canvas lengths a second) still
scores.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.game.anticheat_helpers import FakeClock, hand_trace, post_in_real_time
from tests.game.conftest import consented_client, start
from tests.game.test_anticheat import clocked  # noqa: F401 - the shipped thresholds, a test clock
from webapp.extensions import db
from webapp.models import Round

def _flags(app) -> dict[int, list[str]]:
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    with app.app_context():
        return {pid: sorted(f.code for f in found) for pid, found in flags_for(Scope()).items()}


def squeezed_bot_round(client, clock: FakeClock, after_ms: float = 30.0) -> tuple[str, list[dict]]:
    """The issue's bot: the whole ink path (in drawing order, as a tracer would follow it) posted
    ``after_ms`` after the round started, every point's t_ms squeezed into 0-900 ms."""
    clock.mark_round_start()
    round_id, state = start(client)
    path = hand_trace(client, state, speed_canvas_per_s=3.0, start_ms=0.0)
    squeezed = [[x, y, 900.0 * k / max(1, len(path) - 1)] for k, (x, y, _) in enumerate(path)]
    clock.advance(after_ms)
    answers = []
    limit = 512
    for index in range(0, len(squeezed), limit):
        answer = client.post(f"/api/rounds/{round_id}/points",
                             json={"start_index": index, "points": squeezed[index:index + limit]})
        assert answer.status_code == 200, answer.json
        answers.append(answer.json)
        if answer.json["status"] != "active":
            break
    return round_id, answers


def test_squeezed_bot_earns_nothing_and_is_flagged_alike(clocked):
    """Ten rounds of the squeezed bot: today 8-9 are credited at ~100 points; now none is, and
    every round the research side flags is a round the game did not credit."""
    app, clock = clocked
    bot = consented_client(app)
    recognised = 0
    for _ in range(10):
        round_id, answers = squeezed_bot_round(bot, clock)
        recognised += answers[-1]["status"] == "recognized"
        assert all(a["points"] == 0 and a["credited"] is False for a in answers)
        bot.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
        clock.advance(1000)
    assert recognised >= 3  # the classifier is fooled; the score is not
    me = bot.get("/api/me").json
    assert me["total_score"] == 0 and me["rounds_played"] == 0
    assert bot.get("/api/leaderboard").json["entries"] == []
    with app.app_context():
        rounds = db.session.scalars(select(Round)).all()
        reasons = {r.flag_reason.split(":")[0] for r in rounds}
        assert not any(r.credited for r in rounds)
        player_id = rounds[0].player_id
    # a drawing with a very long ink path also breaks the page-time speed rule first
    assert reasons <= {"ink_faster_than_server_clock", "points_faster_than_server_clock",
                       "pointer_too_fast"}
    assert {"server_too_fast", "implausible_input"} <= set(_flags(app)[player_id])


def test_few_points_squeezed_in_early_are_still_too_much_ink(clocked):
    """A bot that learnt the point-rate rule sends 19 points (under its 20-point floor) spread
    over the ink at 30 ms: the ink rule (path against the server's clock) still refuses it."""
    app, clock = clocked
    bot = consented_client(app)
    clock.mark_round_start()
    round_id, state = start(bot)
    path = hand_trace(bot, state, speed_canvas_per_s=3.0, start_ms=0.0)
    picked = [path[round(i * (len(path) - 1) / 18)] for i in range(19)]
    clock.advance(30)
    answer = bot.post(f"/api/rounds/{round_id}/points", json={
        "start_index": 0, "points": [[x, y, 900.0 * k / 18] for k, (x, y, _) in enumerate(picked)]})
    assert answer.status_code == 200 and answer.json["credited"] is False
    with app.app_context():
        reason = db.session.get(Round, round_id).flag_reason
    assert reason.startswith("ink_faster_than_server_clock"), reason


def test_a_quick_real_player_still_scores(clocked):
    """A quick hand: 3 canvas lengths a second from 250 ms on, 60 Hz events, batches every
    150 ms arriving 40 ms later. Every round is credited, unflagged, and recognitions score what
    the server's time gives them."""
    from webapp.services.scoring import round_points

    app, clock = clocked
    hand = consented_client(app)
    scored = []
    for _ in range(4):
        clock.mark_round_start()
        round_id, state = start(hand)
        state = post_in_real_time(hand, clock, round_id,
                                  hand_trace(hand, state, speed_canvas_per_s=3.0, start_ms=250.0))
        with app.app_context():
            stored = db.session.get(Round, round_id)
            assert stored.credited and stored.flag_reason is None, stored.flag_reason
            if stored.status == "recognized":
                assert stored.points == round_points(stored.duration_ms, 15000)
                scored.append((stored.duration_ms, stored.points))
        if state["status"] == "active":
            hand.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
        clock.advance(2000)
    assert scored, "no drawing recognised"
    assert min(ms for ms, _ in scored) < 3000 and max(p for _, p in scored) >= 80
    assert _flags(app) == {}


@pytest.mark.parametrize("n, elapsed, flagged", [
    (19, 0.0, False),     # too few points to judge
    (20, 18.9, True),     # 20 points in under 19 ms: more than one pointer event per ms
    (20, 19.0, False),
    (500, 30.0, True),    # the squeezed bot's batch
    (86, 1000.0, False),  # a 3 canvas lengths/s drag, densified at half the brush radius
])
def test_one_rule_for_points_per_time(n, elapsed, flagged):
    from webapp.services.plausibility import faster_than_a_pointer

    assert bool(faster_than_a_pointer(n, elapsed)) is flagged
