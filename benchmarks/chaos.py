"""``python -m benchmarks chaos``: players keep playing while the server is SIGKILLed and restarted.

The load benchmark's players (`benchmarks.players`, which retry like the page: same round id,
unsent points resent from the server's ``n_points``, the socket reopened, plain HTTP meanwhile) play against the real server while its
whole process group (gunicorn master and workers) is killed with SIGKILL ``--kills`` times and
started again. Afterwards the database is compared with what the players were told:

* acknowledged points lost: points the server confirmed (``n_points`` in an answer) that are
  not stored, or stored differently from what the player sent;
* duplicated points: one drawn point (round, x, y, t_ms) stored more than once;
* duplicated rounds: stored rounds whose id no player posted (a retry that made a new round).

All three must be 0. The baseline is the same figures with no kill, which the test suite checks
too (``tests/game/test_chaos.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import sqlalchemy as sa

from benchmarks.players import TRANSPORTS, Player, Recorder, play, transport_for
from benchmarks.server import (DatabaseUnavailable, GameServer, TempDatabase,
                               crowd_behind_one_address)

RESTART_PAUSE_S = 0.5


def _kill_repeatedly(server: GameServer, kills: int, seconds: float, recorder: Recorder,
                     log: list[float]) -> None:
    """Kill the server ``kills`` times, spread over ``seconds``; each kill waits until the
    (re)started server has acknowledged another batch, so every kill lands mid-play."""
    deadline = time.monotonic() + seconds
    interval = seconds / (kills + 1)
    for _ in range(kills):
        served = len(recorder.latencies_ms)
        time.sleep(interval)
        while len(recorder.latencies_ms) == served and time.monotonic() < deadline:
            time.sleep(0.1)
        if time.monotonic() >= deadline:
            return
        server.kill()
        log.append(time.monotonic())
        time.sleep(RESTART_PAUSE_S)
        server.start()


def audit(url: str, crowd: list[Player]) -> dict[str, int]:
    """Compare the database with what the players were told (see the module docstring)."""
    engine = sa.create_engine(url)
    sent = {rid: rec for player in crowd for rid, rec in player.rounds.items()}
    tried = set().union(*(p.round_ids_tried for p in crowd)) if crowd else set()
    lost = acknowledged = 0
    with engine.connect() as conn:
        stored_rounds = {r for (r,) in conn.execute(sa.text("SELECT id FROM round"))}
        for rid, record in sent.items():
            acknowledged += record.acked
            rows = conn.execute(sa.text("SELECT idx, x, y, t_ms FROM brush_point WHERE round_id = :r "
                                        "ORDER BY idx"), {"r": rid}).all()
            same = sum(1 for idx, x, y, t in rows
                       if idx < len(record.points) and [x, y, t] == record.points[idx])
            lost += max(0, record.acked - same)
        duplicated_points = conn.execute(sa.text(
            "SELECT COALESCE(SUM(c - 1), 0) FROM (SELECT count(*) AS c FROM brush_point "
            "GROUP BY round_id, x, y, t_ms HAVING count(*) > 1) AS d")).scalar_one()
    engine.dispose()
    return {"acknowledged_points": acknowledged, "acknowledged_points_lost": lost,
            "duplicated_points": int(duplicated_points),
            "duplicated_rounds": len(stored_rounds - tried),
            "acknowledged_rounds_lost": len(set(sent) - stored_rounds)}


def measure(players: int, seconds: float, kills: int, database: str,
            transport: str = "socket") -> dict:
    db = TempDatabase(database)
    server = GameServer(db, env=crowd_behind_one_address(players))
    killed_at: list[float] = []
    try:
        server.setup()
        server.start()
        recorder = Recorder()
        killer = threading.Thread(target=_kill_repeatedly, daemon=True,
                                  args=(server, kills, seconds, recorder, killed_at))
        killer.start()
        recorder, crowd = play(transport_for(transport, server.base_url), players, seconds, recorder)
        killer.join()
        result = audit(db.url, crowd)
    finally:
        server.stop()
        db.drop()
    return {"players": players, "seconds": seconds, "database": database, "transport": transport,
            "kills": len(killed_at),
            "rounds": recorder.rounds, "unanswered_requests": recorder.unreachable,
            "error_answers": dict(recorder.statuses), **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--transport", choices=tuple(TRANSPORTS), default="socket",
                        help="how the players reach the server (see `python -m benchmarks load`)")
    args = parser.parse_args(argv)
    if not 1 <= args.players <= 1000 or not 1 <= args.seconds <= 600 or not 0 <= args.kills <= 50:
        parser.error("--players must be 1-1000, --seconds 1-600 and --kills 0-50")
    try:
        baseline = measure(args.players, min(args.seconds, 10.0), 0, args.database, args.transport)
        r = measure(args.players, args.seconds, args.kills, args.database, args.transport)
    except DatabaseUnavailable as exc:
        parser.error(str(exc))
    for name, figures in (("baseline (no kill)", baseline), (f"{r['kills']} SIGKILLs", r)):
        print(f"chaos {name}: {figures['players']} players x {figures['seconds']:g} s on "
              f"{figures['database']}, {figures['rounds']} rounds, {figures['acknowledged_points']} "
              f"points acknowledged: {figures['acknowledged_points_lost']} lost, "
              f"{figures['duplicated_points']} duplicated points, {figures['duplicated_rounds']} "
              f"duplicated rounds ({figures['unanswered_requests']} requests unanswered)")
    print(json.dumps({**r, "baseline": baseline}))
    bad = r["acknowledged_points_lost"] + r["duplicated_points"] + r["duplicated_rounds"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
