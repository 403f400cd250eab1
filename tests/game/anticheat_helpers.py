"""Traces for the anti-cheat tests: a bot that posts a drawing's ink at once, and a hand.

Both brush the round's real stimulus (the default set's drawing the server picked). The server's
clock is a `FakeClock` put into the app's config, so a test moves time instead of sleeping.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta

import numpy as np
from PIL import Image


class FakeClock:
    """A server clock the test advances by hand (naive UTC, like `models.utcnow`)."""

    def __init__(self) -> None:
        self.current = datetime(2026, 11, 27, 12, 0, 0)
        self.round_start = self.current

    def mark_round_start(self) -> None:
        """Remember now as the start of the round about to be created (for `server_ms`)."""
        self.round_start = self.current

    def server_ms(self) -> float:
        """Server ms since the marked round start."""
        return (self.current - self.round_start) / timedelta(milliseconds=1)

    def now(self) -> datetime:
        return self.current

    def advance(self, ms: float) -> None:
        self.current += timedelta(milliseconds=ms)


def ink_pixels(client, state) -> np.ndarray:
    """Centres of the stimulus' ink pixels, in row-major order (what a bot reads off the PNG)."""
    image = np.asarray(Image.open(io.BytesIO(client.get(state["stimulus"]["image_url"]).data)))
    ys, xs = np.nonzero(image > 128)
    return np.stack([xs + 0.5, ys + 0.5], axis=1)


def bot_points(client, state, spacing_ms: float = 40.0) -> list[list[float]]:
    """Every ink pixel, with invented page times ``spacing_ms`` apart (the issue's bot)."""
    return [[float(x), float(y), 10.0 + k * spacing_ms]
            for k, (x, y) in enumerate(ink_pixels(client, state)[:512])]


def hand_trace(client, state, speed_canvas_per_s: float = 1.2, event_ms: float = 16.0,
               start_ms: float = 400.0) -> list[list[float]]:
    """A hand brushing along the ink: nearest-neighbour order through the ink pixels, moving at
    ``speed_canvas_per_s`` with one pointer event every ``event_ms`` and points filled in at half
    the brush radius between events (as static/js/board.js does)."""
    pixels = [tuple(p) for p in ink_pixels(client, state)]
    order = [pixels.pop(0)]
    while pixels:
        last = order[-1]
        nearest = min(range(len(pixels)), key=lambda i: math.dist(last, pixels[i]))
        order.append(pixels.pop(nearest))
    size = max(state["stimulus"]["width"], state["stimulus"]["height"])
    px_per_ms = speed_canvas_per_s * size / 1000.0
    step = state["settings"]["brush_radius_px"] / 2
    points, t = [[order[0][0], order[0][1], start_ms]], start_ms
    for a, b in zip(order, order[1:]):
        dist = math.dist(a, b)
        n = max(1, math.ceil(dist / step))
        for i in range(1, n + 1):
            f = i / n
            points.append([a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, t + dist * f / px_per_ms])
        t += dist / px_per_ms
    # events arrive every event_ms: round each point's time up to its event
    return [[x, y, math.ceil(tt / event_ms) * event_ms] for x, y, tt in points]


def post_in_real_time(client, clock: FakeClock, round_id: str, points, batch_ms: float = 150.0,
                      latency_ms: float = 40.0) -> dict:
    """Send ``points`` as the page's outbox does: every ``batch_ms`` what was drawn by then,
    arriving ``latency_ms`` later by the server's clock. Returns the last round state."""
    state, index, window_end = None, 0, batch_ms
    while index < len(points):
        batch = [p for p in points[index:] if p[2] <= window_end][:200]
        if batch:
            target = window_end + latency_ms
            clock.advance(max(0.0, target - clock.server_ms()))
            response = client.post(f"/api/rounds/{round_id}/points",
                                    json={"start_index": index, "points": batch})
            assert response.status_code == 200, response.json
            state = response.json
            index += len(batch)
            if state["status"] != "active":
                break
        window_end += batch_ms
    return state

