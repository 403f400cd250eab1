"""Sampling, the server's reveal, batched guesses and the OpenAPI document."""

from __future__ import annotations

from collections import Counter

import numpy as np

from models import render
from tests.game.conftest import consented_client, start
from webapp.extensions import db
from webapp.models import Round
from webapp.services.guessing import GuessService
from webapp.services.pipeline import get_pipeline
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
        got = get_pipeline(game_app).revealed_image(round_id)
    assert mask.sum() > 0 and np.array_equal(got, expected)
    assert state["settings"]["brush_radius_px"] == render.brush_radius_px(28, 28, state["settings"]["brush_fraction"])


class _Recording:
    """A classifier stand-in: probabilities from the image's mean and max, every call recorded."""

    categories = ["mean", "max", "c", "d", "e", "f"]
    version = "recording-1"

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(images.shape)
        flat = images.reshape(len(images), -1).astype(np.float64) / 255.0
        scores = np.stack([flat.mean(1), flat.max(1), *([np.zeros(len(images))] * 4)], axis=1)
        return scores / np.maximum(scores.sum(1, keepdims=True), 1e-9)


def test_guesses_for_many_images_share_one_forward_pass_per_size():
    classifier = _Recording()
    service = GuessService(classifier)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(5)]
    images.insert(2, rng.integers(0, 256, (64, 48), dtype=np.uint8))
    answers = service.top5_many(images)
    assert sorted(classifier.calls) == [(1, 64, 48), (5, 28, 28)]
    assert service.forward_passes == 2 and service.images == 6
    for image, top5 in zip(images, answers):
        flat = image.astype(np.float64) / 255.0
        best = "max" if flat.max() > flat.mean() else "mean"
        assert top5[0]["label"] == best and len(top5) == 5
        assert [g["p"] for g in top5] == sorted((g["p"] for g in top5), reverse=True)


def test_the_game_guesses_with_the_classifiers_serving_copy(shipped_classifier):
    """A loaded classifier is served through `for_serving` (folded, channels-last), a stand-in
    without one as it is; both guess as asked."""
    service = GuessService(shipped_classifier)
    assert service.classifier is not shipped_classifier and service.classifier.channels_last
    assert service.version == shipped_classifier.version
    blank = np.zeros((28, 28), dtype=np.uint8)
    want = shipped_classifier.predict_proba(blank[None])[0]
    top5 = service.top5_many([blank])[0]
    assert top5[0]["label"] == shipped_classifier.categories[int(want.argmax())]
    assert abs(top5[0]["p"] - float(want.max())) < 1e-5
    stand_in = _Recording()
    assert GuessService(stand_in).classifier is stand_in


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
