"""A Prolific participant end to end through the real game API (shipped classifier):
study link -> consent -> rounds via /api -> completion only once everything is stored; coming
back in the same browser resumes the same participant; another browser with that PROLIFIC_PID
gets nothing of theirs, and cannot lock them out (it gets an attempt of its own)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

COMPLETION = "https://app.prolific.com/submissions/complete?cc=C0DE"
PID = "60a1b2c3d4e5f60718293a4b"
#: the study's timer: short, so a test round can end by time (skips never count)
TIMER_MS = 1000


@pytest.fixture(scope="module")
def classifier():
    from models import load_classifier

    return load_classifier(device="cpu")


@pytest.fixture
def study_app(app, classifier):
    """The app with the shipped default stimuli, the shipped classifier and a 2-round study."""
    from tests.research.conftest import make_study
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app.extensions["classifier"] = classifier
    app.config["RECOGNITION_MIN_PROB"] = 1.01  # never recognised: rounds end by their timer
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
        study = make_study("pilot", app.config["DEFAULT_STIMULUS_SET"], rounds=2,
                           timer_ms=TIMER_MS)
        study.completion_url = COMPLETION
        from webapp.extensions import db

        db.session.commit()
    return app


def _link(session_id: str) -> str:
    return f"/study/pilot?PROLIFIC_PID={PID}&STUDY_ID=st1&SESSION_ID={session_id}"


def _play(client, points: list[list[float]]) -> str:
    """One study round through the API: start, send points in two batches, end by the timer
    (the server accepts the page's timeout within a second of the timer, here at once)."""
    round_id = str(uuid.uuid4())
    started = client.post("/api/rounds", json={"round_id": round_id, "study": "pilot"})
    assert started.status_code == 201, started.json
    half = len(points) // 2
    for start in (0, half):
        batch = client.post(f"/api/rounds/{round_id}/points",
                            json={"start_index": start, "points": points[start:start + half]})
        assert batch.status_code == 200, batch.json
    ended = client.post(f"/api/rounds/{round_id}/end", json={"reason": "timeout"}).json
    assert ended["status"] == "timeout" and ended["study_credit"] == {"counts": True, "reason": None}
    return round_id


def test_prolific_round_trip(study_app):
    from webapp.extensions import db
    from webapp.models import Player, Round

    client = study_app.test_client()
    assert b"I have read this and agree" in client.get(_link("x1")).data
    # No rounds before consent.
    refused = client.post("/api/rounds", json={"round_id": str(uuid.uuid4()), "study": "pilot"})
    assert refused.status_code == 403
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302

    points = [[4.0 + i, 5.0 + (i % 7), 20.0 + 16.0 * i] for i in range(10)]
    first = _play(client, points)
    assert client.get("/study/pilot/state").json["rounds_done"] == 1
    early = client.post("/study/pilot/complete", json={"rounds": {first: 10}})
    assert early.status_code == 409 and early.json["rounds_needed"] == 1
    assert "completion_url" not in early.json

    # Someone else's browser with the same PROLIFIC_PID sees none of it: the page a new id sees.
    stranger = study_app.test_client()
    page = stranger.get(_link("x9"))
    assert page.status_code == 200 and b"done already" not in page.data
    assert stranger.get("/study/pilot/state").status_code == 403
    # The participant closes the tab and comes back from Prolific in the same browser: resumed.
    again = client
    resumed = again.get(_link("x2"))
    assert resumed.status_code == 302 and resumed.headers["Location"].endswith("/?study=pilot")
    assert again.get("/study/pilot/state").json["rounds_done"] == 1
    second = _play(again, points[:6])

    # The page claims one more point than the server got: not complete, and it says which.
    lost = again.post("/study/pilot/complete", json={"rounds": {first: 10, second: 7}})
    assert lost.status_code == 409
    assert lost.json["mismatched_rounds"] == [{"round_id": second, "stored": 6, "sent": 7}]
    done = again.post("/study/pilot/complete", json={"rounds": {first: 10, second: 6}})
    assert done.status_code == 200 and done.json["completion_url"] == COMPLETION
    # The quota is reached: the API refuses a third round.
    third = again.post("/api/rounds", json={"round_id": str(uuid.uuid4()), "study": "pilot"})
    assert third.status_code == 409

    with study_app.app_context():
        players = db.session.scalars(select(Player).where(Player.external_id == PID)).all()
        assert len(players) == 1 and players[0].completed_at is not None
        assert players[0].external_session_id == "x2"
        stored = dict(db.session.execute(select(Round.id, Round.n_points)
                                         .where(Round.player_id == players[0].id)).all())
    assert stored == {first: 10, second: 6}


def _join(client, pid: str) -> None:
    assert client.get(f"/study/pilot?PROLIFIC_PID={pid}").status_code == 200
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302


def test_knowing_a_prolific_id_is_not_enough_to_act_as_that_participant(study_app):
    """Issue 8: a second browser with the victim's PROLIFIC_PID used to read their state, get the
    completion URL and withdraw (delete) their data."""
    from webapp.extensions import db
    from webapp.models import Player

    victim = study_app.test_client()
    _join(victim, PID)
    points = [[4.0 + i, 5.0 + (i % 7), 20.0 + 16.0 * i] for i in range(6)]
    rounds = {_play(victim, points): 6, _play(victim, points): 6}

    attacker = study_app.test_client()
    page = attacker.get(_link("evil"))
    # The page a browser sees for an id nobody has used: no oracle, nothing of the victim's.
    assert page.status_code == 200 and b"done already" not in page.data
    assert COMPLETION.encode() not in page.data
    assert attacker.get("/study/pilot/state").status_code == 403
    # Consenting gives the attacker an attempt of their own, not the participant's.
    assert attacker.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302
    assert attacker.get("/study/pilot/state").json["rounds_done"] == 0
    stolen = attacker.post("/study/pilot/complete", json={"rounds": rounds})
    assert stolen.status_code == 409 and "completion_url" not in stolen.json
    assert sorted(stolen.json["unknown_rounds"]) == sorted(rounds)
    assert attacker.get(f"/api/rounds/{next(iter(rounds))}").status_code == 403
    # Withdrawing deletes the attacker's own attempt only.
    assert attacker.post("/study/withdraw", headers={"Accept": "application/json"}).json == {"withdrawn": True}
    with study_app.app_context():
        players = db.session.scalars(select(Player).where(Player.external_id == PID)).all()
        assert len(players) == 1 and players[0].completed_at is None
        assert len(players[0].binding_hash) == 64  # only a hash of the browser's secret is stored
    # The participant's own browser is unaffected.
    done = victim.post("/study/pilot/complete", json={"rounds": rounds})
    assert done.status_code == 200 and done.json["completion_url"] == COMPLETION


def test_rounds_skipped_through_do_not_earn_the_completion_url(study_app):
    """Issue 8: a made-up PROLIFIC_PID played two skipped 0-point rounds and got the completion
    URL in 0.18 s; issue 21: skips of 3.8 s and 5 s counted. Rounds count only when played to a
    result (recognised or timed out) with brush points; a skip never counts."""
    client = study_app.test_client()
    _join(client, "5f00000000000000000000a1")
    skipped = {}
    for _ in range(2):
        rid = str(uuid.uuid4())
        assert client.post("/api/rounds", json={"round_id": rid, "study": "pilot"}).status_code == 201
        assert client.post(f"/api/rounds/{rid}/end", json={"reason": "skip"}).status_code == 200
        skipped[rid] = 0
    refused = client.post("/study/pilot/complete", json={"rounds": skipped})
    assert refused.status_code == 409 and refused.json["rounds_needed"] == 2
    assert "completion_url" not in refused.json
    # Brushing a few points but skipping at once does not count either ...
    rid = str(uuid.uuid4())
    client.post("/api/rounds", json={"round_id": rid, "study": "pilot"})
    client.post(f"/api/rounds/{rid}/points", json={"start_index": 0, "points": [[1, 1, 5], [2, 2, 9], [3, 3, 14]]})
    ended = client.post(f"/api/rounds/{rid}/end", json={"reason": "skip"}).json
    assert ended["study_credit"] == {"counts": False, "reason": "skipped rounds do not count toward the study"}
    skipped[rid] = 3
    assert client.get("/study/pilot/state").json["rounds_done"] == 0
    # ... while rounds really played do, and only then is the URL given.
    points = [[4.0 + i, 5.0 + (i % 7), 20.0 + 16.0 * i] for i in range(6)]
    played = {_play(client, points): 6, _play(client, points): 6}
    done = client.post("/study/pilot/complete", json={"rounds": {**skipped, **played}})
    assert done.status_code == 200 and done.json["completion_url"] == COMPLETION


def test_a_crafted_study_link_does_not_replace_a_public_players_identity(study_app):
    """Issue 8: opening /study/SLUG?PROLIFIC_PID=... (a GET, e.g. from a link on another site)
    switched a public player's cookie to a new participant, and their own round answered 403."""
    player = study_app.test_client()
    player.get("/consent")
    required = player.get("/api/me").json["consent_required"]
    agreed = player.post("/api/consent", json={"version": required, "agree": True})
    assert agreed.status_code == 200
    me = agreed.json
    rid = str(uuid.uuid4())
    assert player.post("/api/rounds", json={"round_id": rid}).status_code == 201
    assert player.get("/study/pilot?PROLIFIC_PID=0123456789abcdef01234567").status_code == 200
    batch = player.post(f"/api/rounds/{rid}/points", json={"start_index": 0, "points": [[1, 1, 5]]})
    assert batch.status_code == 200
    assert player.get("/api/me").json["pseudonym"] == me["pseudonym"]


def test_rounds_the_game_did_not_credit_or_that_were_abandoned_do_not_count(study_app):
    """A study round counts toward completion only if the game credited it: a round whose input
    failed the anti-cheat (here: 5 s of drawing claimed 300 ms after the start) and a round left
    by its page (ended by the server as abandoned) earn no progress, even with enough points and
    time. Runs on the server clock the test moves, under the shipped anti-cheat tolerances."""
    from tests.conftest import shipped_settings
    from tests.game.anticheat_helpers import FakeClock

    clock = FakeClock()
    study_app.config.update(CLOCK=clock.now, **shipped_settings("CLOCK_TOLERANCE_MS", "MAX_POINTER_SPEED"))
    client = study_app.test_client()
    _join(client, "5f00000000000000000000c1")

    def start() -> str:
        rid = str(uuid.uuid4())
        assert client.post("/api/rounds", json={"round_id": rid, "study": "pilot"}).status_code == 201
        return rid

    def brush(rid: str, spacing_ms: float) -> dict:
        points = [[4.0 + i, 5.0, 10.0 + spacing_ms * i] for i in range(6)]
        answer = client.post(f"/api/rounds/{rid}/points", json={"start_index": 0, "points": points})
        assert answer.status_code == 200, answer.json
        return answer.json

    def end_by_timer(rid: str) -> dict:
        clock.advance(TIMER_MS)
        ended = client.post(f"/api/rounds/{rid}/end", json={"reason": "timeout"}).json
        assert ended["status"] == "timeout"
        return ended

    forged = start()
    clock.advance(300)
    assert brush(forged, spacing_ms=1000)["credited"] is False
    assert end_by_timer(forged)["study_credit"]["counts"] is False
    left = start()
    clock.advance(300)
    assert brush(left, spacing_ms=16)["credited"] is True
    clock.advance(study_app.config["ROUND_TIMER_MS"] + study_app.config["TIMEOUT_GRACE_MS"]
                  + study_app.config["ABANDON_AFTER_MS"] + 1000)
    skipped_late = start()  # starting a round sweeps the abandoned one
    assert client.get(f"/api/rounds/{left}").json["status"] == "abandoned"
    assert client.get(f"/api/rounds/{left}").json["study_credit"] == {
        "counts": False, "reason": "the round was left unfinished"}
    assert client.get("/study/pilot/state").json["rounds_done"] == 0
    clock.advance(300)
    assert brush(skipped_late, spacing_ms=16)["credited"] is True
    clock.advance(500)  # a credited round that is skipped does not count, however long it took
    assert client.post(f"/api/rounds/{skipped_late}/end", json={"reason": "skip"}).json["status"] == "skipped"
    honest = start()
    clock.advance(300)
    assert brush(honest, spacing_ms=16)["credited"] is True
    end_by_timer(honest)
    assert client.get("/study/pilot/state").json["rounds_done"] == 1
    refused = client.post("/study/pilot/complete",
                          json={"rounds": {forged: 6, left: 6, skipped_late: 6, honest: 6}})
    assert refused.status_code == 409 and refused.json["rounds_needed"] == 1
