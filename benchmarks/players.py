"""Simulated players for the load and chaos benchmarks: real rounds, paced like the page.

Each player is one coroutine with its own cookie session (aiohttp), all of them on one event
loop, so the load generator costs little CPU next to the server it measures on the same machine.
A player consents, then plays rounds until the deadline: it starts a round with a fresh UUID,
"brushes" along the drawing's ink (a nearest-neighbour walk, so consecutive points are a stroke,
not a scan) at most `POINTS_PER_S` points a second and never faster than `HAND_SPEED` canvas
lengths per second, so a jump between strokes takes the time a hand needs (`hand_times`). Points
carry the page clock the server's anti-cheat checks (``webapp/services/plausibility.py``:
``t_ms`` counts from the server's round start) and are sent only once that much real time has
passed, so the simulated players are credited like honest ones. It sends its points the way
``static/js/api.js`` does: one request in flight, the next one `FLUSH_DELAY_S` after an answer
unless `FLUSH_AT_POINTS` already wait, at most `MAX_SEND` per request, resent from the server's
``n_points`` after any failure, 5xx and 429 retried with the page's backoff. A round ends when
the server recognises the drawing, or with a skip when the ink runs out; the player then pauses
`ROUND_PAUSE_S` (reading the result) before the next round. Load is therefore bounded by the
number of players.

How requests travel is the `Transport`'s business, as in the page: `SocketTransport` (the page's
default: the game's requests over one WebSocket per player, plain HTTP while it is not open),
`HttpTransport` (the HTTP API alone, the page's fallback), or `IdealServer`'s transport (no
server at all: the guess service answers in process, the load benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Coroutine, Iterable, Protocol, TypeVar

import aiohttp
import numpy as np
from PIL import Image

T = TypeVar("T")

# The page's outbox (static/js/api.js) and a player's pace.
FLUSH_DELAY_S = 0.150
FLUSH_AT_POINTS = 32
MAX_SEND = 200
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
POINTS_PER_S = 30.0
#: brush speed in canvas lengths per second: a tenth of the anti-cheat's default
#: ``DA_MAX_POINTER_SPEED`` (10), a calm hand
HAND_SPEED = 1.0
ROUND_PAUSE_S = 1.0
REQUEST_TIMEOUT_S = 30.0
#: the page's socket path (static/js/api.js) and how soon it tries again after losing it
SOCKET_PATH = "/api/socket"
SOCKET_RETRY_S = 1.0
#: how long the page waits for its socket to open before the first round (``openGameSocket``)
SOCKET_WAIT_S = 0.5


class Unreachable(Exception):
    """No answer (connection refused or reset, timeout): the server is down or overloaded."""


@dataclass
class Answer:
    """A response as the page sees it: status, JSON body, and ``Retry-After`` (seconds) if any."""

    status: int
    data: Any
    retry_after: float | None = None


class Transport(Protocol):
    """How a player's requests reach the game (one per player)."""

    base_url: str

    async def call(self, method: str, path: str, body: Any = None) -> Answer: ...

    async def image(self, stimulus: dict[str, Any]) -> np.ndarray: ...

    async def opened(self, wait_s: float) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Recorder:
    """What all players saw (one event loop: no lock needed; read after `play` returns, or
    from another thread only for counts)."""

    latencies_ms: list[float] = field(default_factory=list)  # guess-bearing batches answered 200
    #: when each of them was sent (``time.monotonic()``), to tell the arrival burst from the rest
    sent_at: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # non-2xx answers by status
    unreachable: int = 0
    rounds: int = 0
    #: requests that travelled over the socket / over plain HTTP
    by_transport: Counter = field(default_factory=Counter)
    #: when the first player arrived (``time.monotonic()``; set by `play`)
    started: float = 0.0
    #: each player's join, from its first request to its consent answered and socket open
    join_ms: list[float] = field(default_factory=list)

    def latencies_between(self, since_s: float, until_s: float = float("inf")) -> list[float]:
        """Latencies of the batches sent between ``since_s`` and ``until_s`` after `started`."""
        return [lat for lat, at in zip(self.latencies_ms, self.sent_at)
                if since_s <= at - self.started < until_s]

    def failure(self, status: int | None) -> None:
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


# --- transports -----------------------------------------------------------------------------------


