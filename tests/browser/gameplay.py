"""Helpers the browser tests share: open the game as a new player, brush along the drawing's
ink like a person would, and read what the server stored."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from PIL import Image

GAME_READY = "() => window.__da && window.__da.ready"
#: every point the page made is on the server (and nothing else is waiting to go)
DRAINED = "() => window.__da.drained() && window.__da.unsent() === 0"


class Network:
    """The page's connections to the game server, which a test can cut like a network failure:
    HTTP requests to a path fail, the game socket drops and new ones fail, until `restore`.
    Requests the page sends over the socket are appended to ``log`` as ``{"url", "body"}``."""

    def __init__(self, log: list[dict] | None = None) -> None:
        self.log = log if log is not None else []
        self.down = False
        self.pattern: str | None = None
        self.sockets: list[Any] = []  # the page's open game sockets (Playwright WebSocketRoutes)
        self.opened = 0

    def attach(self, context) -> None:
        context.route_web_socket("**/api/socket", self._socket)

    def _socket(self, ws) -> None:
        if self.down:
            ws.close()
            return
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            request = json.loads(message)
            self.log.append({"url": request.get("path"), "body": request.get("body")})
            server.send(message)

        ws.on_message(forward)
        self.sockets.append(ws)
        self.opened += 1

    def cut(self, page, http_pattern: str | None = None) -> None:
        """Drop the game socket and refuse new ones; HTTP requests to ``http_pattern`` fail too."""
        self.down, self.pattern = True, http_pattern
        if http_pattern is not None:
            page.route(http_pattern, lambda route: route.abort())
        for ws in self.sockets:
            ws.close()
        self.sockets.clear()

    def restore(self, page) -> None:
        self.down = False
        if self.pattern is not None:
            page.unroute(self.pattern)


def open_game(browser, server, network: Network | None = None,
              **context_args: Any) -> tuple[Any, Any, list[str]]:
    """A fresh player (own cookie jar) agrees to the consent form and lands in a round; with a
    `Network`, the test can cut the page's connections. Returns (context, page, errors) where
    errors collects uncaught page exceptions."""
    context = browser.new_context(**context_args)
    if network is not None:
        network.attach(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/")
    assert "/consent" in page.url, "a new player must see the consent page first"
    page.locator("#agree").check()
    page.get_by_test_id("consent-agree").click()
    page.wait_for_url(f"{server.url}/")
    page.wait_for_function(GAME_READY)
    return context, page, errors


def stimulus(page) -> dict:
    """The current round's stimulus as the page knows it: size and pixels."""
    st = page.evaluate("window.__da.state().stimulus")
    gray = np.asarray(page.evaluate("window.__da.image()"), dtype=np.uint8)
    st["gray"] = gray.reshape(st["height"], st["width"])
    return st


def ink_path(gray: np.ndarray, threshold: int = 100) -> list[tuple[float, float]]:
    """Centres of the ink pixels in a greedy nearest-neighbour order, i.e. a route that follows
    the strokes (x, y in the stimulus frame)."""
    rows, cols = np.nonzero(gray > threshold)
    todo = np.stack([cols + 0.5, rows + 0.5], axis=1)
    if len(todo) == 0:
        return []
    order = [int(np.argmin(todo[:, 1] * 1000 + todo[:, 0]))]  # start top-left
    left = np.ones(len(todo), dtype=bool)
    left[order[0]] = False
    while left.any():
        d = np.hypot(*(todo[left] - todo[order[-1]]).T)
        nxt = np.flatnonzero(left)[int(np.argmin(d))]
        order.append(int(nxt))
        left[nxt] = False
    return [tuple(map(float, todo[i])) for i in order]


