"""The live classifier behind the game, shared by all request threads of a process.

Many players brush at once; running one forward pass per request wastes the accelerator (and
on CPU, the per-call overhead). `MicroBatcher` queues concurrent requests, waits a few
milliseconds for company, runs one `predict_proba` over the gathered images and hands each
caller its row. Gunicorn runs one worker process with several threads (see the Makefile), so
all of a process' players share one batcher and one copy of the weights.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

import numpy as np
from flask import Flask, current_app

Predict = Callable[[np.ndarray], np.ndarray]


class MicroBatcher:
    """Runs ``predict`` on batches gathered from concurrent `submit` calls."""

    def __init__(self, predict: Predict, window_ms: float = 5.0, max_batch: int = 64) -> None:
        self._predict = predict
        self._window_s = window_ms / 1000.0
        self._max_batch = max_batch
        self._queue: queue.Queue[tuple[np.ndarray, Future]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: number of `predict` calls and of images they carried (tests and benchmarks read them)
        self.forward_passes = 0
        self.images = 0

    def submit(self, image: np.ndarray, timeout_s: float = 30.0) -> np.ndarray:
        """Probabilities ``[C]`` for one uint8 image ``[H, W]``; blocks until its batch ran."""
        self._ensure_worker()
        future: Future = Future()
        self._queue.put((image, future))
        return future.result(timeout=timeout_s)

    def _ensure_worker(self) -> None:
        # Started lazily, in the process that serves requests (never before a fork).
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="guess-batcher", daemon=True)
                self._thread.start()

    def _gather(self) -> list[tuple[np.ndarray, Future]]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self._window_s
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _serve(self) -> None:
        while True:
            batch = self._gather()
            # Stimuli of different sizes cannot share one array: one pass per shape.
            by_shape: dict[tuple[int, ...], list[tuple[np.ndarray, Future]]] = {}
            for image, future in batch:
                by_shape.setdefault(image.shape, []).append((image, future))
            for group in by_shape.values():
                try:
                    probs = self._predict(np.stack([img for img, _ in group]))
                    self.forward_passes += 1
                    self.images += len(group)
                except Exception as exc:  # hand the failure to every waiting caller
                    for _, future in group:
                        future.set_exception(exc)
                    continue
                for (_, future), row in zip(group, probs):
                    future.set_result(row)


class GuessService:
    """The classifier plus its batcher; `top5` answers one revealed image."""

    def __init__(self, classifier: Any, window_ms: float, max_batch: int) -> None:
        self.classifier = classifier
        self.categories: list[str] = list(classifier.categories)
        self.version: str = classifier.version
        self.batcher = MicroBatcher(classifier.predict_proba, window_ms, max_batch)

    def top5(self, image: np.ndarray) -> list[dict[str, Any]]:
        """The five most probable labels for one revealed uint8 image, best first."""
        probs = self.batcher.submit(np.ascontiguousarray(image, dtype=np.uint8))
        order = np.argsort(-probs)[:5]
        return [{"label": self.categories[i], "p": round(float(probs[i]), 6)} for i in order]


_init_lock = threading.Lock()


def get_guess_service(app: Flask | None = None) -> GuessService:
    """The app's guess service, loading the classifier on first use.

    Tests (or a deployment) may put a ready classifier object in ``app.extensions["classifier"]``
    before the first round; otherwise `models.load_classifier` loads the configured weights.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    service = app.extensions.get("guess_service")
    if service is not None:
        return service
    with _init_lock:
        service = app.extensions.get("guess_service")
        if service is None:
            classifier = app.extensions.get("classifier")
            if classifier is None:
                from models import load_classifier

                classifier = load_classifier(app.config["CLASSIFIER_WEIGHTS"],
                                             device=app.config["CLASSIFIER_DEVICE"])
                app.extensions["classifier"] = classifier
            service = GuessService(classifier, app.config["GUESS_BATCH_WINDOW_MS"],
                                   app.config["GUESS_MAX_BATCH"])
            app.extensions["guess_service"] = service
    return service