class HttpTransport:
    """The HTTP API, one keep-alive connection pool and cookie jar per player (like a browser)."""

    def __init__(self, base_url: str, recorder: Recorder) -> None:
        self.base_url = base_url
        self.recorder = recorder
        # unsafe=True: keep cookies from an IP address (the benchmark server is 127.0.0.1)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                                          cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        self.recorder.by_transport["http"] += 1
        try:
            async with self.http.request(method, self.base_url + path, json=body) as response:
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
                retry = response.headers.get("Retry-After")
                return Answer(response.status, data, float(retry) if retry else None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise Unreachable(str(exc)) from None

    async def image(self, stimulus: dict[str, Any]) -> np.ndarray:
        try:
            async with self.http.get(self.base_url + stimulus["image_url"]) as response:
                png = await response.read()
            return np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise Unreachable(str(exc)) from None

    async def opened(self, wait_s: float) -> None:
        """Nothing to open: every request is its own."""

    async def close(self) -> None:
        await self.http.close()


class SocketTransport(HttpTransport):
    """What the page does: the game's requests over one WebSocket, sent like HTTP requests
    (``{"id", "method", "path", "body"}`` → ``{"id", "status", "body", "retry_after"?}``), and
    plain HTTP whenever the socket is not open, while it reconnects in the background. The page
    sends over the socket only requests the server serves there (`webapp/api/socket.py`)."""

    SOCKET_ROUTES = (("POST", "/api/rounds"), ("GET", "/api/rounds/"), ("POST", "/api/rounds/"))

    def __init__(self, base_url: str, recorder: Recorder) -> None:
        super().__init__(base_url, recorder)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.connecting: asyncio.Task | None = None
        self.retry_at = 0.0
        self.reader: asyncio.Task | None = None

    def _on_socket(self, method: str, path: str) -> bool:
        return any(method == m and (path == p or (p.endswith("/") and path.startswith(p)))
                   for m, p in self.SOCKET_ROUTES)

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        if not self._on_socket(method, path):
            return await super().call(method, path, body)
        if self.ws is None or self.ws.closed:
            self._connect_soon()
            return await super().call(method, path, body)
        self.recorder.by_transport["socket"] += 1
        self.next_id += 1
        request_id = self.next_id
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            await self.ws.send_str(json.dumps({"id": request_id, "method": method, "path": path,
                                               "body": body}))
            return await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, OSError) as exc:
            raise Unreachable(str(exc)) from None
        finally:
            self.pending.pop(request_id, None)

    async def opened(self, wait_s: float) -> None:
        """Like the page once the player has agreed (``openGameSocket``): connect, and wait at
        most ``wait_s`` for the socket to open."""
        self._connect_soon()
        if self.connecting is not None:
            await asyncio.wait([self.connecting], timeout=wait_s)

    def _connect_soon(self) -> None:
        if self.connecting is None and time.monotonic() >= self.retry_at:
            self.connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            self.ws = await self.http.ws_connect(self.base_url + SOCKET_PATH, autoping=True)
            self.reader = asyncio.get_running_loop().create_task(self._read(self.ws))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            self.retry_at = time.monotonic() + SOCKET_RETRY_S
        finally:
            self.connecting = None

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            reply = json.loads(message.data)
            future = self.pending.get(reply.get("id"))
            if future is not None and not future.done():
                future.set_result(Answer(reply["status"], reply.get("body"), reply.get("retry_after")))
        # The socket is gone (server restart, idle close): what waited on it failed in transit.
        self.retry_at = time.monotonic() + SOCKET_RETRY_S
        for future in list(self.pending.values()):
            if not future.done():
                future.set_exception(ConnectionError("socket closed"))

    async def close(self) -> None:
        if self.connecting is not None:
            await asyncio.gather(self.connecting, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        await super().close()


TRANSPORTS = {"socket": SocketTransport, "http": HttpTransport}


# --- the hand ---------------------------------------------------------------------------------------


_ink_cache: dict[tuple[str, int], np.ndarray] = {}  # by (server, stimulus id)
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

    def __init__(self, transport: Transport, recorder: Recorder) -> None:
        self.transport = transport
        self.recorder = recorder
        self.rounds: dict[str, RoundRecord] = {}  # rounds the server acknowledged
        self.round_ids_tried: set[str] = set()  # every id this player ever posted
        self.failures = 0

    async def _pause_after_failure(self, answer: Answer | None = None) -> None:
        """The page's backoff (``Retry-After`` when the server gave one)."""
        wait = BACKOFF_S[min(self.failures, len(BACKOFF_S) - 1)]
        if answer is not None and answer.retry_after:
            wait = max(wait, answer.retry_after)
        self.failures += 1
        await asyncio.sleep(wait)

    async def call(self, method: str, path: str, body: Any = None) -> Answer | None:
        """One request; failures are recorded, None when no answer came."""
        try:
            answer = await self.transport.call(method, path, body)
        except Unreachable:
            self.recorder.failure(None)
            return None
        if answer.status >= 300:
            self.recorder.failure(answer.status)
        return answer

    async def retry(self, method: str, path: str, body: Any, deadline: float) -> Answer | None:
        """Like the page: retry no-answer, 5xx and 429 with backoff until an answer or the deadline."""
        while time.monotonic() < deadline:
            answer = await self.call(method, path, body)
            if answer is not None and answer.status < 500 and answer.status != 429:
                self.failures = 0
                return answer
            await self._pause_after_failure(answer)
        return None

    async def ink(self, stimulus: dict[str, Any]) -> np.ndarray:
        key = (self.transport.base_url, stimulus["id"])
        with _ink_lock:
            cached = _ink_cache.get(key)
        if cached is not None:
            return cached
        try:
            walk = ink_walk(await self.transport.image(stimulus))
        except Unreachable:
            self.recorder.failure(None)
            return np.zeros((0, 2))
        with _ink_lock:
            _ink_cache[key] = walk
        return walk

    # -- playing ------------------------------------------------------------------------------

    async def join(self, deadline: float) -> bool:
        t0 = time.monotonic()
        answer = await self.retry("GET", "/api/me", None, deadline)
        if answer is None:
            return False
        version = answer.data["consent_required"]
        answer = await self.retry("POST", "/api/consent", {"version": version, "agree": True}, deadline)
        if answer is None or answer.status != 200:
            return False
        await self.transport.opened(SOCKET_WAIT_S)
        self.recorder.join_ms.append((time.monotonic() - t0) * 1000.0)
        return True

    async def run(self, deadline: float, start_delay_s: float = 0.0) -> None:
        await asyncio.sleep(start_delay_s)
        try:
            if not await self.join(deadline):
                return
            while time.monotonic() < deadline:
                await self.play_round(deadline)
                await asyncio.sleep(ROUND_PAUSE_S)
        finally:
            await self.transport.close()

    async def play_round(self, deadline: float) -> None:
        round_id = str(uuid.uuid4())
        self.round_ids_tried.add(round_id)
        answer = await self.retry("POST", "/api/rounds", {"round_id": round_id}, deadline)
        if answer is None or answer.status not in (200, 201):
            return
        state = answer.data
        self.recorder.rounds += 1
        # The page's clock: t_ms counts from the server's round start, which was
        # ``elapsed_ms`` ago when the answer left the server.
        origin = time.monotonic() - state["elapsed_ms"] / 1000.0
        walk = await self.ink(state["stimulus"])
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
                await asyncio.sleep(FLUSH_DELAY_S)
            start = record.acked
            batch = points[start:min(drawn(), start + MAX_SEND)]
            if not batch:
                continue
            await self.send(record, start, batch)
        if record.status == "active" and record.acked >= len(points):
            answer = await self.retry("POST", f"/api/rounds/{round_id}/end", {"reason": "skip"}, deadline)
            if answer is not None and answer.status == 200:
                record.status = answer.data["status"]

    async def send(self, record: RoundRecord, start: int, batch: list[list[float]]) -> None:
        """One guess-bearing batch; its latency is recorded when it was answered with 200."""
        sent, t0 = time.monotonic(), time.perf_counter()
        answer = await self.call("POST", f"/api/rounds/{record.round_id}/points",
                                 {"start_index": start, "points": batch})
        if answer is not None and answer.status == 200:
            self.failures = 0
            self.recorder.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
            self.recorder.sent_at.append(sent)
            record.acked = max(record.acked, answer.data["n_points"])
            record.status = answer.data["status"]
        elif answer is not None and answer.status == 409 and isinstance(answer.data, dict) \
                and "expected_index" in answer.data:
            record.acked = int(answer.data["expected_index"])
        else:
            await self._pause_after_failure(answer)
            if answer is not None and answer.status in (400, 403, 404, 409):
                record.status = "given-up"  # the round cannot take more: give it up


def plan_hands(make_transport: Any, stimulus_ids: Iterable[int]) -> None:
    """Plan the hands' paths along the drawings of ``stimulus_ids`` before a timed run. A path
    costs milliseconds of the one event loop every player's answer waits on: planned during the
    run, the first round on each drawing showed up in every player's latency."""

    async def main() -> None:
        planner = Player(make_transport(Recorder()), Recorder())
        for stimulus_id in stimulus_ids:
            await planner.ink({"id": stimulus_id, "image_url": f"/api/stimuli/{stimulus_id}/image.png"})
        await planner.transport.close()

    run_event_loop(main())


def play(make_transport: Any, players: int, seconds: float,
         recorder: Recorder | None = None) -> tuple[Recorder, list[Player]]:
    """``players`` coroutines playing for ``seconds`` (arrivals spread over the first second),
    each with the transport ``make_transport(recorder)`` gives it. Blocks until they are done."""
    recorder = recorder or Recorder()

    async def main() -> list[Player]:
        crowd = [Player(make_transport(recorder), recorder) for _ in range(players)]
        recorder.started = time.monotonic()
        deadline = recorder.started + seconds
        await asyncio.wait_for(
            asyncio.gather(*(p.run(deadline, i / max(players, 1)) for i, p in enumerate(crowd))),
            timeout=seconds + REQUEST_TIMEOUT_S + 10)
        return crowd

    return recorder, run_event_loop(main())


def run_event_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` on a thread of its own. The caller's thread may already run
    an event loop: a test session that used Playwright's sync API keeps one running in the main
    thread, and there ``asyncio.run`` refuses to start (the CI run failed that way)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def transport_for(kind: str, base_url: str) -> Any:
    """A ``make_transport(recorder)`` for `play`: ``socket`` (the page) or ``http``."""
    return lambda recorder: TRANSPORTS[kind](base_url, recorder)
