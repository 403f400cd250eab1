"""`Stimulus.play_count` (webapp/services/coverage.py): the count sampling balances on, kept in
the transactions that change it, equal at every step to counting the rounds themselves."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from tests.conftest import make_test_app
from tests.game.test_expiry import AFTER, GRACE, TIMER, _app
from tests.game.conftest import consented_client, start
from webapp.extensions import db
from webapp.models import Player, Stimulus
from webapp.research.withdrawal import withdraw_player
from webapp.services.coverage import counted_plays


def _stored(app) -> dict[int, int]:
    with app.app_context():
        return {sid: n for sid, n in db.session.execute(sa.select(Stimulus.id, Stimulus.play_count)) if n}


def _counted(app) -> dict[int, int]:
    with app.app_context():
        return counted_plays()


def test_the_counter_follows_starts_repeats_abandons_and_withdrawals(make_game_app):
    app, clock = _app(make_game_app)
    players = [consented_client(app) for _ in range(3)]
    rounds = [start(p) for p in players for _ in range(2)]
    # a page re-posting the same round id creates nothing and counts nothing
    again = players[0].post("/api/rounds", json={"round_id": rounds[0][0]})
    assert again.status_code == 200
    assert sum(_stored(app).values()) == 6 and _stored(app) == _counted(app)
    players[1].post(f"/api/rounds/{rounds[2][0]}/end", json={"reason": "skip"})  # skipped: still a play
    clock.advance(TIMER + GRACE + AFTER + 1)
    assert app.test_cli_runner().invoke(args=["rounds", "expire"]).output.startswith("5 ")
    assert sum(_stored(app).values()) == 1 and _stored(app) == _counted(app)
    start(players[2])
    with app.app_context():
        for player in db.session.scalars(sa.select(Player)).all():
            withdraw_player(player)
    assert _stored(app) == {} and _counted(app) == {}
    assert "0 stimulus play count(s) corrected" in app.test_cli_runner().invoke(args=["rounds", "recount"]).output


def test_recount_repairs_a_wrong_counter(make_game_app):
    app, _ = _app(make_game_app)
    start(consented_client(app))
    with app.app_context():
        db.session.execute(sa.update(Stimulus).values(play_count=7))
        db.session.commit()
    assert "204 stimulus play count(s) corrected" in app.test_cli_runner().invoke(args=["rounds", "recount"]).output
    assert sum(_stored(app).values()) == 1 and _stored(app) == _counted(app)


def test_starting_a_round_does_not_count_every_round_ever_played(game_app):
    """Sampling ran a GROUP BY over all rounds on every start: a start took 4.8 ms on a fresh
    SQLite database and 67.9 ms with 100,000 stored rounds (`python -m benchmarks round_start`)."""
    client = consented_client(game_app)
    start(client)
    statements: list[str] = []
    with game_app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        start(client)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert statements and not [s for s in statements if "GROUP BY" in s.upper()]


def test_the_migration_fills_the_counter_from_stored_rounds(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path)
    with app.app_context():
        downgrade(revision="i9ux_0001")  # make_test_app migrated to the head
        conn = db.session.connection()
        t = {"t": "2026-11-28 00:00:00"}
        conn.execute(sa.text("INSERT INTO stimulus_set (name, description, source, created_at) "
                             "VALUES ('s', '', '', :t)"), t)
        for key in ("a", "b", "c"):
            conn.execute(sa.text("INSERT INTO stimulus (set_id, key, category, width, height, image_png, "
                                 "created_at) SELECT id, :k, 'cat', 28, 28, :png, :t FROM stimulus_set"),
                         {"k": key, "png": b"png", **t})
        conn.execute(sa.text("INSERT INTO player (public_id, pseudonym, created_at, excluded, total_score, "
                             "best_round, rounds_played) VALUES ('p', 'P', :t, false, 0, 0, 0)"),
                     {"t": "2026-11-28 00:00:00"})
        pid = conn.execute(sa.text("SELECT id FROM player")).scalar()
        first, second, _ = conn.execute(sa.text("SELECT id FROM stimulus ORDER BY id")).scalars().all()
        for sid, status in ((first, "timeout"), (first, "recognized"), (first, "abandoned"), (second, "skipped")):
            conn.execute(sa.text("INSERT INTO round (id, player_id, stimulus_id, category, status, started_at, "
                                 "points, n_points, model_version, settings, credited) VALUES (:id, :p, :s, 'x', "
                                 ":st, :t, 0, 0, 'v', '{}', true)"),
                         {"id": str(uuid.uuid4()), "p": pid, "s": sid, "st": status, "t": "2026-11-28 00:00:00"})
        db.session.commit()
        upgrade()
        assert _stored(app) == {first: 2, second: 1}
        db.session.remove()
        db.drop_all()
        db.session.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.engine.dispose()
