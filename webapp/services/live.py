"""What the hot path keeps in memory about a live round between its batches.

Every batch of brush points needs the round's settings, counters, previous point and revealed
mask. Reading them from the database per batch (the round row, the previous point, all points
for the mask) was most of a batch's cost, so each process keeps a `LiveRound` per round it has
served, in a byte-bounded LRU (`LiveRounds`), and writes back only what changed.

The database stays the authority. Each entry remembers the `Version` of the row it mirrors
(status, point count, credit, dropped points: the fields any writer changes), and the group
commit (`services.group_commit`) checks it under the row lock before writing. A round changed
elsewhere (another gunicorn worker, an ``/end`` request, the sweep for abandoned rounds, a
withdrawal) therefore never gets a stale write: its entry is dropped, reloaded (`load_rounds`)
and the batch replayed. The cache can only save work, never decide anything.

`LiveRound` carries the same attribute names as `models.Round` for everything the shared rules
read (`plausibility.implausibility`, `rounds.round_state`, `expiry.past_deadline`), so those
rules serve both the ORM path (round start, ``GET``, ``/end``) and this one unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np
from sqlalchemy import Connection, bindparam, func, select

from models import render

from ..models import BrushPoint, Guess, Round
from .stimuli import StimulusView, stimulus_view

Point = tuple[float, float, float]

#: bytes of live rounds kept per process (a 28x28 round is ~1 KB, a 256x256 one ~66 KB)
CACHE_BYTES = 32 * 1024 * 1024
#: fixed bytes per entry besides its mask (settings, counters, the last guess)
ENTRY_OVERHEAD_BYTES = 1024


class Version(NamedTuple):
    """The stored fields that tell whether a round row changed since it was read. Each only
    moves one way (status leaves ``active`` once, counts grow, credit is only ever withdrawn),
    so equal values mean an unchanged row."""

    status: str
    n_points: int
    credited: bool
    dropped_points: int


@dataclass(eq=False)
class LiveRound:
    """A round as the hot path sees it; mutated only by the pipeline's thread."""

    id: str
    player_id: int
    stimulus_id: int
    study_id: int | None
    category: str
    started_at: datetime
    settings: dict[str, Any]
    model_version: str
    status: str
    n_points: int
    path_px: float
    credited: bool
    flag_reason: str | None
    duration_ms: int | None
    points: int
    dropped_points: int
    #: the round's last stored point (the anti-cheat measures the next batch from it)
    last_point: Point | None
    #: the union of every stored point's brush disc (`models.render.brush_mask`)
    mask: np.ndarray
    #: the latest stored guess as the page sees it (``{"top5", "correct", "n_points"}``) or None
    guess: dict[str, Any] | None
    #: what the database held when this entry was last in step with it
    version: Version = field(init=False)
    #: given up (its tick failed or its round changed elsewhere): ticks prepared on it replay
    stale: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.version = self.current_version()

    def current_version(self) -> Version:
        return Version(self.status, self.n_points, self.credited, self.dropped_points)

    @property
    def nbytes(self) -> int:
        return self.mask.nbytes + ENTRY_OVERHEAD_BYTES

    def row(self) -> dict[str, Any]:
        """The round's mutable columns, for the group commit's UPDATE."""
        return {"rid": self.id, "status": self.status, "n_points": self.n_points,
                "path_px": self.path_px, "credited": self.credited,
                "flag_reason": self.flag_reason, "duration_ms": self.duration_ms,
                "points": self.points, "dropped_points": self.dropped_points}

    @classmethod
    def started(cls, row: Mapping[str, Any], stimulus: StimulusView) -> "LiveRound":
        """The entry for a round just inserted from ``row`` (`services.starting`): nothing
        drawn, nothing guessed, credited."""
        return cls(row["id"], row["player_id"], row["stimulus_id"], row["study_id"],
                   row["category"], row["started_at"], row["settings"], row["model_version"],
                   "active", 0, 0.0, True, None, None, 0, 0, None,
                   np.zeros((stimulus.height, stimulus.width), dtype=bool), None)


class LiveRounds:
    """Thread-safe LRU of `LiveRound` by round id, bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[str, LiveRound] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, round_id: str) -> LiveRound | None:
        with self._lock:
            live = self._items.get(round_id)
            if live is not None:
                self._items.move_to_end(round_id)
            return live

    def put(self, live: LiveRound) -> None:
        with self._lock:
            old = self._items.pop(live.id, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[live.id] = live
            self._bytes += live.nbytes
            while self._bytes > self._max_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def drop(self, round_id: str) -> None:
        with self._lock:
            old = self._items.pop(round_id, None)
            if old is not None:
                self._bytes -= old.nbytes


# --- loading from the database ------------------------------------------------------------------

_R = Round.__table__
_P = BrushPoint.__table__
_G = Guess.__table__
_IDS = bindparam("ids", expanding=True)
_SELECT_ROUNDS = select(_R.c.id, _R.c.player_id, _R.c.stimulus_id, _R.c.study_id, _R.c.category,
                        _R.c.started_at,
                        _R.c.settings, _R.c.model_version, _R.c.status, _R.c.n_points, _R.c.path_px,
                        _R.c.credited, _R.c.flag_reason, _R.c.duration_ms, _R.c.points,
                        _R.c.dropped_points).where(_R.c.id.in_(_IDS))
_SELECT_POINTS = (select(_P.c.round_id, _P.c.x, _P.c.y, _P.c.t_ms).where(_P.c.round_id.in_(_IDS))
                  .order_by(_P.c.round_id, _P.c.idx))
_SELECT_LAST_GUESSES = select(_G.c.round_id, _G.c.top5, _G.c.correct, _G.c.n_points).where(
    _G.c.id.in_(select(func.max(_G.c.id)).where(_G.c.round_id.in_(_IDS)).group_by(_G.c.round_id)))


def load_rounds(conn: Connection, round_ids: Iterable[str]) -> dict[str, LiveRound]:
    """The stored rounds among ``round_ids`` as fresh entries (rounds that do not exist are
    missing from the answer). Three reads for any number of rounds: the rows, their points (for
    the mask and the last point) and their latest guesses.

    The reads need not share a snapshot: stored points never change, so only the first
    ``n_points`` of the row are used, and a row that moved on meanwhile fails the group commit's
    version check and is loaded again.
    """
    ids = list(round_ids)
    rows = conn.execute(_SELECT_ROUNDS, {"ids": ids}).all()
    drawn = [row.id for row in rows if row.n_points]
    points: dict[str, list[Point]] = {}
    guesses: dict[str, dict[str, Any]] = {}
    if drawn:
        for rid, x, y, t in conn.execute(_SELECT_POINTS, {"ids": drawn}):
            points.setdefault(rid, []).append((x, y, t))
        for rid, top5, correct, n_points in conn.execute(_SELECT_LAST_GUESSES, {"ids": drawn}):
            guesses[rid] = {"top5": top5, "correct": correct, "n_points": n_points}
    loaded = {}
    for row in rows:
        stimulus = stimulus_view(row.stimulus_id)
        stored = points.get(row.id, [])[:row.n_points]
        mask = render.brush_mask(stored, stimulus.width, stimulus.height,
                                 row.settings["brush_radius_px"])
        loaded[row.id] = LiveRound(
            row.id, row.player_id, row.stimulus_id, row.study_id, row.category, row.started_at,
            row.settings,
            row.model_version, row.status, row.n_points, row.path_px or 0.0, row.credited,
            row.flag_reason, row.duration_ms, row.points, row.dropped_points or 0,
            stored[-1] if stored else None, mask, guesses.get(row.id))
    return loaded
