"""Live guesses: one forward pass for a tick's images vs one forward pass per request.

The game's hot path (`webapp.services.pipeline`) guesses for every round with new points in one
`GuessService.top5_many` call per tick. This benchmark asks for the same revealed drawings (the
game's shape: 28x28 images) ``clients`` at a time, as a tick with that many waiting batches
would, against the baseline of one `predict_proba` call per image, which is what a server
without batching does.
"""

from __future__ import annotations

import time

import numpy as np

from models.classifier import load_classifier
from webapp.services.guessing import GuessService


def main(quick: bool = False, device: str = "cpu") -> dict:
    classifier = load_classifier(device=device)
    clients, rounds = (16, 10) if quick else (32, 25)
    images = list(np.load("data/stimuli/quickdraw17_default.npz")["images"])
    asked = [images[i % len(images)] for i in range(clients * rounds)]
    service = GuessService(classifier)

    t0 = time.perf_counter()
    for image in asked:
        service.top5_many([image])
    baseline_s = time.perf_counter() - t0
    passes_before = service.forward_passes
    t0 = time.perf_counter()
    for start in range(0, len(asked), clients):
        service.top5_many(asked[start:start + clients])
    batched_s = time.perf_counter() - t0
    total = len(asked)
    passes = service.forward_passes - passes_before
    result = {"clients": clients, "requests": total, "per_request_guesses_per_s": round(total / baseline_s),
              "batched_guesses_per_s": round(total / batched_s), "forward_passes": passes,
              "speedup": round(baseline_s / batched_s, 2)}
    print(f"guessing: {clients} batches per tick x {rounds} ticks: batched {total / batched_s:,.0f}/s "
          f"({passes} forward passes) vs one pass per request {total / baseline_s:,.0f}/s "
          f"-> x{baseline_s / batched_s:.2f}")
    return result
