"""The hot path (`webapp.services.pipeline`): batches share ticks and transactions, nothing is
acknowledged before its commit, and several workers on one database stay exact (a round's
batches may reach any of them)."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from models import render
from tests.game.conftest import consented_client, ink_points, start
from tests.game.test_concurrency import _clones, _statuses, _together
from webapp.extensions import db
from webapp.services import group_commit
from webapp.services.pipeline import get_pipeline
from webapp.services.stimuli import stimulus_view


def _count(app, sql: str, **params) -> int:
    with app.app_context():
        return db.session.execute(sa.text(sql), params).scalar_one()


def _border(n: int, t0: float = 100.0) -> list[list[float]]:
    """Points along the empty top border (Quick, Draw! bitmaps are padded): no recognition."""
    return [[(k % 27) + 0.5, 0.5, t0 + 10.0 * k] for k in range(n)]


def test_batches_of_many_players_share_one_transaction(make_game_app):
    """Eight players' batches at once cost the statements of one tick, not eight times a batch's
    (before the group commit: 6 to 8 statements per batch). The tick waits up to 300 ms for
    company here, so that the eight requests meet in one however slowly the machine runs."""
    game_app = make_game_app(GUESS_BATCH_WINDOW_MS=300)
    players = [consented_client(game_app) for _ in range(8)]
    rounds = [start(p)[0] for p in players]
    statements: list[str] = []
    with game_app.app_context():
        engine = db.engine

    def seen(conn, cursor, statement, *args):  # noqa: ANN001 - SQLAlchemy event signature
        statements.append(statement)

    ticks = get_pipeline(game_app).ticks
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        answers = _together(8, lambda i: players[i].post(f"/api/rounds/{rounds[i]}/points",
                                                         json={"start_index": 0, "points": _border(5)}))
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert _statuses(answers) == [200] * 8
    assert all(a.json["n_points"] == 5 and a.json["guess"]["n_points"] == 5 for a in answers)
    ticks = get_pipeline(game_app).ticks - ticks
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    # per tick: one UPDATE of the rounds, one INSERT of the points, one of the guesses
    assert ticks <= 2 and len(writes) == 3 * ticks, (ticks, writes)
    assert _count(game_app, "SELECT count(*) FROM brush_point") == 40


def test_a_batch_is_answered_only_after_its_commit(game_app, monkeypatch):
    client = consented_client(game_app)
    round_id, _ = start(client)
    entered, release = threading.Event(), threading.Event()
    real_write = group_commit.write

    def held(conn, works):  # noqa: ANN001, ANN202 - stands in for group_commit.write
        entered.set()
        assert release.wait(30)
        return real_write(conn, works)

    monkeypatch.setattr(group_commit, "write", held)
    answers: list = []
    sender = threading.Thread(target=lambda: answers.append(client.post(
        f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": _border(5)})))
    sender.start()
    assert entered.wait(30)
    time.sleep(0.3)
    assert answers == [] and _count(game_app, "SELECT count(*) FROM brush_point") == 0
    release.set()
    sender.join(30)
    assert answers[0].status_code == 200 and answers[0].json["n_points"] == 5
    assert _count(game_app, "SELECT count(*) FROM brush_point") == 5


def test_a_batch_whose_commit_fails_is_not_acknowledged(game_app, monkeypatch):
    """The database fails: the batch gets no answer saying it is stored (the page keeps it and
    sends it again), nothing of it is stored, and the re-sent batch is stored once."""
    client = consented_client(game_app)
    round_id, _ = start(client)

    def failing(conn, works):  # noqa: ANN001, ANN202 - stands in for group_commit.write
        raise sa.exc.OperationalError("COMMIT", {}, RuntimeError("disk I/O error"))

    monkeypatch.setattr(group_commit, "write", failing)
    url, body = f"/api/rounds/{round_id}/points", {"start_index": 0, "points": _border(5)}
    with pytest.raises(sa.exc.OperationalError):  # a 500 outside the test client
        client.post(url, json=body)
    assert _count(game_app, "SELECT count(*) FROM brush_point") == 0
    monkeypatch.undo()
    again = client.post(url, json=body)
    assert again.status_code == 200 and again.json["n_points"] == 5
    assert _count(game_app, "SELECT count(*) FROM brush_point") == 5


def test_a_failed_commit_replays_the_tick_prepared_on_top_of_it(game_app, monkeypatch):
    """The applier prepares the next tick while the writer commits this one. When that commit
    fails, the next tick (here: a second tab's batch that continues the first) was built on
    points that are not stored: it is replayed too, on what is stored, and the round's points
    stay contiguous, every acknowledged one stored."""
    client = consented_client(game_app)
    round_id, _ = start(client)
    tab = _clones(game_app, client, 1)[0]
    entered, release = threading.Event(), threading.Event()
    real_write = group_commit.write
    calls = []

    def first_fails(conn, works):  # noqa: ANN001, ANN202 - stands in for group_commit.write
        calls.append(len(works))
        if len(calls) == 1:
            entered.set()
            assert release.wait(30)
            raise sa.exc.OperationalError("COMMIT", {}, RuntimeError("disk I/O error"))
        return real_write(conn, works)

    monkeypatch.setattr(group_commit, "write", first_fails)
    points = _border(10)
    url = f"/api/rounds/{round_id}/points"
    answers: dict[str, object] = {}
    first = threading.Thread(target=lambda: answers.update(first=client.post(
        url, json={"start_index": 0, "points": points[:5]})))
    first.start()
    assert entered.wait(30)
    second = threading.Thread(target=lambda: answers.update(second=tab.post(
        url, json={"start_index": 5, "points": points[5:]})))
    second.start()
    time.sleep(0.5)  # the second batch is applied on the first's uncommitted points meanwhile
    release.set()
    first.join(30)
    second.join(30)
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses["first"] == 200 and statuses["second"] in (200, 409), statuses
    stored = _count(game_app, "SELECT count(*) FROM brush_point WHERE round_id = :r", r=round_id)
    top = _count(game_app, "SELECT coalesce(max(idx), -1) FROM brush_point WHERE round_id = :r",
                 r=round_id)
    assert stored == top + 1 and stored in (5, 10)  # contiguous, nothing half-stored
    for answer in answers.values():
        if answer.status_code == 200:
            assert answer.json["n_points"] <= stored
    if statuses["second"] == 409:
        assert answers["second"].json["expected_index"] == 5 or stored == 5
    assert get_pipeline(game_app).replays >= 1  # the second tick was given up and replayed


@pytest.fixture
def two_workers(game_app):
    """A second app on the same database: another gunicorn worker, with its own pipeline and
    cache (the session cookie is signed with the same key, as every worker's is)."""
    from webapp import create_app

    other = create_app(dict(game_app.config))
    other.extensions["classifier"] = game_app.extensions["classifier"]
    yield game_app, other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_rounds_batches_alternate_between_two_workers(two_workers):
    """Each worker's cached round goes stale whenever the other stores a batch: the version check
    catches it, the round is read again and the batch applied to what is stored, so every batch
    is stored once and every guess sees every point."""
    one, other = two_workers
    client = consented_client(one)
    tab = _clones(other, client, 1)[0]
    round_id, state = start(client)
    points = _border(40)
    for k in range(8):
        sender = client if k % 2 == 0 else tab
        answer = sender.post(f"/api/rounds/{round_id}/points",
                             json={"start_index": 5 * k, "points": points[5 * k:5 * k + 5]})
        assert answer.status_code == 200, answer.json
        assert answer.json["n_points"] == answer.json["guess"]["n_points"] == 5 * (k + 1)
    # the first worker started the round and cached it: each of its next three batches found
    # the round moved on by the other worker and was replayed on the stored state
    assert get_pipeline(one).replays == 3
    assert _count(one, "SELECT count(*) FROM brush_point WHERE round_id = :r", r=round_id) == 40
    assert _count(one, "SELECT count(DISTINCT idx) FROM brush_point WHERE round_id = :r", r=round_id) == 40
    assert _count(one, "SELECT count(*) FROM guess WHERE round_id = :r", r=round_id) == 8
    for app in two_workers:
        with app.app_context():
            pixels = stimulus_view(state["stimulus"]["id"]).pixels
            expected = render.reveal(pixels, render.brush_mask(points, 28, 28,
                                                               state["settings"]["brush_radius_px"]))
            assert np.array_equal(get_pipeline(app).revealed_image(round_id), expected)


def test_the_same_batch_sent_to_two_workers_at_once_is_stored_once(two_workers):
    one, other = two_workers
    client = consented_client(one)
    round_id, state = start(client)
    tabs = _clones(one, client, 3) + _clones(other, client, 3)
    batch = ink_points(client, state)[:6]
    answers = _together(6, lambda i: tabs[i].post(f"/api/rounds/{round_id}/points",
                                                  json={"start_index": 0, "points": batch}))
    assert _statuses(answers) == [200] * 6
    assert {a.json["n_points"] for a in answers} == {6}
    assert _count(one, "SELECT count(*) FROM brush_point WHERE round_id = :r", r=round_id) == 6


def test_the_same_round_id_started_on_two_workers_at_once_is_one_round(two_workers):
    one, other = two_workers
    client = consented_client(one)
    tabs = _clones(one, client, 3) + _clones(other, client, 3)
    round_id = str(uuid.uuid4())
    answers = _together(6, lambda i: tabs[i].post("/api/rounds", json={"round_id": round_id}))
    assert sorted(map(str, _statuses(answers))) == ["200"] * 5 + ["201"]
    assert len({a.json["stimulus"]["id"] for a in answers}) == 1
    assert _count(one, "SELECT count(*) FROM round WHERE id = :r", r=round_id) == 1
