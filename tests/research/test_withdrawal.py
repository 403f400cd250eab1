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
