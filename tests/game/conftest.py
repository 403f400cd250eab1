"""Game fixtures: an app with the default stimulus set and the shipped classifier."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_test_app


@pytest.fixture(scope="session")
def shipped_classifier():
    from models import load_classifier

    return load_classifier(device="cpu")


def _prepare(app, classifier):
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app.extensions["classifier"] = classifier
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
    return app


@pytest.fixture
def game_app(app, shipped_classifier):
    return _prepare(app, shipped_classifier)


@pytest.fixture
def make_game_app(database_url: str, tmp_path: Path, shipped_classifier):
    """Factory for an app with config overrides (e.g. a short timer)."""
    from webapp.extensions import db

    made = []

    def factory(**overrides):
        application = _prepare(make_test_app(database_url, tmp_path, **overrides), shipped_classifier)
        made.append(application)
        return application

    yield factory
    for application in made:
        with application.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def consented_client(app):
    client = app.test_client()
    client.post("/api/consent", json={"version": app.config["CONSENT_VERSION"], "agree": True})
    return client


def start(client, **extra):
    round_id = str(uuid.uuid4())
    response = client.post("/api/rounds", json={"round_id": round_id, **extra})
    assert response.status_code == 201, response.json
    return round_id, response.json


def ink_points(client, state, t0: float = 50.0, step: float = 10.0) -> list[list[float]]:
    """Points on the drawing's ink, in a fixed order, as a player would brush them."""
    import io

    from PIL import Image

    png = client.get(state["stimulus"]["image_url"]).data
    image = np.asarray(Image.open(io.BytesIO(png)))
    ys, xs = np.nonzero(image > 128)
    order = np.lexsort((xs, ys))
    return [[float(xs[i]) + 0.5, float(ys[i]) + 0.5, t0 + k * step] for k, i in enumerate(order)]


def brush_round(client, round_id, state, batch: int = 5) -> dict:
    """Brush along the ink in batches until the round ends or the ink runs out."""
    points = ink_points(client, state)
    index = 0
    while state["status"] == "active" and index < len(points):
        response = client.post(f"/api/rounds/{round_id}/points",
                               json={"start_index": index, "points": points[index:index + batch]})
        assert response.status_code == 200, response.json
        state = response.json
        index += batch
    return state


def play_until_recognised(client, attempts: int = 5) -> dict:
    """Play rounds until the classifier recognises one (it misses ~7% of full drawings)."""
    for _ in range(attempts):
        round_id, state = start(client)
        state = brush_round(client, round_id, state)
        if state["status"] == "recognized":
            return state
        client.post(f"/api/rounds/{round_id}/end", json={"reason": "skip"})
    raise AssertionError(f"no drawing recognised in {attempts} rounds")