def to_page(page, x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Stimulus coordinates -> page (CSS px) coordinates on the game canvas."""
    box = page.get_by_test_id("game-canvas").bounding_box()
    return box["x"] + x / width * box["width"], box["y"] + y / height * box["height"]


def drag_mouse(page, path: list[tuple[float, float]], width: int, height: int, steps: int = 1) -> None:
    """Press, move along `path` (stimulus coordinates), release."""
    first = to_page(page, *path[0], width, height)
    page.mouse.move(*first)
    page.mouse.down()
    for x, y in path[1:]:
        page.mouse.move(*to_page(page, x, y, width, height), steps=steps)
    page.mouse.up()


def box_in_viewport(page, test_id: str) -> None:
    """The element is entirely on screen (no scrolling needed to see or reach it)."""
    box = page.get_by_test_id(test_id).bounding_box()
    view = page.viewport_size
    assert box is not None, f"{test_id} is not displayed"
    assert box["y"] >= 0 and box["y"] + box["height"] <= view["height"], (test_id, box, view)
    assert box["x"] >= 0 and box["x"] + box["width"] <= view["width"], (test_id, box, view)


def stored_round(server, round_id: str) -> dict:
    """The round as stored in the database: status, points and its brush points by index."""
    from webapp.extensions import db
    from webapp.models import BrushPoint, Round

    with server.app.app_context():
        rnd = db.session.get(Round, round_id)
        assert rnd is not None, f"round {round_id} is not in the database"
        rows = db.session.scalars(db.select(BrushPoint).where(BrushPoint.round_id == round_id)
                                  .order_by(BrushPoint.idx)).all()
        out = {"status": rnd.status, "points": rnd.points, "n_points": rnd.n_points,
               "credited": rnd.credited, "flag_reason": rnd.flag_reason,
               "settings": dict(rnd.settings), "stimulus_id": rnd.stimulus_id,
               "width": rnd.stimulus.width, "height": rnd.stimulus.height,
               "png": rnd.stimulus.image_png, "player_total": rnd.player.total_score,
               "idx": [r.idx for r in rows], "xyt": [[r.x, r.y, r.t_ms] for r in rows]}
        db.session.remove()
    return out


def png_gray(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)


class Latency:
    """WSGI middleware that makes the network slow for requests matching ``match(method, path)``:
    each waits ``before`` s before the app sees it and ``after`` s before its answer leaves, so
    the server's clock and the page's differ the way they do over a real slow connection. It
    refuses the game socket (503, as a server without a free socket does), so the page sends
    those requests over HTTP, where the latency applies."""

    def __init__(self, app, before: float, after: float, match=lambda method, path: path.startswith("/api/")):
        self.app, self.before, self.after, self.match = app, before, after, match

    def __call__(self, environ, start_response):
        import time

        if environ["PATH_INFO"] == "/api/socket":
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": "no game socket while the network is slow"}']
        if not self.match(environ["REQUEST_METHOD"], environ["PATH_INFO"]):
            return self.app(environ, start_response)
        time.sleep(self.before)
        body = list(self.app(environ, start_response))  # werkzeug sends headers on first write
        time.sleep(self.after)
        return body


def slow_network(server, before: float, after: float, **kwargs: Any) -> None:
    """Put `Latency` in front of the live server's app (it stays for the server's life)."""
    server.app.wsgi_app = Latency(server.app.wsgi_app, before, after, **kwargs)


class ScriptedClassifier:
    """Stands in for the classifier with answers a test chooses: ``answer`` gets probability
    ``p`` and is the top guess; the rest share what is left. Lets a test make the AI recognise
    (or almost recognise) any drawing on demand."""

    version = "scripted-1"

    def __init__(self, categories: list[str]) -> None:
        self.categories = list(categories)
        self.answer = self.categories[0]
        self.p = 0.99

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        n, k = len(images), len(self.categories)
        probs = np.full((n, k), (1.0 - self.p) / (k - 1), dtype=np.float32)
        probs[:, self.categories.index(self.answer)] = self.p
        return probs


def scripted(server, shipped) -> ScriptedClassifier:
    """Give a live server (before its first guess) a `ScriptedClassifier`."""
    fake = ScriptedClassifier(shipped.categories)
    server.app.extensions["classifier"] = fake
    server.app.extensions.pop("guess_service", None)
    return fake


def server_elapsed_ms(server, round_id: str) -> float:
    """The server's round clock now (ms since the round was created)."""
    from webapp.extensions import db
    from webapp.models import Round, utcnow

    with server.app.app_context():
        started = db.session.get(Round, round_id).started_at
        db.session.remove()
    return (utcnow() - started).total_seconds() * 1000
