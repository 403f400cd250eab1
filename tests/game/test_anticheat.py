"""Anti-cheat: the server believes a batch only if a hand could have drawn it by the time it
arrived (webapp/services/plausibility.py). Replays the issue's bot and a realistic hand."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.conftest import shipped_settings
from tests.game.anticheat_helpers import FakeClock, bot_points, hand_trace, post_in_real_time
from tests.game.conftest import consented_client, start
from webapp.extensions import db
from webapp.models import Round


#: the shipped plausibility thresholds (the suite's other apps relax them for scripted play)
ANTICHEAT = shipped_settings("CLOCK_TOLERANCE_MS", "MAX_POINTER_SPEED")


@pytest.fixture
def clocked(make_game_app):
    clock = FakeClock()
    return make_game_app(CLOCK=clock.now, **ANTICHEAT), clock


def _started(app, clock: FakeClock, after_ms: float):
    """A new consented player starts a round; the server clock then moves ``after_ms`` on."""
    client = consented_client(app)
    clock.mark_round_start()
    round_id, state = start(client)
    clock.advance(after_ms)
    return client, round_id, state


def _round(app, round_id):
    with app.app_context():
        return db.session.scalar(select(Round).where(Round.id == round_id))


def test_bot_posting_the_ink_at_once_earns_nothing_and_is_flagged(clocked):
    """The issue's bot: all ink pixels of the real stimulus in one batch, faked 40 ms apart,
    50 ms after the round started. Today it scores 99-100 and tops the leaderboard."""
    app, clock = clocked
    bot = consented_client(app)
    statuses = []
    for _ in range(4):
        clock.mark_round_start()
        round_id, state = start(bot)
        clock.advance(50)
        answer = bot.post(f"/api/rounds/{round_id}/points",
                          json={"start_index": 0, "points": bot_points(bot, state)})
        assert answer.status_code == 200, answer.json
        statuses.append(answer.json["status"])
        assert answer.json["points"] == 0 and answer.json["credited"] is False
        stored = _round(app, round_id)
        assert not stored.credited and stored.flag_reason.startswith("t_ms_ahead_of_server")
        bot.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
        clock.advance(1000)
    assert "recognized" in statuses  # the classifier was fooled; the score was not
    me = bot.get("/api/me").json
    assert me["total_score"] == 0 and me["rounds_played"] == 0
    assert bot.get("/api/leaderboard").json["entries"] == []


def test_bot_squeezing_its_times_into_the_server_clock_moves_impossibly_fast(clocked):
    """The same bot, with its invented times squeezed into the 50 ms the server saw."""
    app, clock = clocked
    bot, round_id, state = _started(app, clock, 50)
    points = bot_points(bot, state)
    squeezed = [[x, y, 50.0 * k / len(points)] for k, (x, y, _) in enumerate(points)]
    answer = bot.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": squeezed})
    assert answer.status_code == 200 and answer.json["points"] == 0
    assert _round(app, round_id).flag_reason.startswith("pointer_too_fast")


def test_bot_that_waits_then_dumps_the_ink_is_caught_by_server_time(clocked):
    """Honest-looking page times spread over 0..1.5 s, but all the pointer path posted at once:
    only the server-time rule (path length vs server time since start) can see it."""
    app, clock = clocked
    bot = consented_client(app)
    clock.mark_round_start()
    round_id, state = start(bot)
    points = bot_points(bot, state)
    # zig-zag across the canvas between ink pixels: a long path, each step at "human" spacing
    width = state["stimulus"]["width"]
    zigzag = [[float(width) * (k % 2), y, t] for k, (x, y, t) in enumerate(points)]
    clock.advance(1500)
    spread = [[x, y, 1400.0 * k / len(zigzag)] for k, (x, y, _) in enumerate(zigzag)]
    answer = bot.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": spread})
    assert answer.status_code == 200 and answer.json["credited"] is False
    assert _round(app, round_id).flag_reason.split(":")[0] in ("pointer_too_fast",
                                                               "ink_faster_than_server_clock")


def test_a_hand_brushing_in_real_time_is_credited(clocked):
    """A hand: nearest-neighbour path along the ink at 1.2 canvas lengths per second, 60 Hz
    pointer events, sent every 150 ms and arriving 40 ms later. It must be credited."""
    app, clock = clocked
    hand = consented_client(app)
    results = []
    for _ in range(3):
        clock.mark_round_start()
        round_id, state = start(hand)
        state = post_in_real_time(hand, clock, round_id, hand_trace(hand, state))
        stored = _round(app, round_id)
        assert stored.credited and stored.flag_reason is None, stored.flag_reason
        results.append((state["status"], state["points"]))
        if state["status"] == "active":
            hand.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
        clock.advance(2000)
    recognised = [points for status, points in results if status == "recognized"]
    assert recognised and all(10 <= p < 100 for p in recognised)
    me = hand.get("/api/me").json
    assert me["total_score"] == sum(recognised) and me["rounds_played"] == 3
    assert hand.get("/api/leaderboard").json["entries"][0]["total_score"] == sum(recognised)


def test_page_time_far_ahead_of_the_server_is_flagged(clocked):
    """t_ms = 14,999 at 48 ms server time (accepted and believed today)."""
    app, clock = clocked
    client, round_id, _ = _started(app, clock, 48)
    answer = client.post(f"/api/rounds/{round_id}/points",
                         json={"start_index": 0, "points": [[5, 5, 14999.0]]})
    assert answer.status_code == 200 and answer.json["credited"] is False
    assert "t_ms 14999 arrived at server time 48 ms" in _round(app, round_id).flag_reason


def test_page_time_just_ahead_within_tolerance_is_believed(clocked):
    app, clock = clocked
    client, round_id, _ = _started(app, clock, 100)
    tolerance = app.config["CLOCK_TOLERANCE_MS"]
    answer = client.post(f"/api/rounds/{round_id}/points",
                         json={"start_index": 0, "points": [[5, 5, 100.0 + tolerance - 1]]})
    assert answer.status_code == 200 and answer.json["credited"] is True


def test_decreasing_page_times_are_refused(clocked):
    app, clock = clocked
    client, round_id, _ = _started(app, clock, 500)
    within = client.post(f"/api/rounds/{round_id}/points",
                         json={"start_index": 0, "points": [[5, 5, 300.0], [6, 5, 200.0]]})
    assert within.status_code == 400 and "t_ms must not decrease" in within.json["error"]
    ok = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": [[5, 5, 300.0]]})
    assert ok.status_code == 200
    across = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 1, "points": [[6, 5, 299.0]]})
    assert across.status_code == 400 and _round(app, round_id).n_points == 1


def test_late_points_are_kept_only_within_the_grace_by_the_server_clock(make_game_app):
    """Points posted after the end: kept when they arrive within the grace and were drawn
    before the end; t_ms = 0 points arriving 16 s late are dropped and counted."""
    clock = FakeClock()
    app = make_game_app(CLOCK=clock.now, **ANTICHEAT, ROUND_TIMER_MS=3000, TIMEOUT_GRACE_MS=2000)
    client, round_id, _ = _started(app, clock, 1000)
    assert client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"}).json["status"] == "skipped"
    clock.advance(500)  # 0.5 s after the end: in time
    kept = client.post(f"/api/rounds/{round_id}/points",
                       json={"start_index": 0, "points": [[1, 1, 900.0], [2, 2, 950.0], [3, 3, 5000.0]]})
    assert kept.status_code == 200 and kept.json["n_points"] == 2
    clock.advance(16000)  # 16 s late: whatever its t_ms, it is not believed
    late = client.post(f"/api/rounds/{round_id}/points",
                       json={"start_index": 2, "points": [[4, 4, 0.0]] * 0 + [[4, 4, 960.0]] * 10})
    assert late.status_code == 200 and late.json["n_points"] == 2
    stored = _round(app, round_id)
    assert stored.n_points == 2 and stored.dropped_points == 1 + 10


def test_late_zero_time_points_after_a_server_timeout_are_not_stored(make_game_app):
    """The issue's replay: a round the server timed out, then points with t_ms = 0 sent 16 s
    later (today: stored, exported, mapped)."""
    clock = FakeClock()
    app = make_game_app(CLOCK=clock.now, **ANTICHEAT, ROUND_TIMER_MS=3000, TIMEOUT_GRACE_MS=2000)
    client = consented_client(app)
    clock.mark_round_start()
    round_id, _ = start(client)
    clock.advance(3000 + 2000 + 16000)
    late = client.post(f"/api/rounds/{round_id}/points",
                       json={"start_index": 0, "points": [[1.0, 1.0, 0.0]] * 50})
    assert late.status_code == 200 and late.json["status"] == "timeout" and late.json["n_points"] == 0
    assert _round(app, round_id).dropped_points == 50


def test_no_recognition_is_credited_after_timer_and_grace(make_game_app, monkeypatch):
    """The agreed contract: a recognition whose guess finishes after timer + grace by the
    server's clock is a timeout, worth nothing (the classifier may be slow under load)."""
    from webapp.services import guessing

    clock = FakeClock()
    app = make_game_app(CLOCK=clock.now, **ANTICHEAT, ROUND_TIMER_MS=3000, TIMEOUT_GRACE_MS=500)
    client = consented_client(app)
    clock.mark_round_start()
    round_id, state = start(client)
    with app.app_context():
        service = guessing.get_guess_service()
    real_top5_many = service.top5_many

    def slow_top5_many(images):
        clock.advance(4000)  # the guess finishes at 6.9 s, long after 3 s + 0.5 s
        return [[{"label": state["category"], "p": 0.99}, *top5[1:]] for top5 in real_top5_many(images)]

    monkeypatch.setattr(service, "top5_many", slow_top5_many)
    clock.advance(2900)
    answer = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": [[5, 5, 2800.0]]})
    assert answer.status_code == 200
    assert answer.json["status"] == "timeout" and answer.json["points"] == 0


