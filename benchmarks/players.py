"""Simulated players for the load and chaos benchmarks: real rounds over HTTP, paced like the page.

Each player is one thread with its own cookie session. It consents, then plays rounds until the
deadline: it starts a round with a fresh UUID, "brushes" along the drawing's ink (a
nearest-neighbour walk, so consecutive points are a stroke, not a scan) at most `POINTS_PER_S`
points a second and never faster than `HAND_SPEED` canvas lengths per second, so a jump between
strokes takes the time a hand needs (`hand_times`). Points carry the page clock the server's
anti-cheat checks (``webapp/services/plausibility.py``: ``t_ms`` counts from the server's round
start) and are sent only once that much real time has passed, so the simulated players are
credited like honest ones. It sends its points the way ``static/js/api.js`` does: one request in flight, the next one
`FLUSH_DELAY_S` after an answer unless `FLUSH_AT_POINTS` already wait, at most `MAX_SEND` per
request, resent from the server's ``n_points`` after any failure. A round ends when the server
recognises the drawing, or with a skip when the ink runs out; the player then pauses
`ROUND_PAUSE_S` (reading the result) before the next round. Load is therefore bounded by the
number of players, and every request goes to 127.0.0.1.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests
from PIL import Image

# The page's outbox (static/js/api.js) and a player's pace.
FLUSH_DELAY_S = 0.150
FLUSH_AT_POINTS = 32
MAX_SEND = 200
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
POINTS_PER_S = 30.0
#: brush speed in canvas lengths per second: a tenth of the anti-cheat's default
#: ``DA_MAX_POINTER_SPEED`` (10), a calm hand
HAND_SPEED = 1.0
ROUND_PAUSE_S = 1.0
REQUEST_TIMEOUT_S = 30.0


class Unreachable(Exception):
    """No HTTP answer (connection refused or reset, timeout): the server is down or overloaded."""


@dataclass
class Recorder:
    """What all players saw, shared between their threads."""

    latencies_ms: list[float] = field(default_factory=list)  # guess-bearing batches answered 200
    statuses: Counter = field(default_factory=Counter)  # non-2xx answers by status
    unreachable: int = 0
    rounds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failure(self, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.unreachable += 1
            else:
                self.statuses[status] += 1

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) + self.unreachable


@dataclass
class RoundRecord:
    """A round as its player knows it: every point it drew and how many the server acknowledged."""

    round_id: str
    points: list[list[float]]
    acked: int = 0
    status: str = "active"


_ink_cache: dict[int, np.ndarray] = {}
_ink_lock = threading.Lock()


def ink_walk(image: np.ndarray) -> np.ndarray:
    """The ink pixels' centres ``[N, 2]`` in a nearest-neighbour order starting top-left."""
    ys, xs = np.nonzero(image > 128)
    pts = np.stack([xs + 0.5, ys + 0.5], axis=1).astype(np.float64)
    if len(pts) == 0:
        return pts
    order = [int(np.lexsort((pts[:, 0], pts[:, 1]))[0])]
    left = np.ones(len(pts), dtype=bool)
    left[order[0]] = False
    while left.any():
        last = pts[order[-1]]
        d2 = np.where(left, ((pts - last) ** 2).sum(axis=1), np.inf)
        nxt = int(np.argmin(d2))
        order.append(nxt)
        left[nxt] = False
    return pts[order]


def hand_times(walk: np.ndarray, canvas_px: float, start_ms: float) -> np.ndarray:
    """Page times (ms) at which a hand brushing along ``walk`` reaches each point, from
    ``start_ms``: one point per ``1 / POINTS_PER_S`` s, slower where a step is long."""
    if len(walk) == 0:
        return np.zeros(0)
    steps = np.hypot(*np.diff(walk, axis=0).T) if len(walk) > 1 else np.zeros(0)
    gaps = np.maximum(1000.0 / POINTS_PER_S, steps / (HAND_SPEED * canvas_px) * 1000.0)
    return start_ms + np.concatenate([[0.0], np.cumsum(gaps)])


