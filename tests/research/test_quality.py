"""Data-quality flags: each rule fires on the behaviour it names and not on ordinary play."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from tests.research.conftest import add_round, human_points, make_player, make_set


def _flags(app, **kwargs):
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    with app.app_context():
        return {pid: sorted(f.code for f in flags) for pid, flags in flags_for(Scope(), **kwargs).items()}


def test_ordinary_players_are_not_flagged(app, seeded):
    assert _flags(app) == {}


def test_each_rule(app):
    with app.app_context():
        stimuli = make_set()
        fast, lazy, replay, human = (make_player() for _ in range(4))
        add_round(fast, stimuli[0], [(float(i % 28), 3.0, 0.5 * i) for i in range(30)])
        for i in range(4):
            add_round(lazy, stimuli[i % 3], [(1.0, 1.0, 0.0)] if i < 3 else human_points(20, i))
        path = human_points(25, seed=7)
        add_round(replay, stimuli[0], path)
        add_round(replay, stimuli[1], path)
        for i in range(4):
            add_round(human, stimuli[i % 3], human_points(25, seed=100 + i))
        ids = {"fast": fast.id, "lazy": lazy.id, "replay": replay.id, "human": human.id}
    flags = _flags(app)
    assert flags[ids["fast"]] == ["too_fast"]
    assert flags[ids["lazy"]] == ["few_points"]
    assert flags[ids["replay"]] == ["repeated_path"]
    assert ids["human"] not in flags
    # Restricting to some players (one dashboard page) gives the same answer for them.
    assert _flags(app, player_ids=[ids["fast"], ids["human"]]) == {ids["fast"]: ["too_fast"]}


def test_address_burst(app):
    with app.app_context():
        stimuli = make_set()
        start = datetime(2026, 5, 1, 10, 0)
        crowd = [make_player(address_hash="a" * 64, created_at=start + timedelta(minutes=i)) for i in range(5)]
        for player in crowd:
            add_round(player, stimuli[0], human_points(20, player.id), address_hash="a" * 64, started=start)
        spread = [make_player(address_hash="b" * 64, created_at=start + timedelta(hours=2 * i)) for i in range(5)]
        ids_crowd, ids_spread = {p.id for p in crowd}, {p.id for p in spread}
    flags = _flags(app)
    assert {pid for pid, codes in flags.items() if "address_burst" in codes} == ids_crowd
    assert not ids_spread & set(flags)


def test_imported_rounds_are_not_judged(app, tmp_path):
    from webapp.research.legacy_import import import_clicks

    with app.app_context():
        make_set()
    path = tmp_path / "old.csv"
    path.write_text("stimulus,trial,x,y\n" + "".join(f"cat-000,{t},{i % 20},1\n" for t in range(3) for i in range(30)))
    with app.app_context():
        import_clicks(path, "test-set")
    assert _flags(app) == {}


def test_participants_page_shows_flags_and_exclusion_toggle(app, research_client, seeded):
    from webapp.extensions import db
    from webapp.models import Player, Stimulus

    with app.app_context():
        bot = make_player(external_id="BOT1")
        add_round(bot, db.session.scalars(select(Stimulus)).first(), [(1.0, 1.0, 0.0)] * 30)
        bot_id = bot.id
    page = research_client.get("/research/participants?flagged=1").get_data(as_text=True)
    assert "BOT1" in page and "too_fast" in page and "PID0" not in page
    response = research_client.post(f"/research/participants/{bot_id}/exclude",
                                     data={"excluded": "1", "next": "/research/participants"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/research/participants")
    with app.app_context():
        assert db.session.get(Player, bot_id).excluded is True