def test_a_batch_can_carry_skip(clocked):
    """``"end": "skip"`` stores the batch's points, then ends the round as skipped (no guess)."""
    app, clock = clocked
    client, round_id, _ = _started(app, clock, 500)
    answer = client.post(f"/api/rounds/{round_id}/points",
                         json={"start_index": 0, "points": [[5, 5, 400.0]], "end": "skip"})
    assert answer.status_code == 200
    assert answer.json["status"] == "skipped" and answer.json["n_points"] == 1 and answer.json["points"] == 0
    assert answer.json["guess"] is None
    bad = client.post(f"/api/rounds/{round_id}/points", json={"start_index": 1, "points": [], "end": "win"})
    assert bad.status_code == 400


def test_researchers_see_the_bot_flagged_from_server_times(clocked):
    """The dashboard's quality flags (SQL over received_at and the round's stored reason) flag
    the bot; the hand is not flagged."""
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    app, clock = clocked
    bot, hand = consented_client(app), consented_client(app)
    clock.mark_round_start()
    round_id, state = start(bot)
    # 10 ms after the start: more than one point per ms for any drawing with >= 20 ink pixels
    # (with 50 ms, the three sparsest default drawings, 39-49 ink pixels, passed the rule)
    clock.advance(10)
    bot.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": bot_points(bot, state)})
    clock.advance(1000)
    clock.mark_round_start()
    round_id, state = start(hand)
    post_in_real_time(hand, clock, round_id, hand_trace(hand, state))
    with app.app_context():
        flags = {pid: sorted(f.code for f in found) for pid, found in flags_for(Scope()).items()}
    hand_id = _round(app, round_id).player_id
    assert hand_id not in flags
    assert list(flags.values()) == [["implausible_input", "server_too_fast"]]


def test_rounds_export_carries_credit_and_reason(clocked):
    from webapp.research.exports import ExportOptions, rounds_csv
    from webapp.research.filters import Scope

    app, clock = clocked
    bot, round_id, state = _started(app, clock, 50)
    bot.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": bot_points(bot, state)})
    with app.app_context():
        text = b"".join(rounds_csv(ExportOptions(Scope(include_excluded=True)))).decode()
    header, row = list(csv.reader(io.StringIO(text)))[:2]
    columns = dict(zip(header, row))
    assert columns["credited"] == "0" and columns["flag_reason"].startswith("t_ms_ahead_of_server")
