"""A Prolific participant end to end through the real game API (shipped classifier):
study link -> consent -> rounds via /api -> completion only once everything is stored; coming
back with the same PROLIFIC_PID resumes the same participant."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

COMPLETION = "https://app.prolific.com/submissions/complete?cc=C0DE"
PID = "60a1b2c3d4e5f60718293a4b"


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
    app.config["RECOGNITION_MIN_PROB"] = 1.01  # never recognised: rounds end by our skip
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
        study = make_study("pilot", app.config["DEFAULT_STIMULUS_SET"], rounds=2)
        study.completion_url = COMPLETION
        from webapp.extensions import db

        db.session.commit()
    return app


def _link(session_id: str) -> str:
    return f"/study/pilot?PROLIFIC_PID={PID}&STUDY_ID=st1&SESSION_ID={session_id}"


def _play(client, points: list[list[float]]) -> str:
    """One study round through the API: start, send points in two batches, skip."""
    round_id = str(uuid.uuid4())
    started = client.post("/api/rounds", json={"round_id": round_id, "study": "pilot"})
    assert started.status_code == 201, started.json
    half = len(points) // 2
    for start in (0, half):
        batch = client.post(f"/api/rounds/{round_id}/points",
                            json={"start_index": start, "points": points[start:start + half]})
        assert batch.status_code == 200, batch.json
    assert client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"}).json["status"] == "skipped"
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

    # The participant closes the tab and comes back from Prolific in a new browser: resumed.
    again = study_app.test_client()
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
