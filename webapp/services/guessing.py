"""The live classifier behind the game, shared by all request threads of a process.

Many players brush at once; one forward pass per batch would waste the accelerator (and, on a
CPU, the per-call overhead). The hot path (`services.pipeline`) gathers the batches that arrived
during one tick and asks `GuessService.top5_many` for all of their revealed images in one
`predict_proba` call per image size. Gunicorn runs one worker process with threads (see the
Makefile), so all of a process' players share one service and one copy of the weights.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from flask import Flask, current_app


class GuessService:
    """The classifier plus counters of its forward passes (benchmarks and tests read them).

    It guesses with the classifier's serving copy (`SketchClassifier.for_serving`: the same
    weights and version, folded for the CPU) when the classifier has one; a stand-in without it
    (tests' fakes) is used as it is."""

    def __init__(self, classifier: Any) -> None:
        for_serving = getattr(classifier, "for_serving", None)
        self.classifier = for_serving() if callable(for_serving) else classifier
        self.categories: list[str] = list(classifier.categories)
        self.version: str = classifier.version
        self.forward_passes = 0
        self.images = 0
        self._lock = threading.Lock()

    def top5_many(self, images: list[np.ndarray]) -> list[list[dict[str, Any]]]:
        """The five most probable labels (best first) for each revealed uint8 image ``[H, W]``.
        Images of one size share one forward pass (different sizes cannot share an array)."""
        answers: list[list[dict[str, Any]] | None] = [None] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(i)
        for indexes in by_shape.values():
            probs = self.classifier.predict_proba(
                np.stack([np.ascontiguousarray(images[i], dtype=np.uint8) for i in indexes]))
            with self._lock:
                self.forward_passes += 1
                self.images += len(indexes)
            order = np.argsort(-probs, axis=1)[:, :5]
            for i, row, best in zip(indexes, probs, order):
                answers[i] = [{"label": self.categories[k], "p": round(float(row[k]), 6)} for k in best]
        return answers  # type: ignore[return-value]


def use_classifier_threads(threads: int) -> None:
    """Run this process' forward passes on ``threads`` CPU threads (0 keeps torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


_init_lock = threading.Lock()


def get_guess_service(app: Flask | None = None) -> GuessService:
    """The app's guess service, loading the classifier on first use.

    Tests (or a deployment) may put a ready classifier object in ``app.extensions["classifier"]``
    before the first round; otherwise `models.load_classifier` loads the configured weights and
    the process runs its forward passes on ``CLASSIFIER_THREADS`` threads.
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
                use_classifier_threads(int(app.config["CLASSIFIER_THREADS"]))
            service = GuessService(classifier)
            app.extensions["guess_service"] = service
    return service
