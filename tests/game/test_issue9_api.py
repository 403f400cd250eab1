"""API contracts added for issue 9: the device class stored with a round, a Skip carried by
the last points batch, the recognition rule in the round state, the player's own leaderboard
row, and a study restricted to a chosen number of stimuli."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.game.conftest import consented_client


def _round(client, **body):
    answer = client.post("/api/rounds", json={"round_id": str(uuid.uuid4()), **body})
    assert answer.status_code == 201, answer.json
    return answer.json


def _stored(app, round_id):
    from webapp.extensions import db
    from webapp.models import Round

    with app.app_context():
        rnd = db.session.get(Round, round_id)
        return rnd.device_class, rnd.status, rnd.points, rnd.n_points


def test_device_class_is_stored_when_known_and_null_otherwise(game_app):
    client = consented_client(game_app)
    for sent, kept in [("phone", "phone"), ("tablet", "tablet"), ("desktop", "desktop"),
                       ("smartwatch", None), (7, None), (None, None)]:
        st = _round(client, device_class=sent)
        assert _stored(game_app, st["round_id"])[0] == kept
        client.post(f"/api/rounds/{st['round_id']}/end", json={"reason": "skip"})
    st = _round(client)  # absent: unknown
    assert _stored(game_app, st["round_id"])[0] is None


def test_points_batch_with_end_skip_stores_the_points_and_never_credits(game_app):
    """Points that would win, sent together with the Skip pressed after them: stored, round
    skipped, 0 points, no guess made from them."""
    from webapp.extensions import db
    from webapp.models import Guess

    client = consented_client(game_app)
    st = _round(client)
    w, h = st["stimulus"]["width"], st["stimulus"]["height"]
    points = [[x + 0.5, y + 0.5, 10.0 * (x + y * w)] for y in range(h) for x in range(w)][:400]
    answer = client.post(f"/api/rounds/{st['round_id']}/points",
                         json={"start_index": 0, "points": points, "end": "skip"})
    assert answer.status_code == 200 and answer.json["status"] == "skipped"
    assert _stored(game_app, st["round_id"])[1:] == ("skipped", 0, 400)
    with game_app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Guess)
                                 .where(Guess.round_id == st["round_id"])) == 0
    bad = client.post(f"/api/rounds/{_round(client)['round_id']}/points",
                      json={"start_index": 0, "points": [[1.0, 1.0, 5.0]], "end": "win"})
    assert bad.status_code == 400 and "end" in bad.json["error"]


def test_round_state_carries_the_rule_and_the_servers_end_time(game_app):
    client = consented_client(game_app)
    st = _round(client)
    assert st["settings"]["recognition_min_prob"] == game_app.config["RECOGNITION_MIN_PROB"]
    assert st["duration_ms"] is None
    ended = client.post(f"/api/rounds/{st['round_id']}/end", json={"reason": "skip"}).json
    assert ended["duration_ms"] == ended["elapsed_ms"] >= 0


def test_leaderboard_marks_the_callers_row(game_app):
    mine, other = consented_client(game_app), consented_client(game_app)
    for client in (mine, other):
        st = _round(client)
        client.post(f"/api/rounds/{st['round_id']}/end", json={"reason": "skip"})
    entries = mine.get("/api/leaderboard").json["entries"]
    assert sum(e["me"] for e in entries) == 1 and len(entries) == 2
    assert game_app.test_client().get("/api/leaderboard").json["entries"][0]["me"] is False


def test_a_study_uses_only_its_chosen_stimuli(game_app):
    """n_stimuli picks that many stimuli once (spread over the categories, the same on every
    save), and rounds of the study are only ever served from them."""
    from webapp.extensions import db
    from webapp.models import Stimulus
    from webapp.research.studies import StudyInput, default_settings, save_study

    with game_app.app_context():
        settings = {**default_settings(), "n_stimuli": 17, "target_rounds_per_stimulus": 2}
        data = StudyInput(slug="pilot", name="Pilot", set_names=[game_app.config["DEFAULT_STIMULUS_SET"]],
                          settings=dict(settings))
        study = save_study(data)
        chosen = list(study.settings["stimulus_ids"])
        categories = db.session.scalars(select(Stimulus.category).where(Stimulus.id.in_(chosen))).all()
        assert len(chosen) == 17 and len(set(categories)) == 17  # one drawing of each category
        again = save_study(StudyInput(slug="pilot", name="Pilot", set_names=data.set_names,
                                      settings=dict(settings)), study)
        assert again.settings["stimulus_ids"] == chosen
        try:
            save_study(StudyInput(slug="big", name="Big", set_names=data.set_names,
                                  settings={**settings, "n_stimuli": 10_000}))
            raise AssertionError("a study asking for more stimuli than its sets hold was saved")
        except ValueError as exc:
            assert "fewer than the 10000" in str(exc)
            db.session.rollback()
    client = consented_client(game_app)
    served = set()
    for _ in range(40):
        st = _round(client, study="pilot")
        served.add(st["stimulus"]["id"])
        client.post(f"/api/rounds/{st['round_id']}/end", json={"reason": "skip"})
    assert served <= set(chosen) and len(served) == 17  # least-played first within the subset