class Player:
    """One simulated participant (see the module docstring)."""

    def __init__(self, base_url: str, recorder: Recorder) -> None:
        self.base_url = base_url
        self.recorder = recorder
        self.http = requests.Session()
        self.rounds: dict[str, RoundRecord] = {}  # rounds the server acknowledged
        self.round_ids_tried: set[str] = set()  # every id this player ever posted
        self.failures = 0

    # -- HTTP ---------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``(status, json)``; raises `Unreachable` when no answer came."""
        try:
            response = self.http.request(method, self.base_url + path, json=body,
                                         timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:
            self.recorder.failure(None)
            raise Unreachable(str(exc)) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 300:
            self.recorder.failure(response.status_code)
        return response.status_code, data

    def retry(self, method: str, path: str, body: Any, deadline: float) -> tuple[int, Any] | None:
        """Like the page: retry no-answer and 5xx with backoff until an answer or the deadline."""
        while time.monotonic() < deadline:
            try:
                status, data = self.call(method, path, body)
            except Unreachable:
                status, data = None, None
            if status is not None and status < 500:
                self.failures = 0
                return status, data
            time.sleep(BACKOFF_S[min(self.failures, len(BACKOFF_S) - 1)])
            self.failures += 1
        return None

    def ink(self, stimulus: dict, deadline: float) -> np.ndarray:
        with _ink_lock:
            cached = _ink_cache.get(stimulus["id"])
        if cached is not None:
            return cached
        try:
            png = self.http.get(self.base_url + stimulus["image_url"], timeout=REQUEST_TIMEOUT_S).content
            walk = ink_walk(np.asarray(Image.open(io.BytesIO(png)).convert("L")))
        except (requests.RequestException, OSError):
            self.recorder.failure(None)
            return np.zeros((0, 2))
        with _ink_lock:
            _ink_cache[stimulus["id"]] = walk
        return walk

    # -- playing ------------------------------------------------------------------------------

    def join(self, deadline: float) -> bool:
        answer = self.retry("GET", "/api/me", None, deadline)
        if answer is None:
            return False
        version = answer[1]["consent_required"]
        answer = self.retry("POST", "/api/consent", {"version": version, "agree": True}, deadline)
        return answer is not None and answer[0] == 200

    def run(self, deadline: float, start_delay_s: float = 0.0) -> None:
        time.sleep(start_delay_s)
        if not self.join(deadline):
            return
        while time.monotonic() < deadline:
            self.play_round(deadline)
            time.sleep(ROUND_PAUSE_S)

    def play_round(self, deadline: float) -> None:
        round_id = str(uuid.uuid4())
        self.round_ids_tried.add(round_id)
        answer = self.retry("POST", "/api/rounds", {"round_id": round_id}, deadline)
        if answer is None or answer[0] not in (200, 201):
            return
        state = answer[1]
        with self.recorder.lock:
            self.recorder.rounds += 1
        # The page's clock: t_ms counts from the server's round start, which was
        # ``elapsed_ms`` ago when the answer left the server.
        origin = time.monotonic() - state["elapsed_ms"] / 1000.0
        walk = self.ink(state["stimulus"], deadline)
        canvas = float(max(state["stimulus"]["width"], state["stimulus"]["height"]))
        times = hand_times(walk, canvas, (time.monotonic() - origin) * 1000.0)
        points = [[float(x), float(y), round(float(t), 1)] for (x, y), t in zip(walk, times)]
        record = RoundRecord(round_id, points)
        self.rounds[round_id] = record

        def drawn() -> int:
            """Points the hand has reached by now (none is sent before its page time)."""
            return int(np.searchsorted(times, (time.monotonic() - origin) * 1000.0, side="right"))

        while record.status == "active" and time.monotonic() < deadline:
            if record.acked >= len(points):
                break
            if drawn() - record.acked < FLUSH_AT_POINTS and drawn() < len(points):
                time.sleep(FLUSH_DELAY_S)
            start = record.acked
            batch = points[start:min(drawn(), start + MAX_SEND)]
            if not batch:
                continue
            self.send(record, start, batch)
        if record.status == "active" and record.acked >= len(points):
            answer = self.retry("POST", f"/api/rounds/{round_id}/end", {"reason": "skip"}, deadline)
            if answer is not None and answer[0] == 200:
                record.status = answer[1]["status"]

    def send(self, record: RoundRecord, start: int, batch: list[list[float]]) -> None:
        """One guess-bearing batch; its latency is recorded when it was answered with 200."""
        t0 = time.perf_counter()
        try:
            status, data = self.call("POST", f"/api/rounds/{record.round_id}/points",
                                     {"start_index": start, "points": batch})
        except Unreachable:
            time.sleep(BACKOFF_S[min(self.failures, len(BACKOFF_S) - 1)])
            self.failures += 1
            return
        if status == 200:
            self.failures = 0
            with self.recorder.lock:
                self.recorder.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
            record.acked = max(record.acked, data["n_points"])
            record.status = data["status"]
        elif status == 409 and isinstance(data, dict) and "expected_index" in data:
            record.acked = int(data["expected_index"])
        else:
            time.sleep(BACKOFF_S[min(self.failures, len(BACKOFF_S) - 1)])
            self.failures += 1
            if status in (403, 404, 409):  # the round cannot take more: give it up
                record.status = "given-up"


def play(base_url: str, players: int, seconds: float,
         recorder: Recorder | None = None) -> tuple[Recorder, list[Player]]:
    """``players`` threads playing for ``seconds`` (arrivals spread over the first second)."""
    recorder = recorder or Recorder()
    crowd = [Player(base_url, recorder) for _ in range(players)]
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=p.run, args=(deadline, i / max(players, 1)), daemon=True)
               for i, p in enumerate(crowd)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + REQUEST_TIMEOUT_S + 10)
    return recorder, crowd
