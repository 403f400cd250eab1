"""``python -m benchmarks load``: real players against the real server, as a study would see it.

Starts the game the way ``make play`` does (gunicorn, a temporary SQLite or PostgreSQL
database), lets ``--players`` simulated participants (`benchmarks.players`) play real rounds for
``--seconds``, and reports the latency of guess-bearing batches (every points request of an
active round makes the classifier guess), guesses served per second, errors, the mean number
of images per classifier forward pass (from the server's ``/_bench/stats``) and the rounds the
anti-cheat did not credit (0 expected: the players brush at a hand's pace). All players share
127.0.0.1, so the server's per-address rate limits are raised to what that many players may do
(`benchmarks.server.crowd_behind_one_address`); per-player limits stay as shipped. The baseline,
measured in the same run before the server starts, is the guess service alone: the same
micro-batcher fed by as many threads as there are players, with no HTTP and no database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from benchmarks.bench_guessing import run_clients
from benchmarks.players import play
from benchmarks.server import (DatabaseUnavailable, GameServer, TempDatabase,
                               crowd_behind_one_address, uncredited_rounds)

WARMUP_S = 3.0


def service_throughput(players: int, total: int = 2000) -> float:
    """Guesses/s of the classifier's micro-batcher alone, fed by ``players`` threads."""
    from models.classifier import load_classifier
    from webapp.config import from_env
    from webapp.services.guessing import MicroBatcher

    config = from_env("instance")
    classifier = load_classifier(device="cpu")
    batcher = MicroBatcher(classifier.predict_proba, config["GUESS_BATCH_WINDOW_MS"],
                           config["GUESS_MAX_BATCH"])
    requests_each = max(2, total // players)
    seconds = run_clients(players, requests_each, batcher.submit)
    return players * requests_each / seconds


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(players: int, seconds: float, database: str, workers: int | None = None) -> dict:
    """Run the whole benchmark once and return its figures."""
    db = TempDatabase(database)
    server = GameServer(db, workers=workers, env=crowd_behind_one_address(players))
    try:
        baseline = service_throughput(players)  # before the server runs: it has the CPU alone
        server.setup()
        server.start()
        play(server.base_url, min(players, 4), WARMUP_S)  # loads the classifier in each worker
        before = server.batcher_stats()
        server_cpu = server.cpu_seconds(list(before))
        client_cpu = time.process_time()
        recorder, _ = play(server.base_url, players, seconds)
        client_cpu = time.process_time() - client_cpu
        after = server.batcher_stats()
        server_cpu = server.cpu_seconds(list(after)) - server_cpu
        server.stop()
        not_credited = uncredited_rounds(db.url)
    finally:
        server.stop()
        db.drop()
    passes = sum(after[pid][0] - before.get(pid, (0, 0))[0] for pid in after)
    images = sum(after[pid][1] - before.get(pid, (0, 0))[1] for pid in after)
    lat = recorder.latencies_ms
    return {"players": players, "seconds": seconds, "database": database,
            "workers": workers or 1, "rounds": recorder.rounds, "batches": len(lat),
            "p50_ms": round(percentile(lat, 50), 1), "p90_ms": round(percentile(lat, 90), 1),
            "p99_ms": round(percentile(lat, 99), 1), "errors": recorder.errors,
            "errors_by_status": {str(k): v for k, v in sorted(recorder.statuses.items())},
            "unreachable": recorder.unreachable,
            "rounds_not_credited": sum(not_credited.values()), "not_credited_by_rule": not_credited,
            "guesses_per_s": round(len(lat) / seconds, 1),
            "service_guesses_per_s": round(baseline, 1),
            "served_vs_service": round(len(lat) / seconds / baseline, 3),
            "forward_passes": passes, "worker_processes_seen": len(after),
            "server_cpu_ms_per_batch": round(1000 * server_cpu / max(len(lat), 1), 2),
            "load_generator_cpu_ms_per_batch": round(1000 * client_cpu / max(len(lat), 1), 2),
            "load_average_1min": round(os.getloadavg()[0], 1),
            "mean_images_per_forward": round(images / passes, 2) if passes else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn worker processes (default: the Makefile's, one)")
    args = parser.parse_args(argv)
    if not 1 <= args.players <= 1000 or not 1 <= args.seconds <= 600:
        parser.error("--players must be 1-1000 and --seconds 1-600")
    try:
        r = measure(args.players, args.seconds, args.database, args.workers)
    except DatabaseUnavailable as exc:
        parser.error(str(exc))
    print(f"load: {r['players']} players x {r['seconds']:g} s on {r['database']}, "
          f"{r['workers']} worker(s): {r['rounds']} rounds, {r['batches']} guess-bearing batches")
    print(f"latency p50 {r['p50_ms']} ms, p90 {r['p90_ms']} ms, p99 {r['p99_ms']} ms; "
          f"errors {r['errors']} {r['errors_by_status']} (+{r['unreachable']} unanswered)")
    print(f"served {r['guesses_per_s']} guesses/s vs guess service alone {r['service_guesses_per_s']}/s "
          f"(same run) -> x{r['served_vs_service']}; "
          f"{r['mean_images_per_forward']} images per forward pass ({r['forward_passes']} passes)")
    print(f"server CPU {r['server_cpu_ms_per_batch']} ms per batch (load generator "
          f"{r['load_generator_cpu_ms_per_batch']} ms); machine load average {r['load_average_1min']} "
          f"on {os.cpu_count()} cores")
    print(f"rounds not credited by the anti-cheat: {r['rounds_not_credited']} {r['not_credited_by_rule']}")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
