"""The load benchmark's baseline: the same players against the guess service alone.

`python -m benchmarks load` asks what share of the achievable guesses the real server delivers.
A guess service fed by unpaced threads answers thousands of guesses a second, but players who
wait for each answer, then 150 ms, and brush at a hand's pace cannot ask for that many: 200 of
them ask for at most ~1,300 a second whatever serves them. So the baseline runs the very same
players (`benchmarks.players`, same code, same cadence, same rounds) against an `IdealServer`:
no HTTP, no database, no anti-cheat; each batch is painted onto its round's mask and guessed in
process, in one forward pass with every other batch waiting at that moment (the classifier
and batching the server uses, `GuessService.top5_many`), and rounds end on recognition like the
server's. The guesses per second it serves are what an infinitely cheap server would serve;
``served_vs_service`` is the real server's share of that.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.players import Answer, Recorder
from models import render
from models.stimulus_files import read_drawings
from webapp.services.guessing import GuessService
from webapp.services.scoring import is_recognised

_POINTS = re.compile(r"^/api/rounds/([^/]+)/points$")
_END = re.compile(r"^/api/rounds/([^/]+)/end$")
#: the game's defaults (webapp/config.py)
BRUSH_FRACTION = 0.07
RECOGNITION_MIN_PROB = 0.5


@dataclass
class _Round:
    stimulus: int
    mask: np.ndarray
    n_points: int = 0
    status: str = "active"


class IdealServer:
    """Answers the players' requests in process (see the module docstring)."""

    def __init__(self, classifier: Any, stimulus_file: str) -> None:
        self.service = GuessService(classifier)
        self.drawings = read_drawings(stimulus_file)
        self.next_stimulus = itertools.cycle(range(len(self.drawings)))
        self.rounds: dict[str, _Round] = {}
        self.waiting: list[tuple[np.ndarray, asyncio.Future]] = []

    def transport(self, recorder: Recorder) -> "IdealTransport":
        return IdealTransport(self, recorder)

    def _state(self, round_id: str, rnd: _Round, guess: list[dict[str, Any]] | None = None) -> dict:
        drawing = self.drawings[rnd.stimulus]
        height, width = drawing.pixels.shape
        return {"round_id": round_id, "status": rnd.status, "n_points": rnd.n_points,
                "elapsed_ms": 0, "guess": guess,
                "stimulus": {"id": rnd.stimulus, "width": width, "height": height,
                             "category": drawing.category, "image_url": ""}}

    def start(self, body: dict[str, Any]) -> Answer:
        index = next(self.next_stimulus)
        height, width = self.drawings[index].pixels.shape
        rnd = _Round(index, np.zeros((height, width), dtype=bool))
        self.rounds[body["round_id"]] = rnd
        return Answer(201, self._state(body["round_id"], rnd))

    async def points(self, round_id: str, body: dict[str, Any]) -> Answer:
        rnd = self.rounds[round_id]
        new = body["points"][rnd.n_points - body["start_index"]:]
        drawing = self.drawings[rnd.stimulus]
        if not new or rnd.status != "active":
            return Answer(200, self._state(round_id, rnd))
        height, width = drawing.pixels.shape
        render.paint(rnd.mask, new, render.brush_radius_px(width, height, BRUSH_FRACTION))
        rnd.n_points += len(new)
        top5 = await self._guess(render.reveal(drawing.pixels, rnd.mask))
        if is_recognised(top5[0]["label"], top5[0]["p"], drawing.category, RECOGNITION_MIN_PROB):
            rnd.status = "recognized"
        return Answer(200, self._state(round_id, rnd, top5))

    def _guess(self, image: np.ndarray) -> asyncio.Future:
        """The image's top 5, from one forward pass shared by every image waiting at the time."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.waiting:
            loop.call_soon(self._forward)
        self.waiting.append((image, future))
        return future

    def _forward(self) -> None:
        waiting, self.waiting = self.waiting, []
        for (_, future), top5 in zip(waiting, self.service.top5_many([img for img, _ in waiting])):
            future.set_result(top5)

    def end(self, round_id: str) -> Answer:
        rnd = self.rounds[round_id]
        if rnd.status == "active":
            rnd.status = "skipped"
        return Answer(200, self._state(round_id, rnd))


class IdealTransport:
    """One player's way into the `IdealServer`."""

    #: what the players' ink cache keys this server's stimuli by
    base_url = "in-process"

    def __init__(self, server: IdealServer, recorder: Recorder) -> None:
        self.server = server
        self.recorder = recorder

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        self.recorder.by_transport["in-process"] += 1
        if path == "/api/me":
            return Answer(200, {"consent_required": "ideal"})
        if path == "/api/consent":
            return Answer(200, {})
        if path == "/api/rounds":
            return self.server.start(body)
        if found := _POINTS.match(path):
            return await self.server.points(found.group(1), body)
        if found := _END.match(path):
            return self.server.end(found.group(1))
        raise ValueError(f"the ideal server has no {method} {path}")

    async def image(self, stimulus: dict[str, Any]) -> np.ndarray:
        return self.server.drawings[stimulus["id"]].pixels

    async def opened(self, wait_s: float) -> None:
        return None

    async def close(self) -> None:
        return None
