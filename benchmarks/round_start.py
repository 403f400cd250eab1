"""``python -m benchmarks round_start``: does starting a round get slower as a study grows?

A round start picks the least-played stimulus. It used to count every round ever played (a
``GROUP BY`` over the ``round`` table, with SQLite's write lock held) on every start, so its cost
grew with the study; each stimulus now carries its own count (`webapp.services.coverage`). This
benchmark times real round starts (``POST /api/rounds`` through Flask's test client: sampling,
the abandoned-round sweep, the insert) on a fresh database, the baseline, and again in the same
run after ``--rounds`` stored rounds (spread over 500 players, 204 stimuli, a third of them
abandoned) have been written in bulk. The ratio is what the study's size costs each start (1.0:
nothing). Every timed round is skipped right after its start (not timed), as a player would.
The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from benchmarks.batch_cpu import make_app
from benchmarks.server import DatabaseUnavailable, temp_databases

PLAYERS = 500
#: what one scripted player starting rounds back to back needs
SETTINGS = {"LIMIT_ROUND_STARTS": "100000/minute", "LIMIT_ROUND_STARTS_PER_ADDRESS": "100000/minute"}


def time_starts(app: Any, starts: int) -> float:
    """Median wall ms of ``starts`` round starts by one consented player."""
    client = app.test_client()
    client.post("/api/consent", json={"version": app.config["CONSENT_VERSION"], "agree": True})
    times = []
    for _ in range(starts):
        round_id = str(uuid.uuid4())
        began = time.perf_counter()
        answer = client.post("/api/rounds", json={"round_id": round_id})
        times.append(1000 * (time.perf_counter() - began))
        if answer.status_code != 201:
            raise RuntimeError(f"round start answered {answer.status_code}: {answer.get_data(as_text=True)}")
        client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
    return statistics.median(times)


def store_rounds(app: Any, total: int, seed: int = 0) -> None:
    """``total`` ended rounds of ``PLAYERS`` players, written in bulk (as a long study leaves them)."""
    from webapp.extensions import db
    from webapp.models import Player, Round, Stimulus, utcnow
    from webapp.services.coverage import recount

    rng = random.Random(seed)
    with app.app_context():
        db.session.execute(sa.insert(Player), [{"public_id": str(uuid.uuid4()), "pseudonym": f"p{i}"}
                                               for i in range(PLAYERS)])
        players = db.session.scalars(sa.select(Player.id)).all()
        stimuli = db.session.execute(sa.select(Stimulus.id, Stimulus.category)).all()
        start = utcnow() - timedelta(days=30)
        for first in range(0, total, 10_000):
            rows = []
            for i in range(first, min(total, first + 10_000)):
                sid, category = rng.choice(stimuli)
                rows.append({"id": str(uuid.uuid4()), "player_id": rng.choice(players), "stimulus_id": sid,
                             "category": category, "status": rng.choice(("recognized", "timeout", "abandoned")),
                             "started_at": start + timedelta(seconds=i), "model_version": "benchmark",
                             "settings": {"timer_ms": 15000}})
            db.session.execute(sa.insert(Round), rows)
        db.session.commit()
        recount()  # the bulk insert bypassed the counters, as an import from another tool would


def measure(url: str, rounds: int, starts: int, classifier: Any) -> dict[str, Any]:
    app = make_app(url, classifier)
    app.config.update(SETTINGS)
    empty_ms = time_starts(app, starts)
    store_rounds(app, rounds)
    full_ms = time_starts(app, starts)
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return {"stored_rounds": rounds, "starts": starts, "start_ms_empty": round(empty_ms, 2),
            "start_ms_with_rounds": round(full_ms, 2), "ratio": round(full_ms / empty_ms, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks round_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100_000, help="stored rounds for the second measurement")
    parser.add_argument("--starts", type=int, default=100, help="timed round starts per measurement")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both",
                        help="both: SQLite, and PostgreSQL when it answers (default)")
    parser.add_argument("--quick", action="store_true", help="2,000 rounds, 10 starts (a smoke run)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rounds, starts = (2_000, 10) if args.quick else (args.rounds, args.starts)
    if not 1 <= rounds <= 5_000_000 or not 1 <= starts <= 10_000:
        parser.error("--rounds must be 1-5,000,000 and --starts 1-10,000")

    from models.classifier import load_classifier

    classifier = load_classifier(device="cpu")
    results: dict[str, Any] = {}
    try:
        for database in temp_databases(args.database):
            results[database.kind] = r = measure(database.url, rounds, starts, classifier)
            print(f"{database.kind}: median round start {r['start_ms_empty']} ms on a fresh database, "
                  f"{r['start_ms_with_rounds']} ms with {rounds:,} stored rounds (x{r['ratio']})")
    except DatabaseUnavailable as exc:
        parser.error(str(exc))
    print(json.dumps({"round_start": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
