"""``python -m benchmarks batch_cpu``: the server's CPU per batch, by part, in process.

One gunicorn worker runs every player's requests, so the CPU the server spends per batch of
brush points decides how many players a core carries (docs/load.md, *Cost model*). This
benchmark measures the parts in process (no HTTP server, no network, so it is quick and needs no
free port), with ``--group`` players sending at the same moment, as a busy server's tick sees
them (`webapp.services.pipeline`):

* ``batch_ms``: process CPU per batch of the hot path (apply, one forward pass, one group
  commit, the answer), ``--group`` batches at once;
* ``batch_no_guess_ms``: the same with a classifier that costs nothing, i.e. the hot path's
  own work; ``guess_ms``: the shipped classifier alone, per image of a ``--group``-image pass;
* ``start_ms``: process CPU per round start, ``--group`` starts at once (`services.starting`);
* ``socket_ms`` / ``http_ms``: CPU per batch of one player sending alone, through the game
  socket's message handling (`webapp.api.socket.answer`) and through Flask's test client; the
  transport's share (``socket_overhead_ms``, ``http_overhead_ms``) is the difference from
  ``batch_alone_ms``, the hot path with a group of 1 (a whole tick for one batch);
* ``statements_per_tick`` / ``statements_per_start_tick``: SQL statements of a tick of
  ``--group`` batches / starts (a fixed number: the group commit's point).

Baseline, same run and app: ``empty_request_ms``, the CPU of a request that does nothing (a JSON
404 under ``/api`` through the same Flask stack). Machines differ and shared machines vary from
run to run, so ``--check`` judges ratios to that baseline and exits 1, naming the part, when one
exceeds its ceiling (`CEILINGS`) or a tick's statements grow with its size: the loud failure
for a change that brings the per-batch cost back (before issue 22 a batch cost the server about
nine empty requests of CPU and a round start about twenty; docs/load.md has the same-run figures).

The apps run with the shipped settings except what scripted players need (rate limits raised,
the anti-cheat's tolerances widened: its checks still run on every batch) and the admission's
pacing, which would make the baseline's back-to-back empty requests sleep. Every batch is 5
points along the drawing's empty border, so rounds are rarely recognised; a round that is
recognised or reaches `BATCHES_PER_ROUND` is replaced by a new one. PostgreSQL is measured when
``DA_TEST_POSTGRES_URL`` (or the local default) answers. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import sqlalchemy as sa

from benchmarks.server import DatabaseUnavailable, TempDatabase

POINTS_PER_BATCH = 5
BATCHES_PER_ROUND = 40
#: what scripted players posting back to back need; everything else as shipped
SETTINGS = {"LIMIT_BATCHES": "100000/second", "LIMIT_BATCHES_PER_ADDRESS": "100000/second",
            "LIMIT_ROUND_STARTS": "100000/minute", "LIMIT_ROUND_STARTS_PER_ADDRESS": "100000/minute",
            "MAX_ACTIVE_ROUNDS": 1000, "CLOCK_TOLERANCE_MS": 3_600_000, "MAX_POINTER_SPEED": 1e6,
            # the empty requests of the baseline, back to back, would otherwise wait out the
            # admission's pacing (webapp/admission.py): a sleep, not the request's own cost
            "COLD_CPU_SHARE": 1.0}
#: ``--check``: the most each part may cost, in empty requests of CPU (same run). Measured on the
#: 2-core development machine (docs/load.md): about half of these or less. The guess (torch) is
#: most of ``batch_ms``, so ``batch_no_guess_ms`` watches the server's own work per batch.
CEILINGS = {"batch_ms": 6.0, "batch_no_guess_ms": 2.5, "start_ms": 4.0, "socket_overhead_ms": 5.0,
            "http_overhead_ms": 16.0}
#: ``--check``: statements of a tick, whatever its size (SQLite counts its ``BEGIN IMMEDIATE``)
MAX_STATEMENTS = {"statements_per_tick": 5, "statements_per_start_tick": 10}


def make_app(url: str, classifier: Any, **overrides: Any) -> Any:
    """The game on a migrated database with the default stimulus set (as ``make play`` sets up)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "batch-cpu-benchmark",
                      "WTF_CSRF_ENABLED": False, **SETTINGS, **overrides})
    app.extensions["classifier"] = classifier
    with app.app_context():
        upgrade()
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
    return app


