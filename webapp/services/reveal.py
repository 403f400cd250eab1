"""The revealed image of a live round, extended batch by batch instead of redrawn every time.

Every batch of brush points triggers a guess on the image those points (and all earlier ones)
reveal. Redrawing all stored points per batch makes a round's cost grow with the square of its
length and reads every point back from the database. Since the brush mask is a union of discs
(`models.render.paint`), the mask after ``n`` points plus the new points' discs *is* the mask
after ``n + k`` points. This module keeps, per process, the latest mask of each round in a
small LRU cache; when it is missing (another worker served the last batch, a restart, eviction)
or stale, the mask is rebuilt from the stored points, so the cache only ever saves work.

Each entry also keeps the round's last stored point, which the anti-cheat compares the next
batch with (`services.plausibility`): a process that served the previous batch need not read
it back. Stored points never change (a batch is appended by index, never rewritten), so an
entry for exactly ``n`` points stays true for as long as the round has ``n`` points.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
from sqlalchemy import select

from models import render

from ..extensions import db
from ..models import BrushPoint

Point = tuple[float, float, float]

#: bytes of masks kept per process (a 28x28 mask is 784 bytes, a 256x256 one 64 KiB)
CACHE_BYTES = 32 * 1024 * 1024


class MaskCache:
    """Thread-safe LRU of ``round_id -> (number of points, mask, last point)``, bounded in bytes.

    Cached masks are never modified: extending one makes a copy, so a reader can keep using
    the array it got while another thread stores a newer one.
    """

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[str, tuple[int, np.ndarray, Point | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, round_id: str, n_points: int) -> np.ndarray | None:
        """The round's mask after exactly ``n_points`` points, if that is what is cached."""
        with self._lock:
            item = self._items.get(round_id)
            if item is None or item[0] != n_points:
                return None
            self._items.move_to_end(round_id)
            return item[1]

    def last_point(self, round_id: str, n_points: int) -> Point | None:
        """The round's point ``n_points - 1`` if the cached entry is for exactly ``n_points``."""
        with self._lock:
            item = self._items.get(round_id)
            return item[2] if item is not None and item[0] == n_points else None

    def put(self, round_id: str, n_points: int, mask: np.ndarray,
            last_point: Point | None = None) -> None:
        mask.setflags(write=False)
        with self._lock:
            old = self._items.pop(round_id, None)
            if old is not None:
                if old[0] > n_points:  # a newer mask is already here: keep it
                    self._items[round_id] = old
                    return
                if old[0] == n_points and last_point is None:
                    last_point = old[2]
                self._bytes -= old[1].nbytes
            self._items[round_id] = (n_points, mask, last_point)
            self._bytes += mask.nbytes
            while self._bytes > self._max_bytes and len(self._items) > 1:
                _, (_, evicted, _) = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes


_masks = MaskCache()


def cached_last_point(round_id: str, n_points: int) -> Point | None:
    """The round's last stored point (index ``n_points - 1``) when this process has it, else
    None (the caller reads it from the database)."""
    return _masks.last_point(round_id, n_points)


def round_mask(round_id: str, width: int, height: int, radius: float, n_before: int,
               new_points: Sequence[Sequence[float]]) -> np.ndarray:
    """The mask after the round's first ``n_before`` stored points plus ``new_points``.

    Uses the cached mask after ``n_before`` points when there is one; otherwise reads those
    points back from the database (call it outside any write transaction: it is a plain read).
    """
    base = _masks.get(round_id, n_before)
    if base is None and n_before == 0:
        base = np.zeros((height, width), dtype=bool)
    elif base is None:
        stored = db.session.execute(select(BrushPoint.x, BrushPoint.y)
                                    .where(BrushPoint.round_id == round_id, BrushPoint.idx < n_before)
                                    .order_by(BrushPoint.idx)).all()
        base = render.brush_mask(stored, width, height, radius)
    mask = render.paint(base.copy(), new_points, radius)
    last = tuple(new_points[-1][:3]) if new_points and len(new_points[-1]) >= 3 else None
    _masks.put(round_id, n_before + len(new_points), mask, last)
    return mask
