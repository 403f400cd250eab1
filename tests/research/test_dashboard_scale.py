"""The dashboard at 100k rounds: a bounded number of SQL queries, whatever the data size.

Timing is not asserted (machines differ). What is asserted: each page runs a small fixed number
of statements (the same at 300 rounds and at 100k, so nothing runs per row), and every statement
that touches `brush_point` aggregates it (GROUP BY) instead of pulling points into Python - except
on the stimuli page, which reads the points of its one page of stimuli to draw their maps.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, insert

from tests.conftest import make_test_app
from tests.research.conftest import PASSWORD, login, make_set, make_study

N_ROUNDS = 100_000
N_PLAYERS = 4_000
POINTS_EVERY = 10  # every 10th round has a few points, enough for the flag queries to work
MAX_QUERIES = {"/research/dashboard": 15, "/research/participants": 15,
               "/research/dashboard?study=big": 15, "/research/participants?study=big": 15,
               "/research/stimuli?study=big": 15}


def _seed(app, n_rounds: int, n_players: int) -> None:
    from webapp.extensions import db
    from webapp.models import BrushPoint, Player, Round
    from webapp.research.auth import create_researcher

    with app.app_context():
        create_researcher("alice", PASSWORD, is_admin=True)  # sees studies made without an owner
        stimuli = make_set("big-set", n=300)
        study = make_study("big", "big-set", mode="public")
        stimulus_info = [(s.id, s.category) for s in stimuli]
        start = datetime(2026, 5, 1)
        players = [{"public_id": str(uuid.uuid4()), "pseudonym": f"p{i}", "created_at": start,
                    "address_hash": f"{i % 997:064x}"} for i in range(n_players)]
        db.session.execute(insert(Player), players)
        statuses = ("recognized", "timeout", "skipped")
        rounds, points = [], []
        for i in range(n_rounds):
            sid, category = stimulus_info[i % len(stimulus_info)]
            rid = str(uuid.UUID(int=i + 1))
            rounds.append({"id": rid, "player_id": 1 + i % n_players, "stimulus_id": sid,
                           "study_id": study.id if i % 2 else None, "category": category,
                           "status": statuses[i % 3], "started_at": start + timedelta(seconds=i),
                           "duration_ms": 1000 + i % 9000, "points": 50, "n_points": 3 if i % POINTS_EVERY == 0 else 0,
                           "model_version": "m", "settings": {"timer_ms": 15000}})
            if i % POINTS_EVERY == 0:
                points += [{"round_id": rid, "idx": k, "x": 1.0 + k, "y": 2.0, "t_ms": 20.0 * k,
                            "received_at": start} for k in range(3)]
            if len(rounds) == 20_000:
                db.session.execute(insert(Round), rounds)
                db.session.execute(insert(BrushPoint), points)
                rounds, points = [], []
        if rounds:
            db.session.execute(insert(Round), rounds)
            db.session.execute(insert(BrushPoint), points)
        db.session.commit()


def _statements(app) -> dict[str, list[str]]:
    """The SQL statements each dashboard page ran."""
    from webapp.extensions import db

    with app.app_context():
        engine = db.engine
    client = app.test_client()
    login(client)
    results = {}
    for url in MAX_QUERIES:
        seen: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = client.get(url)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200, (url, response.data[:500])
        results[url] = seen
    return results


@pytest.fixture(scope="module")
def big_app(tmp_path_factory):
    """One SQLite database with 100k rounds, shared by this module's tests (seeding is the slow
    part; the tests only read)."""
    folder = tmp_path_factory.mktemp("big")
    app = make_test_app(f"sqlite:///{folder / 'big.sqlite3'}", folder)
    _seed(app, n_rounds=N_ROUNDS, n_players=N_PLAYERS)
    return app


def test_dashboard_queries_do_not_grow_with_data(big_app, tmp_path):
    small = make_test_app(f"sqlite:///{tmp_path / 'small.sqlite3'}", tmp_path)
    _seed(small, n_rounds=300, n_players=40)
    small_sql, big_sql = _statements(small), _statements(big_app)
    for url, limit in MAX_QUERIES.items():
        assert len(big_sql[url]) <= limit, (url, len(big_sql[url]))
        assert len(big_sql[url]) == len(small_sql[url]), url
        for statement in big_sql[url]:
            if "FROM brush_point" in statement:
                # Aggregated in SQL, or (the stimuli page) the points of one page of stimuli.
                assert "GROUP BY" in statement or "round.stimulus_id IN" in statement, statement


def test_dashboard_numbers_at_scale(big_app):
    client = big_app.test_client()
    login(client)
    page = client.get("/research/dashboard").get_data(as_text=True)
    assert f'<span class="value" id="stat-rounds">{N_ROUNDS}</span>' in page
    assert f'<span class="value" id="stat-participants">{N_PLAYERS}</span>' in page
    study_page = client.get("/research/dashboard?study=big").get_data(as_text=True)
    assert f'<span class="value" id="stat-rounds">{N_ROUNDS // 2}</span>' in study_page
    participants = client.get("/research/participants?page=3").get_data(as_text=True)
    assert "page 3 of 80" in participants
