"""Recruited participation: study link, resume, consent, server-confirmed completion."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.research.conftest import add_round, make_player, make_set, make_study

LINK = "/study/pilot?PROLIFIC_PID=5f1a2b3c4d5e6f7a8b9c0d1e&STUDY_ID=S1&SESSION_ID=X1"


def _without_token(page: bytes) -> bytes:
    """A page with its (per-session) CSRF token blanked, to compare what two visitors see."""
    return re.sub(rb'name="csrf_token" value="[^"]*"', b"", page)


def _setup(app, rounds: int = 2, mode: str = "prolific", **settings):
    with app.app_context():
        make_set()
        make_study("pilot", "test-set", mode=mode, rounds=rounds, **settings)


def _participant(app, pid: str = "5f1a2b3c4d5e6f7a8b9c0d1e"):
    from webapp.extensions import db
    from webapp.models import Player

    with app.app_context():
        return db.session.scalar(select(Player).where(Player.external_id == pid))


def test_entry_captures_ids_and_resumes(app, client):
    _setup(app)
    first = client.get(LINK)
    assert first.status_code == 200 and b"I have read this and agree" in first.data
    assert _participant(app) is None  # nothing is stored before consent
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302
    player = _participant(app)
    assert (player.external_study_id, player.external_session_id) == ("S1", "X1")
    with client.session_transaction() as session:
        assert session["player"] == player.public_id
    # The same browser coming back from Prolific resumes the same player.
    again = client.get(LINK.replace("X1", "X2"))
    assert again.status_code == 302 and again.headers["Location"].endswith("/?study=pilot")
    assert _participant(app).external_session_id == "X2"
    # Another browser with the same PID sees the page a new id sees (no oracle), stores
    # nothing, and touches nothing of the first attempt's.
    other = app.test_client()
    elsewhere = other.get(LINK.replace("X1", "X3"))
    assert elsewhere.status_code == 200 and _without_token(elsewhere.data) == _without_token(first.data)
    with other.session_transaction() as session:
        assert "player" not in session
    assert _participant(app).external_session_id == "X2"
    from webapp.extensions import db
    from webapp.models import Player

    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Player)) == 1


def test_entry_without_id_or_with_a_bad_one(app, client):
    _setup(app)
    assert client.get("/study/pilot").status_code == 400
    assert client.get("/study/pilot?PROLIFIC_PID=<script>").status_code == 400
    assert client.get("/study/missing?PROLIFIC_PID=abc").status_code == 404


def test_public_study_link_is_the_open_game_behind_its_consent_page(app, client):
    from tests.research.conftest import make_player

    _setup(app, mode="public")
    response = client.get("/study/pilot")
    assert response.status_code == 302 and response.headers["Location"].startswith("/consent?next=")
    with app.app_context():
        public_id = make_player(consent_version=app.config["CONSENT_VERSION"]).public_id
    with client.session_transaction() as session:
        session["player"] = public_id
    response = client.get("/study/pilot")
    assert response.status_code == 302 and response.headers["Location"].endswith("/?study=pilot")


def test_consent_is_stored_with_the_study_version(app, client):
    _setup(app)
    client.get(LINK)
    refused = client.post("/study/pilot/consent", data={})
    assert refused.status_code == 400
    agreed = client.post("/study/pilot/consent", data={"agree": "yes"})
    assert agreed.status_code == 302 and agreed.headers["Location"].endswith("/?study=pilot")
    player = _participant(app)
    assert player.consent_version == app.config["CONSENT_VERSION"] and player.consented_at
    # Consented participants go straight to the game.
    assert client.get(LINK).headers["Location"].endswith("/?study=pilot")
    state = client.get("/study/pilot/state").json
    assert state == {"slug": "pilot", "name": "Study pilot", "mode": "prolific", "rounds_total": 2,
                     "rounds_done": 0, "consent_version": app.config["CONSENT_VERSION"],
                     "needs_consent": False, "completed": False,
                     "complete_url": "/study/pilot/complete", "withdraw_url": "/study/withdraw"}


def test_complete_only_when_every_round_is_saved(app, client):
    from webapp.extensions import db
    from webapp.models import Player, Round, Stimulus, Study

    _setup(app, rounds=2)
    client.get(LINK)
    client.post("/study/pilot/consent", data={"agree": "yes"})
    with app.app_context():
        player = db.session.scalar(select(Player))
        study = db.session.scalar(select(Study))
        stimulus = db.session.scalars(select(Stimulus)).first()
        r1 = add_round(player, stimulus, [(1.0, 1.0, 10.0 * i) for i in range(5)], study=study)
        r2 = add_round(player, stimulus, [(2.0, 2.0, 10.0 * i) for i in range(7)], study=study,
                       status="active")
    assert client.post("/study/pilot/complete", data="nope").status_code == 400
    waiting = client.post("/study/pilot/complete", json={"rounds": {r1: 5, r2: 8}})
    assert waiting.status_code == 409
    assert waiting.json["active_rounds"] == [r2] and waiting.json["rounds_needed"] == 1
    assert waiting.json["mismatched_rounds"] == [{"round_id": r2, "stored": 7, "sent": 8}]
    with app.app_context():
        db.session.get(Round, r2).status = "timeout"
        db.session.commit()
    short = client.post("/study/pilot/complete", json={"rounds": {r1: 5, r2: 8, "ghost": 1}})
    assert short.status_code == 409 and short.json["unknown_rounds"] == ["ghost"]
    assert _participant(app).completed_at is None
    done = client.post("/study/pilot/complete", json={"rounds": {r1: 5, r2: 7}})
    assert done.status_code == 200
    assert done.json == {"completed": True, "completion_url": "https://example.org/done?cc=ABC"}
    assert _participant(app).completed_at is not None
    # Coming back after completion shows the completion page, not the game.
    assert b"You have completed this study" in client.get(LINK).data


def test_complete_is_refused_to_non_participants(app, client):
    _setup(app)
    assert client.post("/study/pilot/complete", json={"rounds": {}}).status_code == 403
    assert client.get("/study/pilot/state").status_code == 403


def test_complete_endpoint_is_csrf_exempt_but_consent_form_is_not(tmp_path):
    from tests.conftest import make_test_app

    app = make_test_app(f"sqlite:///{tmp_path / 'csrf.sqlite3'}", tmp_path, WTF_CSRF_ENABLED=True)
    _setup(app)
    client = app.test_client()
    client.get(LINK)
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 400
    # No participant exists before a consent form with its token arrived.
    assert _participant(app) is None  # a refused consent form stores nobody
    assert client.post("/study/pilot/complete", json={"rounds": {}}).status_code == 403
    page = client.get(LINK).get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/study/pilot/consent", data={"agree": "yes", "csrf_token": token}).status_code == 302
    answer = client.post("/study/pilot/complete", json={"rounds": {}})
    assert answer.status_code == 409 and answer.json["rounds_needed"] == 2


def test_one_completion_rule_in_python_and_in_sql(app):
    """`study_credit` (what the page is told) and `rounds_played` (what the quota and the
    completion URL use) apply the same rule to every kind of ended round: a round counts when it
    was played to a result (recognised or timed out), credited, with at least 3 brush points."""
    from itertools import product

    from webapp.extensions import db
    from webapp.models import Player, Round, Stimulus, Study
    from webapp.services.rounds import rounds_played, study_credit

    _setup(app, rounds=100)
    with app.app_context():
        study = db.session.scalar(select(Study))
        stimulus = db.session.scalars(select(Stimulus)).first()
        expected = 0
        for status, credited, n in product(("recognized", "timeout", "skipped", "abandoned"),
                                           (True, False), (2, 3)):
            player = make_player(study, external_id=f"{status}-{credited}-{n}")
            rid = add_round(player, stimulus, [(1.0, 1.0, 10.0 * i) for i in range(n)],
                            study=study, status=status)
            db.session.get(Round, rid).credited = credited
            db.session.commit()
            verdict = study_credit(status, credited, n)
            assert rounds_played(db.session.get(Player, player.id), study) == int(verdict["counts"])
            assert (verdict["reason"] is None) == verdict["counts"]
            expected += verdict["counts"]
        assert expected == 2  # recognised and timed out, credited, 3 points
