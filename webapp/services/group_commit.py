"""What a pipeline tick writes about live rounds, for all its batches at once: the group commit.

A batch used to cost two transactions of its own (six to eight statements, and on PostgreSQL a
WAL flush each). Here the batches of all players that arrived during one tick share one
transaction (the tick's, `services.pipeline`, which also holds its round starts) and a fixed
number of statements, whatever their number:

1. lock the tick's rounds in id order (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
   already holds its one write lock) and read their `live.Version` and the players' totals;
2. leave out every round whose stored version differs from the one its `LiveRound` was computed
   from (another process or request changed it), or whose entry an earlier tick gave up (it
   failed while this one was being prepared): the pipeline reloads it and replays its requests;
3. one executemany each: update the rounds, insert the points, insert the guesses, add the
   points of the rounds that ended credited to their players (in SQL: ``x = x + n``, in
   player-id order);
4. the pipeline commits. Only then does any batch of the tick get its answer, so an
   acknowledged point is a committed point.

Statements are SQLAlchemy Core, built once: the ORM's unit of work cost more CPU than the SQL.
Lock order (rounds by id, then players by id) is the same in every process, so two workers'
ticks cannot deadlock on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, case, insert, select, update

from ..models import BrushPoint, Guess, Player, Round
from .brushing import Change, ended_at
from .live import LiveRound, Version

_R = Round.__table__
_PL = Player.__table__
_LOCK = (select(_R.c.id, _R.c.status, _R.c.n_points, _R.c.credited, _R.c.dropped_points,
                _R.c.player_id, _PL.c.total_score, _PL.c.best_round)
         .join(_PL, _PL.c.id == _R.c.player_id)
         .where(_R.c.id.in_(bindparam("ids", expanding=True)))
         .order_by(_R.c.id).with_for_update(of=_R))
_UPDATE_ROUND = (update(_R).where(_R.c.id == bindparam("rid"))
                 .values(status=bindparam("status"), n_points=bindparam("n_points"),
                         path_px=bindparam("path_px"), credited=bindparam("credited"),
                         flag_reason=bindparam("flag_reason"), duration_ms=bindparam("duration_ms"),
                         ended_at=bindparam("ended_at"), points=bindparam("points"),
                         dropped_points=bindparam("dropped_points")))
_INSERT_POINTS = insert(BrushPoint.__table__)
_INSERT_GUESSES = insert(Guess.__table__)
_SCORE = (update(_PL).where(_PL.c.id == bindparam("pid"))
          .values(rounds_played=_PL.c.rounds_played + 1,
                  total_score=_PL.c.total_score + bindparam("scored"),
                  best_round=case((_PL.c.best_round < bindparam("scored"), bindparam("scored")),
                                  else_=_PL.c.best_round)))


@dataclass
class RoundWork:
    """A round's share of a tick: its entry, the row as it was before the tick, its changes, and
    (once `seal` ran, at the end of the tick's first stage) the row and version it leaves: the
    entry itself may already be moving on with the next tick while this one is written."""

    live: LiveRound
    before: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    after: dict[str, Any] | None = None
    after_version: Version | None = None

    @classmethod
    def of(cls, live: LiveRound) -> "RoundWork":
        return cls(live, live.row())

    def seal(self) -> None:
        self.after = {**self.live.row(), "ended_at": ended_at(self.live)}
        self.after_version = self.live.current_version()

    def row(self) -> dict[str, Any] | None:
        """The round's UPDATE parameters, or None when nothing in its row changed."""
        assert self.after is not None, "seal() the work first"
        return None if {k: v for k, v in self.after.items() if k != "ended_at"} == self.before \
            else self.after


@dataclass
class Committed:
    """What the group commit did: rounds left out (stale or gone), and every touched player's
    ``(total_score, best_round)``: as read under the round locks plus what this tick added (a
    round of the same player ending in another worker at that moment shows in the next
    answer; the stored totals count both, the update being in SQL)."""

    conflicts: set[str]
    totals: dict[int, tuple[int, int]]


def write(conn: Connection, works: dict[str, RoundWork]) -> Committed:
    """Write the tick's work in the write transaction open on ``conn`` (see the module
    docstring); the caller commits."""
    if not works:
        return Committed(set(), {})
    stored = {row.id: row for row in conn.execute(_LOCK, {"ids": sorted(works)})}
    conflicts = {rid for rid, work in works.items()
                 if work.live.stale or rid not in stored
                 or Version(*stored[rid][1:5]) != work.live.version}
    totals = {row.player_id: (row.total_score, row.best_round) for row in stored.values()}
    rounds, points, guesses, scores = [], [], [], []
    for rid, work in works.items():
        if rid in conflicts:
            continue
        row = work.row()
        if row is not None:
            rounds.append(row)
        for change in work.changes:
            points.extend(change.point_rows)
            if change.guess_row is not None:
                guesses.append(change.guess_row)
            if change.scored is not None:
                scores.append((work.live.player_id, change.scored))
    if rounds:
        conn.execute(_UPDATE_ROUND, rounds)
    if points:
        conn.execute(_INSERT_POINTS, points)
    if guesses:
        conn.execute(_INSERT_GUESSES, guesses)
    if scores:
        conn.execute(_SCORE, [{"pid": pid, "scored": scored} for pid, scored in sorted(scores)])
    for player_id, scored in scores:
        total, best = totals[player_id]
        totals[player_id] = (total + scored, max(best, scored))
    return Committed(conflicts, totals)
