"""``python -m benchmarks batch_cpu``: server CPU per guess-bearing batch, in process.

The load benchmark (`benchmarks.load`) shows that one gunicorn worker saturates its core long
before the classifier does: what limits the game is the CPU the server spends per batch of
brush points (Flask, the rate limiter, SQLAlchemy, the SQL driver), not the guess. This
benchmark measures that cost directly, with Flask's test client and no HTTP server or network,
so it is quick and needs no free port:

* ``request_ms``: CPU time of the thread that handles the request (``time.thread_time``), i.e.
  everything the worker does per batch except the classifier's forward pass, which runs on the
  micro-batcher's thread;
* ``process_ms``: CPU time of the whole process per batch (``time.process_time``), classifier
  included;
* ``statements``: SQL statements per batch (a ``before_cursor_execute`` listener, on separate
  batches so counting costs the timed ones nothing).

Baselines measured in the same run, on the same app: ``guess_alone_ms``, the process CPU of one
bare guess-service call (`GuessService.top5` on a revealed 28x28 image, no Flask, no database),
and ``empty_request_ms``, the request-thread CPU of a request that does nothing (a JSON 404 under
``/api``, through the same Flask stack: limiter, security headers, session). A batch costs
``process_ms / guess_alone_ms`` times the guess it serves; the difference is the server's work.

The app runs with the shipped settings except those a single scripted player needs (rate limits
raised, anti-cheat tolerances widened: its checks still run on every batch). Every batch is
5 points along the drawing's empty border, so rounds are rarely recognised; a recognised or ended
round is replaced by a new one (round starts and ends are not timed). PostgreSQL is measured when
``DA_TEST_POSTGRES_URL`` (or the local default) answers. Machines differ and shared machines
vary from run to run: compare figures from one run, or runs back to back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from typing import Any, Callable

import numpy as np
import sqlalchemy as sa

from benchmarks.server import temp_databases

POINTS_PER_BATCH = 5
BATCHES_PER_ROUND = 40
#: what one scripted player posting back to back needs; everything else as shipped
SETTINGS = {"LIMIT_BATCHES": "100000/second", "LIMIT_BATCHES_PER_ADDRESS": "100000/second",
            "LIMIT_ROUND_STARTS": "100000/minute", "LIMIT_ROUND_STARTS_PER_ADDRESS": "100000/minute",
            "CLOCK_TOLERANCE_MS": 3_600_000, "MAX_POINTER_SPEED": 1e6}


def make_app(url: str, classifier: Any) -> Any:
    """The game on a migrated database with the default stimulus set (as ``make play`` sets up)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "batch-cpu-benchmark",
                      "WTF_CSRF_ENABLED": False, **SETTINGS})
    app.extensions["classifier"] = classifier
    with app.app_context():
        upgrade()
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
    return app


