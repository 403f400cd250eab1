"""Many requests at once, on SQLite and PostgreSQL: nothing lost, nothing doubled, never a 500,
and the classifier never runs while the database is locked for writing.

Each test releases its requests together from a barrier, in threads with their own test clients
(as gunicorn's threads would serve them).
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import sqlalchemy as sa

from models import render
from webapp.extensions import db
from webapp.models import Round
from webapp.services.pipeline import get_pipeline
from webapp.services.stimuli import stimulus_pixels

from .conftest import consented_client, ink_points, start


def _together(n: int, job) -> list:
    """Run ``job(i)`` in ``n`` threads released at the same moment; return their results (an
    exception a request raised, which a server would have answered with a 500, is the result)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = job(i)
        except Exception as exc:  # noqa: BLE001 - reported by the test's assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _statuses(answers: list) -> list:
    return [getattr(a, "status_code", repr(a)[:120]) for a in answers]


def _clones(app, client, n: int) -> list:
    """``n`` test clients carrying ``client``'s session cookie (one player, several tabs)."""
    cookie = client.get_cookie("session")
    clones = []
    for _ in range(n):
        clone = app.test_client()
        clone.set_cookie("session", cookie.value)
        clones.append(clone)
    return clones


def _count(app, sql: str, **params) -> int:
    with app.app_context():
        return db.session.execute(sa.text(sql), params).scalar_one()


def test_same_round_id_posted_six_times_at_once_creates_one_round(game_app):
    client = consented_client(game_app)
    tabs = _clones(game_app, client, 6)
    round_id = str(uuid.uuid4())
    answers = _together(6, lambda i: tabs[i].post("/api/rounds", json={"round_id": round_id}))
    assert sorted(map(str, _statuses(answers))) == ["200"] * 5 + ["201"]
    assert len({a.json["stimulus"]["id"] for a in answers}) == 1
    assert _count(game_app, "SELECT count(*) FROM round WHERE id = :r", r=round_id) == 1


def test_same_batch_posted_six_times_at_once_is_stored_once(game_app):
    client = consented_client(game_app)
    round_id, state = start(client)
    batch = ink_points(client, state)[:8]
    tabs = _clones(game_app, client, 6)
    answers = _together(6, lambda i: tabs[i].post(f"/api/rounds/{round_id}/points",
                                                  json={"start_index": 0, "points": batch}))
    assert _statuses(answers) == [200] * 6
    assert {a.json["n_points"] for a in answers} == {8}
    assert _count(game_app, "SELECT count(*) FROM brush_point WHERE round_id = :r", r=round_id) == 8
    assert _count(game_app, "SELECT count(*) FROM guess WHERE round_id = :r", r=round_id) == 1


def test_rounds_of_one_player_ended_at_once_all_count(game_app):
    client = consented_client(game_app)
    round_ids = [start(client)[0] for _ in range(8)]
    tabs = _clones(game_app, client, 8)
    answers = _together(8, lambda i: tabs[i].post(f"/api/rounds/{round_ids[i]}/end",
                                                  json={"reason": "skip"}))
    assert _statuses(answers) == [200] * 8
    assert client.get("/api/me").json["rounds_played"] == 8


class _Probe:
    """The shipped classifier, slowed down, checking during every forward pass that another
    connection can write: SQLite's write lock and every round row can be taken."""

    def __init__(self, classifier, url: sa.URL, delay_s: float = 0.1) -> None:
        # Its own engine without a pool: the app's connections keep their busy timeout.
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.classifier, self.delay_s = classifier, delay_s
        self.categories, self.version = classifier.categories, classifier.version
        self.blocked: list[str] = []

    def _check_unlocked(self) -> None:
        with self.engine.connect() as conn:
            try:
                # Other players' short transactions may hold a lock for a few milliseconds; a
                # lock held by the request that is waiting for this very forward pass is never
                # released, so waiting a second for it tells the two apart.
                if self.engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA busy_timeout=1000")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    conn.exec_driver_sql("SET lock_timeout = '1000ms'")
                    conn.exec_driver_sql("SELECT id FROM round FOR UPDATE").all()
            except sa.exc.OperationalError as exc:
                self.blocked.append(str(exc).splitlines()[0])
            finally:
                conn.rollback()

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self._check_unlocked()
        time.sleep(self.delay_s)
        return self.classifier.predict_proba(images)


def test_concurrent_players_share_forward_passes_and_nothing_is_locked_while_guessing(
        make_game_app, shipped_classifier):
    app = make_game_app()
    app.extensions.pop("guess_service", None)
    with app.app_context():
        probe = _Probe(shipped_classifier, db.engine.url)
    app.extensions["classifier"] = probe
    players = [consented_client(app) for _ in range(8)]
    rounds = [start(p) for p in players]
    batches = [ink_points(p, state)[:5] for p, (_, state) in zip(players, rounds)]
    answers = _together(8, lambda i: players[i].post(f"/api/rounds/{rounds[i][0]}/points",
                                                     json={"start_index": 0, "points": batches[i]}))
    assert _statuses(answers) == [200] * 8
    service = app.extensions["guess_service"]
    assert probe.blocked == []
    assert service.images == 8 and service.forward_passes <= 4, (service.images, service.forward_passes)


def test_batches_extend_the_cached_mask_without_rereading_points(game_app):
    client = consented_client(game_app)
    round_id, state = start(client)
    # Along the empty border (Quick, Draw! bitmaps are padded): the round stays active.
    points = [[x + 0.5, y, 100.0 + 10 * k] for k, (x, y) in
              enumerate([(x, 0.5) for x in range(14)] + [(x, 27.5) for x in range(14)])]
    reads = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001 - SQLAlchemy event signature
        # Reads of the round's points (the mask and the anti-cheat's previous point).
        if statement.lstrip().upper().startswith("SELECT") and "FROM brush_point" in statement:
            reads.append(statement)

    with game_app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for start_index in range(0, 20, 4):
            answer = client.post(f"/api/rounds/{round_id}/points",
                                 json={"start_index": start_index, "points": points[start_index:start_index + 4]})
            assert answer.status_code == 200
        assert reads == []
        # Another worker served the last batch (or this one restarted): rebuilt from the database.
        get_pipeline(game_app).rounds.drop(round_id)
        answer = client.post(f"/api/rounds/{round_id}/points",
                             json={"start_index": 20, "points": points[20:24]})
        assert answer.status_code == 200 and len(reads) == 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert answer.json["status"] == "active" and answer.json["n_points"] == 24
    with game_app.app_context():
        rnd = db.session.get(Round, round_id)
        expected = render.reveal(stimulus_pixels(rnd.stimulus), render.brush_mask(
            points[:24], 28, 28, state["settings"]["brush_radius_px"]))
        assert np.array_equal(get_pipeline(game_app).revealed_image(round_id), expected)


def test_the_active_round_cap_holds_when_one_player_starts_rounds_at_once(make_game_app):
    """Six tabs of one player start six different rounds at the same moment under a cap of one
    active round: exactly one starts, the others are refused with 429. (On SQLite the sweep for
    abandoned rounds committed in the middle of a start, releasing the write lock before the cap
    was checked, so concurrent starts could all pass it.)"""
    app = make_game_app(MAX_ACTIVE_ROUNDS=1)
    client = consented_client(app)
    tabs = _clones(app, client, 6)
    answers = _together(6, lambda i: tabs[i].post("/api/rounds", json={"round_id": str(uuid.uuid4())}))
    assert sorted(map(str, _statuses(answers))) == ["201"] + ["429"] * 5
