"""Sampling, the server's reveal, micro-batching and the OpenAPI document."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np

from models import render
from tests.game.conftest import consented_client, start
from webapp.extensions import db
from webapp.models import Round
from webapp.services.guessing import MicroBatcher
from webapp.services.rounds import revealed_image
from webapp.services.stimuli import stimulus_pixels


def test_sampling_balances_and_never_repeats(game_app):
    client = consented_client(game_app)
    seen = []
    for _ in range(30):
        round_id, state = start(client)
        seen.append(state["stimulus"]["id"])
        client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
    assert all(a != b for a, b in zip(seen, seen[1:]))
    assert len(set(seen)) == 30  # 204 stimuli: least-played first means no repeats yet
    other = consented_client(game_app)
    for _ in range(5):
        _, state = start(other)
        assert state["stimulus"]["id"] not in seen  # unplayed stimuli come first


def test_sampling_with_two_stimuli_alternates(game_app):
    from webapp.services.stimuli import Drawing, import_drawings

    game_app.config["DEFAULT_STIMULUS_SET"] = "tiny"
    with game_app.app_context():
        import_drawings([Drawing("a", "cat", np.zeros((28, 28), np.uint8)),
                         Drawing("b", "dog", np.zeros((28, 28), np.uint8))], "tiny")
    client = consented_client(game_app)
    keys = []
    for _ in range(6):
        round_id, state = start(client)
        keys.append(state["stimulus"]["key"])
        client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
    assert Counter(keys) == {"a": 3, "b": 3} and all(a != b for a, b in zip(keys, keys[1:]))


def test_server_reveal_is_the_shared_geometry(game_app):
    client = consented_client(game_app)
    round_id, state = start(client)
    points = [[3.2, 4.7, 1.0], [10.0, 10.0, 2.0], [27.9, 0.1, 3.0]]
    client.post(f"/api/rounds/{round_id}/points", json={"start_index": 0, "points": points})
    with game_app.app_context():
        rnd = db.session.get(Round, round_id)
        image = stimulus_pixels(rnd.stimulus)
        mask = render.brush_mask(points, 28, 28, state["settings"]["brush_radius_px"])
        expected = render.reveal(image, mask)
        got = revealed_image(rnd)
    assert mask.sum() > 0 and np.array_equal(got, expected)
    assert state["settings"]["brush_radius_px"] == render.brush_radius_px(28, 28, state["settings"]["brush_fraction"])


def test_micro_batcher_serves_concurrent_callers_in_shared_passes():
    calls = []

    def predict(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        flat = images.reshape(len(images), -1).astype(np.float64)
        return np.stack([flat.mean(1), flat.max(1)], axis=1)

    batcher = MicroBatcher(predict, window_ms=50, max_batch=64)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(32)]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(images))

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = batcher.submit(images[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, image in enumerate(images):
        assert np.allclose(results[i], predict(image[None])[0])
    served = calls[: batcher.forward_passes]
    assert sum(served) == len(images) and batcher.forward_passes < len(images)


def test_micro_batcher_passes_errors_to_callers():
    def broken(images: np.ndarray) -> np.ndarray:
        raise RuntimeError("model failed")

    batcher = MicroBatcher(broken, window_ms=1)
    try:
        batcher.submit(np.zeros((4, 4), np.uint8), timeout_s=5)
    except RuntimeError as exc:
        assert "model failed" in str(exc)
    else:
        raise AssertionError("the caller must see the model's failure")


def test_openapi_describes_every_api_route(game_app):
    spec = game_app.test_client().get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for rule in game_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        assert path in spec["paths"], f"{rule.rule} missing from the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {rule.rule} undocumented"