class _Player:
    """One scripted player: keeps a round going and posts the next batch of it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self.client.post("/api/consent", json={"version": app.config["CONSENT_VERSION"], "agree": True})
        self.round_id: str | None = None

    def _new_round(self) -> None:
        if self.round_id is not None:
            self.client.post(f"/api/rounds/{self.round_id}/end", json={"reason": "skip"})
        self.round_id = str(uuid.uuid4())
        answer = self.client.post("/api/rounds", json={"round_id": self.round_id})
        if answer.status_code != 201:
            raise RuntimeError(f"round start refused: {answer.status_code} {answer.json}")
        self.size = answer.json["stimulus"]["width"]
        self.index = 0

    def next_batch(self) -> tuple[str, dict[str, Any]]:
        """The URL and body of the next guess-bearing batch (a new round when needed)."""
        if self.round_id is None or self.index >= BATCHES_PER_ROUND * POINTS_PER_BATCH:
            self._new_round()
        # Back and forth along the top row: the padding of a Quick, Draw! bitmap has no ink.
        points = []
        for i in range(self.index, self.index + POINTS_PER_BATCH):
            step = i % (2 * (self.size - 1))
            x = step if step < self.size else 2 * (self.size - 1) - step
            points.append([x + 0.5, 0.5, 100.0 + 10.0 * i])
        body = {"start_index": self.index, "points": points}
        return f"/api/rounds/{self.round_id}/points", body

    def post(self, url: str, body: dict[str, Any]) -> bool:
        """Post a batch; True when it was answered with a guess and the round goes on."""
        answer = self.client.post(url, json=body)
        if answer.status_code != 200:
            raise RuntimeError(f"batch refused: {answer.status_code} {answer.json}")
        state = answer.json
        self.index = state["n_points"]
        guessed = state["guess"] is not None and state["guess"]["n_points"] == state["n_points"]
        if state["status"] != "active":  # recognised (or ended): the next batch starts a round
            self.round_id = None
        return guessed


def _cpu_of(call: Callable[[], Any]) -> tuple[float, float]:
    """(thread CPU, process CPU) seconds of one call."""
    t0, p0 = time.thread_time(), time.process_time()
    call()
    return time.thread_time() - t0, time.process_time() - p0


def measure(app: Any, batches: int) -> dict[str, Any]:
    """The figures for one app (one database)."""
    from webapp.extensions import db
    from webapp.services.guessing import get_guess_service

    player = _Player(app)
    for _ in range(5):  # warm up: classifier, caches, compiled statements
        player.post(*player.next_batch())

    statements: list[str] = []
    with app.app_context():
        engine = db.engine
        dialect = engine.dialect.name

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001 - SQLAlchemy event
        statements.append(statement)

    counted = 0
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        per_batch = []
        while counted < 10:
            url, body = player.next_batch()
            before = len(statements)
            if player.post(url, body):
                per_batch.append(len(statements) - before)
                counted += 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    thread_ms, process_ms = [], []
    while len(thread_ms) < batches:
        url, body = player.next_batch()
        result: list[bool] = []
        thread_s, process_s = _cpu_of(lambda: result.append(player.post(url, body)))
        if result[0]:
            thread_ms.append(thread_s * 1000)
            process_ms.append(process_s * 1000)

    empty_ms = [1000 * _cpu_of(lambda: player.client.get("/api/no-such-thing"))[0]
                for _ in range(batches)]
    with app.app_context():
        service = get_guess_service()
    image = np.zeros((28, 28), dtype=np.uint8)
    image[:, 10:12] = 255
    guess_ms = [1000 * _cpu_of(lambda: service.top5_many([image]))[1] for _ in range(batches)]

    figures = {"database": dialect, "batches": batches,
               "statements": statistics.median(per_batch),
               "request_ms": statistics.median(thread_ms), "process_ms": statistics.median(process_ms),
               "request_ms_mean": statistics.fmean(thread_ms),
               "process_ms_mean": statistics.fmean(process_ms),
               "empty_request_ms": statistics.median(empty_ms),
               "guess_alone_ms": statistics.median(guess_ms)}
    figures["process_vs_guess_alone"] = figures["process_ms"] / figures["guess_alone_ms"]
    figures["request_vs_empty_request"] = figures["request_ms"] / figures["empty_request_ms"]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def _print(f: dict[str, Any]) -> None:
    print(f"{f['database']}: {f['statements']:g} SQL statements per batch; CPU per guess-bearing batch "
          f"(median of {f['batches']}): request thread {f['request_ms']:.2f} ms "
          f"(mean {f['request_ms_mean']:.2f}), whole process {f['process_ms']:.2f} ms "
          f"(mean {f['process_ms_mean']:.2f})")
    print(f"  baselines, same run: empty request {f['empty_request_ms']:.2f} ms "
          f"-> batch x{f['request_vs_empty_request']:.1f}; guess service alone "
          f"{f['guess_alone_ms']:.2f} ms -> batch x{f['process_vs_guess_alone']:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks batch_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=400, help="timed batches per database")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both",
                        help="both: SQLite, and PostgreSQL when it answers (default)")
    parser.add_argument("--quick", action="store_true", help="20 batches (a smoke run)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    batches = 20 if args.quick else args.batches

    from models.classifier import load_classifier

    classifier = load_classifier(device="cpu")
    results: dict[str, Any] = {}
    for database in temp_databases(args.database):
        app = make_app(database.url, classifier)
        results[database.kind] = measure(app, batches)
        _print(results[database.kind])
        from webapp.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    print(json.dumps({"batch_cpu": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
