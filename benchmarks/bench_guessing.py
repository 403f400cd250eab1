"""Live guesses under concurrency: the server's micro-batcher vs one forward pass per request.

``clients`` threads each ask for ``requests`` guesses on revealed drawings (the game's shape:
one 28x28 image per request). The baseline serialises one `predict_proba` call per request
behind a lock, which is what a server without batching does with one shared model.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from models.classifier import load_classifier
from webapp.services.guessing import MicroBatcher


def run_clients(clients: int, requests: int, ask) -> float:
    images = np.load("data/stimuli/quickdraw17_default.npz")["images"]

    def client(k: int) -> None:
        for i in range(requests):
            ask(images[(k * requests + i) % len(images)])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return time.perf_counter() - t0


def main(quick: bool = False, device: str = "cpu") -> dict:
    classifier = load_classifier(device=device)
    clients, requests = (16, 10) if quick else (32, 25)
    lock = threading.Lock()

    def one_by_one(image: np.ndarray) -> np.ndarray:
        with lock:
            return classifier.predict_proba(image[None])[0]

    batcher = MicroBatcher(classifier.predict_proba, window_ms=5.0, max_batch=64)
    baseline_s = run_clients(clients, requests, one_by_one)
    batched_s = run_clients(clients, requests, batcher.submit)
    total = clients * requests
    result = {"clients": clients, "requests": total, "per_request_guesses_per_s": round(total / baseline_s),
              "micro_batched_guesses_per_s": round(total / batched_s), "forward_passes": batcher.forward_passes,
              "speedup": round(baseline_s / batched_s, 2)}
    print(f"guessing: {clients} clients x {requests} requests: micro-batched {total / batched_s:,.0f}/s "
          f"({batcher.forward_passes} forward passes) vs per-request {total / baseline_s:,.0f}/s "
          f"-> x{baseline_s / batched_s:.2f}")
    return result
