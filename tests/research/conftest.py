"""Fixtures for the research tests: a researcher account, a logged-in client, and a small
seeded database written straight through the ORM (so export and dashboard tests do not depend
on the classifier)."""

from __future__ import annotations

import io
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

# The repository root must be importable (webapp, tests.conftest) however pytest is started.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

PASSWORD = "correct horse battery"


def png(width: int, height: int, seed: int) -> bytes:
    """A small white-on-black drawing (a diagonal band) as PNG bytes."""
    image = np.zeros((height, width), dtype=np.uint8)
    for i in range(min(width, height)):
        image[i, (i + seed) % width] = 255
    out = io.BytesIO()
    Image.fromarray(image, "L").save(out, format="PNG")
    return out.getvalue()


@dataclass
class Seeded:
    set_name: str
    stimulus_keys: list[str]
    study_slug: str | None
    player_ids: list[int]
    round_ids: list[str] = field(default_factory=list)
    n_points: int = 0
    n_guesses: int = 0


def make_set(name: str = "test-set", n: int = 3, size: int = 28) -> list[Any]:
    """A stimulus set with ``n`` stimuli named ``<category>-<i>``."""
    from webapp.extensions import db
    from webapp.models import Stimulus, StimulusSet

    stimulus_set = StimulusSet(name=name, description="test drawings", source="tests")
    categories = ["cat", "tree", "house"]
    stimuli = [Stimulus(stimulus_set=stimulus_set, key=f"{categories[i % 3]}-{i:03d}",
                        category=categories[i % 3], width=size, height=size, image_png=png(size, size, i))
               for i in range(n)]
    db.session.add(stimulus_set)
    db.session.commit()
    return stimuli


def make_study(slug: str, set_name: str, mode: str = "prolific", rounds: int = 2, **settings: Any) -> Any:
    from webapp.research.studies import StudyInput, default_settings, save_study

    merged = default_settings()
    merged.update(rounds_per_participant=rounds, **settings)
    return save_study(StudyInput(slug=slug, name=f"Study {slug}", set_names=[set_name], mode=mode,
                                 completion_url="https://example.org/done?cc=ABC" if mode == "prolific" else None,
                                 settings=merged))


def add_round(player: Any, stimulus: Any, points: list[tuple[float, float, float]], *,
              study: Any = None, status: str = "recognized", started: datetime | None = None,
              guesses: int = 1, address_hash: str | None = None) -> str:
    """One ended round with its points and guesses, as the game would have stored it."""
    from webapp.extensions import db
    from webapp.models import BrushPoint, Guess, Round

    started = started or datetime(2026, 5, 1, 12, 0, 0)
    rid = str(uuid.uuid4())
    duration = int(max((t for _, _, t in points), default=0)) + 100
    db.session.add(Round(id=rid, player_id=player.id, stimulus_id=stimulus.id,
                         study_id=study.id if study else None, category=stimulus.category,
                         status=status, started_at=started, ended_at=started + timedelta(milliseconds=duration),
                         duration_ms=duration, points=50 if status == "recognized" else 0,
                         n_points=len(points), model_version="test-model-1",
                         settings={"timer_ms": 15000, "brush_fraction": 0.07, "brush_radius_px": 1.96,
                                   "width": stimulus.width, "height": stimulus.height},
                         address_hash=address_hash))
    db.session.flush()
    db.session.add_all(BrushPoint(round_id=rid, idx=i, x=x, y=y, t_ms=t) for i, (x, y, t) in enumerate(points))
    for g in range(guesses):
        db.session.add(Guess(round_id=rid, n_points=len(points), server_ms=100 * (g + 1),
                             client_t_ms=points[-1][2] if points else None,
                             top5=[{"label": stimulus.category, "p": 0.8}, {"label": "dog", "p": 0.1},
                                   {"label": "sun", "p": 0.05}, {"label": "car", "p": 0.03},
                                   {"label": "fish", "p": 0.02}],
                             correct=status == "recognized", model_version="test-model-1"))
    db.session.commit()
    return rid


def make_player(study: Any = None, external_id: str | None = None, **fields: Any) -> Any:
    from webapp.extensions import db
    from webapp.models import Player

    player = Player(public_id=str(uuid.uuid4()), pseudonym="tester", study_id=study.id if study else None,
                    external_id=external_id, **fields)
    db.session.add(player)
    db.session.commit()
    return player


def human_points(n: int, seed: int, size: int = 28) -> list[tuple[float, float, float]]:
    """A plausible brush path: a wandering line sampled every ~16 ms."""
    rng = np.random.default_rng(seed)
    xy = np.clip(np.cumsum(rng.normal(0, 1.0, size=(n, 2)), axis=0) + size / 2, 0, size)
    return [(float(x), float(y), float(16.7 * i + rng.uniform(0, 2))) for i, (x, y) in enumerate(xy)]


@pytest.fixture
def seeded(app) -> Seeded:
    """A prolific study with two participants (two rounds each) and one public player."""
    with app.app_context():
        stimuli = make_set()
        study = make_study("pilot", "test-set")
        players = [make_player(study, external_id=f"PID{i}") for i in range(2)]
        public = make_player()
        result = Seeded("test-set", [s.key for s in stimuli], "pilot", [p.id for p in players + [public]])
        for i, player in enumerate(players + [public]):
            for j in range(2):
                pts = human_points(12 + i + j, seed=10 * i + j)
                result.round_ids.append(add_round(player, stimuli[(i + j) % 3], pts,
                                                  study=study if player is not public else None,
                                                  started=datetime(2026, 5, 1 + j, 12, i)))
                result.n_points += len(pts)
                result.n_guesses += 1
        return result


@pytest.fixture
def researcher(app) -> dict[str, Any]:
    """An administrator (sees every study and the open game's data, as every researcher did
    before studies had owners; tests/research/test_study_access.py covers the others)."""
    from webapp.research.auth import create_researcher

    with app.app_context():
        user = create_researcher("alice", PASSWORD, is_admin=True)
        return {"id": user.id, "username": "alice", "password": PASSWORD}


def login(client, username: str = "alice", password: str = PASSWORD) -> Any:
    return client.post("/research/login", data={"username": username, "password": password})


@pytest.fixture
def research_client(app, researcher):
    client = app.test_client()
    response = login(client)
    assert response.status_code == 302, response.data
    return client


@pytest.fixture
def token(app, researcher) -> str:
    from webapp.extensions import db
    from webapp.models import Researcher
    from webapp.research.auth import create_token

    with app.app_context():
        _, plain = create_token(db.session.get(Researcher, researcher["id"]), "script")
        return plain