class FreeClassifier:
    """The shipped classifier's categories and version, answering without computing (every image
    gets the same probabilities): the hot path measured without the guess."""

    def __init__(self, real: Any) -> None:
        self.categories, self.version = real.categories, real.version
        self._row = np.full(len(real.categories), 1.0 / len(real.categories), dtype=np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._row, (len(images), len(self._row)))


class Crowd:
    """``size`` consented players, each keeping a round going on the app's pipeline."""

    def __init__(self, app: Any, size: int) -> None:
        from webapp.extensions import db
        from webapp.models import Player, utcnow
        from webapp.services.pipeline import get_pipeline

        self.app, self.pipeline = app, get_pipeline(app)
        with app.app_context():
            players = [Player(public_id=str(uuid.uuid4()), pseudonym=f"bench{i}",
                              consent_version=app.config["CONSENT_VERSION"], consented_at=utcnow())
                       for i in range(size)]
            db.session.add_all(players)
            db.session.commit()
            self.player_ids = [p.id for p in players]
        self.rounds: list[dict[str, Any]] = [{} for _ in players]
        self.pool = ThreadPoolExecutor(size)

    def together(self, job: Callable[[int], Any]) -> list[Any]:
        """``job(i)`` for every player at the same moment (one tick's worth of requests)."""
        barrier = threading.Barrier(len(self.player_ids))

        def run(i: int) -> Any:
            with self.app.app_context():
                barrier.wait()
                return job(i)

        return list(self.pool.map(run, range(len(self.player_ids))))

    def start(self, i: int) -> None:
        state, _ = self.pipeline.start_round(self.player_ids[i], {"round_id": str(uuid.uuid4())})
        self.rounds[i] = {"id": state["round_id"], "size": state["stimulus"]["width"], "index": 0}

    def batch(self, i: int) -> dict[str, Any]:
        """Send player ``i``'s next batch (starting a round when needed); its answer."""
        from webapp.services.clock import server_now

        rnd = self.rounds[i]
        body = next_batch(rnd)
        state = self.pipeline.add_points(self.player_ids[i], rnd["id"], body, server_now())
        self.answered(i, state)
        return state

    def answered(self, i: int, state: dict[str, Any]) -> None:
        rnd = self.rounds[i]
        rnd["index"] = state["n_points"]
        if state["status"] != "active" or rnd["index"] >= BATCHES_PER_ROUND * POINTS_PER_BATCH:
            self.rounds[i] = {}

    def ensure_rounds(self) -> None:
        missing = [i for i, rnd in enumerate(self.rounds) if not rnd]
        if missing:
            self.together(lambda i: self.start(i) if i in missing else None)


def next_batch(rnd: dict[str, Any]) -> dict[str, Any]:
    """Five points back and forth along the top row (the padding of a Quick, Draw! bitmap)."""
    points = []
    for k in range(rnd["index"], rnd["index"] + POINTS_PER_BATCH):
        step = k % (2 * (rnd["size"] - 1))
        x = step if step < rnd["size"] else 2 * (rnd["size"] - 1) - step
        points.append([x + 0.5, 0.5, 100.0 + 10.0 * k])
    return {"start_index": rnd["index"], "points": points}


def _cpu_per_item(run: Callable[[], Any], items: int) -> float:
    """Process CPU ms per item of ``run()``."""
    began = time.process_time()
    run()
    return 1000 * (time.process_time() - began) / items


class _Statements:
    """Counts the SQL statements an app's engine runs while in a ``with`` block."""

    def __init__(self, app: Any) -> None:
        from webapp.extensions import db

        with app.app_context():
            self.engine = db.engine
        self.count = 0

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> "_Statements":
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def _statements_per_tick(app: Any, crowd: Crowd, run: Callable[[], Any]) -> float:
    """SQL statements per pipeline tick while ``run()`` runs (players released together may
    still straddle two ticks)."""
    ticks = crowd.pipeline.ticks
    with _Statements(app) as counted:
        run()
    return counted.count / max(1, crowd.pipeline.ticks - ticks)


