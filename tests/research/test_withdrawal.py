"""Withdrawal removes a participant from every table and every export."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import func, select


def _traces(app, player_id: int, round_ids: list[str]) -> dict[str, int]:
    from webapp.extensions import db
    from webapp.models import BrushPoint, Guess, Player, Round

    with app.app_context():
        return {
            "player": db.session.scalar(select(func.count()).select_from(Player).where(Player.id == player_id)),
            "round": db.session.scalar(select(func.count()).select_from(Round).where(Round.player_id == player_id)),
            "brush_point": db.session.scalar(select(func.count()).select_from(BrushPoint)
                                             .where(BrushPoint.round_id.in_(round_ids))),
            "guess": db.session.scalar(select(func.count()).select_from(Guess).where(Guess.round_id.in_(round_ids))),
        }


def _player(app, player_id):
    from webapp.extensions import db
    from webapp.models import Player, Round
    from webapp.research.codes import participant_code

    with app.app_context():
        player = db.session.get(Player, player_id)
        rounds = list(db.session.scalars(select(Round.id).where(Round.player_id == player_id)))
        return player.public_id, participant_code(player.public_id), player.external_id, rounds


def _assert_gone_everywhere(app, research_client, player_id, code, external_id, rounds):
    assert _traces(app, player_id, rounds) == {"player": 0, "round": 0, "brush_point": 0, "guess": 0}
    bundle = zipfile.ZipFile(io.BytesIO(
        research_client.get("/research/export/bundle?include_external_ids=1&include_excluded=1").data))
    for name in bundle.namelist():
        content = bundle.read(name)
        for secret in [code, external_id, *rounds]:
            assert secret.encode() not in content, (name, secret)


def test_participant_withdraws_from_their_session(app, client, research_client, seeded):
    player_id = seeded.player_ids[0]
    public_id, code, external_id, rounds = _player(app, player_id)
    assert all(_traces(app, player_id, rounds).values())
    with client.session_transaction() as session:
        session["player"] = public_id
    confirm = client.get("/study/withdraw")
    assert confirm.status_code == 200 and b"Delete all my data" in confirm.data
    done = client.post("/study/withdraw", headers={"Accept": "application/json"})
    assert done.json == {"withdrawn": True}
    with client.session_transaction() as session:
        assert "player" not in session
    _assert_gone_everywhere(app, research_client, player_id, code, external_id, rounds)
    # The other participants are untouched.
    assert _traces(app, seeded.player_ids[1], _player(app, seeded.player_ids[1])[3])["round"] == 2


def test_researcher_carries_out_a_withdrawal(app, research_client, seeded):
    player_id = seeded.player_ids[1]
    _, code, external_id, rounds = _player(app, player_id)
    unconfirmed = research_client.post(f"/research/participants/{player_id}/withdraw", data={})
    assert unconfirmed.status_code == 302 and _traces(app, player_id, rounds)["player"] == 1
    research_client.post(f"/research/participants/{player_id}/withdraw", data={"confirm": "delete"})
    _assert_gone_everywhere(app, research_client, player_id, code, external_id, rounds)


def test_withdraw_without_data(client):
    assert b"no data linked" in client.get("/study/withdraw").data
    assert client.post("/study/withdraw", headers={"Accept": "application/json"}).json == {"withdrawn": False}


def test_withdrawal_leaves_no_copy_in_the_sqlite_files(tmp_path):
    """Issue 8: the withdrawn participant's Prolific id and pseudonym were still in the -wal file
    (12 copies) until a checkpoint. Grep every database file after the withdrawal."""
    from tests.conftest import make_test_app
    from tests.research.conftest import add_round, human_points, make_set, make_study
    from webapp.extensions import db
    from webapp.models import Player

    path = tmp_path / "withdraw.sqlite3"
    app = make_test_app(f"sqlite:///{path}", tmp_path)
    pid, pseudonym = "5e6f7a8b9c0d1e2f3a4b5c6d", "VanishingNarwhal77"
    with app.app_context():
        stimuli = make_set()
        study = make_study("pilot", "test-set")
        player = Player(public_id="0f6a2b0e-5d7c-4f1e-9a3b-2c8d7e6f5a4b", pseudonym=pseudonym,
                        study_id=study.id, external_id=pid)
        db.session.add(player)
        db.session.commit()
        for i in range(3):
            add_round(player, stimuli[i], human_points(10, seed=i), study=study)
        for _ in range(5):  # more writes of the row, as a participant's progress makes
            player.total_score += 1
            db.session.commit()
        player_id = player.id
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    before = b"".join(f.read_bytes() for f in files if f.exists())
    assert pid.encode() in before and pseudonym.encode() in before
    client = app.test_client()
    with client.session_transaction() as session:
        session["player"] = "0f6a2b0e-5d7c-4f1e-9a3b-2c8d7e6f5a4b"
    assert client.post("/study/withdraw", headers={"Accept": "application/json"}).json == {"withdrawn": True}
    for f in files:
        if f.exists():
            content = f.read_bytes()
            assert pid.encode() not in content and pseudonym.encode() not in content, f.name
    with app.app_context():
        assert db.session.get(Player, player_id) is None
        db.engine.dispose()