def measure_hot_path(app: Any, group: int, batches: int) -> dict[str, float]:
    """Starts and batches of ``group`` players at once: CPU per item and statements per tick."""
    crowd = Crowd(app, group)
    crowd.ensure_rounds()
    crowd.together(crowd.batch)  # warm up: the classifier, caches, compiled statements
    starts, ticks = [], []
    for _ in range(max(5, batches // (BATCHES_PER_ROUND * group) + 1)):
        crowd.rounds = [{} for _ in crowd.rounds]
        starts.append(_cpu_per_item(crowd.ensure_rounds, group))
    crowd.rounds = [{} for _ in crowd.rounds]
    start_statements = _statements_per_tick(app, crowd, crowd.ensure_rounds)
    tick_statements = _statements_per_tick(app, crowd, lambda: crowd.together(crowd.batch))
    crowd.ensure_rounds()
    for _ in range(max(1, batches // group)):
        ticks.append(_cpu_per_item(lambda: crowd.together(crowd.batch), group))
        crowd.ensure_rounds()
    crowd.pool.shutdown()
    return {"start_ms": statistics.median(starts), "batch_ms": statistics.median(ticks),
            "statements_per_start_tick": start_statements, "statements_per_tick": tick_statements}


def measure_alone(app: Any, batches: int) -> dict[str, float]:
    """One player sending alone: through the hot path directly, the socket's message handling and
    Flask's test client; and the same-run baseline, an empty request."""
    from webapp.api.socket import answer

    crowd = Crowd(app, 1)
    client = app.test_client()
    with client.session_transaction() as session:
        session["player"] = _public_id(app, crowd.player_ids[0])

    def over_socket(body: dict[str, Any], rnd: dict[str, Any]) -> dict[str, Any]:
        message = json.dumps({"id": 1, "method": "POST", "path": f"/api/rounds/{rnd['id']}/points",
                              "body": body})
        return json.loads(json.dumps(answer(message, crowd.player_ids[0], "bench")))["body"]

    def over_http(body: dict[str, Any], rnd: dict[str, Any]) -> dict[str, Any]:
        return client.post(f"/api/rounds/{rnd['id']}/points", json=body).json

    def direct(body: dict[str, Any], rnd: dict[str, Any]) -> dict[str, Any]:
        from webapp.services.clock import server_now

        with app.app_context():
            return crowd.pipeline.add_points(crowd.player_ids[0], rnd["id"], body, server_now())

    figures = {}
    connection = app.test_request_context()  # a socket's request context lasts its connection
    connection.push()
    for name, send in (("batch_alone_ms", direct), ("socket_ms", over_socket), ("http_ms", over_http)):
        crowd.ensure_rounds()
        send(next_batch(crowd.rounds[0]), crowd.rounds[0])  # warm up
        times = []
        for _ in range(batches):
            crowd.ensure_rounds()
            rnd = crowd.rounds[0]
            body = next_batch(rnd)
            state: dict[str, Any] = {}
            times.append(_cpu_per_item(lambda: state.update(send(body, rnd)), 1))
            crowd.answered(0, state)
        figures[name] = statistics.median(times)
    connection.pop()
    figures["empty_request_ms"] = statistics.median(
        _cpu_per_item(lambda: client.get("/api/no-such-thing"), 1) for _ in range(batches))
    crowd.pool.shutdown()
    return figures


def _public_id(app: Any, player_id: int) -> str:
    from webapp.extensions import db
    from webapp.models import Player

    with app.app_context():
        return db.session.get(Player, player_id).public_id


def guess_ms(classifier: Any, group: int, passes: int = 50) -> float:
    """CPU ms per image of the shipped classifier, ``group`` images a pass."""
    from webapp.services.guessing import GuessService

    images = list(np.load("data/stimuli/quickdraw17_default.npz")["images"][:group])
    service = GuessService(classifier)
    service.top5_many(images)
    return statistics.median(_cpu_per_item(lambda: service.top5_many(images), group)
                             for _ in range(passes))


def measure(url_of: Callable[[], Any], classifier: Any, group: int, batches: int) -> dict[str, Any]:
    """The figures for one database (``url_of()`` gives a fresh database's URL per app)."""
    app = make_app(url_of(), classifier)
    figures: dict[str, Any] = {"database": app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0],
                               "group": group}
    figures.update(measure_alone(app, batches))
    figures.update(measure_hot_path(app, group, batches))
    free = make_app(url_of(), FreeClassifier(classifier))
    figures["batch_no_guess_ms"] = measure_hot_path(free, group, batches)["batch_ms"]
    figures["guess_ms"] = guess_ms(classifier, group)
    figures["socket_overhead_ms"] = figures["socket_ms"] - figures["batch_alone_ms"]
    figures["http_overhead_ms"] = figures["http_ms"] - figures["batch_alone_ms"]
    for name in CEILINGS:
        figures[f"{name[:-3]}_vs_empty_request"] = figures[name] / figures["empty_request_ms"]
    _dispose(app, free)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def _dispose(*apps: Any) -> None:
    from webapp.extensions import db

    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def over_ceiling(figures: dict[str, Any]) -> list[str]:
    """What ``--check`` fails on (empty: all parts within their ceilings)."""
    failed = [f"{name}: {figures[name]:.2f} ms = {figures[name] / figures['empty_request_ms']:.1f} "
              f"empty requests (ceiling {ceiling:g})"
              for name, ceiling in CEILINGS.items()
              if figures[name] > ceiling * figures["empty_request_ms"]]
    failed += [f"{name}: {figures[name]:g} statements for {figures['group']} requests (at most {most})"
               for name, most in MAX_STATEMENTS.items() if figures[name] > most]
    return failed


def _print(f: dict[str, Any]) -> None:
    e = f["empty_request_ms"]
    print(f"{f['database']}: CPU per item (x an empty request, {e:.2f} ms, same run):")
    print(f"  hot path, {f['group']} batches at once: {f['batch_ms']:.2f} ms (x{f['batch_ms'] / e:.1f}); "
          f"without the guess {f['batch_no_guess_ms']:.2f} ms (x{f['batch_no_guess_ms'] / e:.1f}); "
          f"the guess alone {f['guess_ms']:.2f} ms per image")
    print(f"  round start, {f['group']} at once: {f['start_ms']:.2f} ms (x{f['start_ms'] / e:.1f})")
    print(f"  one player alone: hot path {f['batch_alone_ms']:.2f} ms; over the socket "
          f"{f['socket_ms']:.2f} ms (transport +{f['socket_overhead_ms']:.2f} ms, "
          f"x{f['socket_overhead_ms'] / e:.1f}), over HTTP {f['http_ms']:.2f} ms (transport "
          f"+{f['http_overhead_ms']:.2f} ms, x{f['http_overhead_ms'] / e:.1f})")
    print(f"  SQL statements: {f['statements_per_tick']:g} per tick of {f['group']} batches, "
          f"{f['statements_per_start_tick']:g} per tick of {f['group']} round starts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks batch_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=400, help="timed batches per part")
    parser.add_argument("--group", type=int, default=32, help="players sending at once")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both",
                        help="both: SQLite, and PostgreSQL when it answers (default)")
    parser.add_argument("--quick", action="store_true", help="40 batches (a smoke run)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a part costs more than its ceiling (see CEILINGS)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 1 <= args.group <= 256 or args.batches < 1:
        parser.error("--group must be 1-256 and --batches positive")
    batches = 40 if args.quick else args.batches

    from models.classifier import load_classifier
    from webapp.config import from_env
    from webapp.services.guessing import use_classifier_threads

    classifier = load_classifier(device="cpu")
    use_classifier_threads(from_env("instance")["CLASSIFIER_THREADS"])  # as the server does
    results: dict[str, Any] = {}
    failed: list[str] = []
    for kind in (["sqlite", "postgresql"] if args.database == "both" else [args.database]):
        databases: list[TempDatabase] = []

        def url_of() -> str:
            databases.append(TempDatabase(kind))  # noqa: B023 - called within this iteration
            return databases[-1].url

        try:
            results[kind] = measure(url_of, classifier, args.group, batches)
        except DatabaseUnavailable as exc:
            if args.database != "both":
                parser.error(str(exc))
            print(f"{kind}: skipped ({exc})")
            continue
        finally:
            for database in databases:
                database.drop()
        _print(results[kind])
        failed += [f"{kind} {line}" for line in over_ceiling(results[kind])]
    if args.check:
        print("check: " + ("every part within its ceiling" if not failed else "FAILED: " + "; ".join(failed)))
    print(json.dumps({"batch_cpu": results, "over_ceiling": failed}))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
