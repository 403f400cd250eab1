"""Every drawing the open game serves can be won (issue 21, participant row 3): fully revealed,
25 of the 204 default drawings never reached a top guess at >= 50 %, so a round on them could
only end "Time's up". The default set now leaves such drawings out (tests/models/
test_classifier.py checks the shipped file); a database that still holds one (an upgraded
deployment, or an imported set) marks it at `setup`/`stimuli import` and the open game does not
serve it; the research pages show each stimulus' full-reveal recognition; an import warns when
a set has categories the classifier does not know."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.research.conftest import login

DEFAULT = Path(__file__).resolve().parents[2] / "data" / "stimuli" / "quickdraw17_default.npz"


def _npz(path: Path) -> Path:
    """Two default drawings (winnable), a blank 'cat' (the classifier says rainbow, 9 %) and a
    'lion', a category the classifier does not know."""
    with np.load(DEFAULT) as data:
        images, keys, cats = data["images"][:2], list(data["keys"][:2]), list(data["categories"][:2])
    blank = np.zeros((28, 28), np.uint8)
    np.savez(path, images=np.stack([*images, blank, images[0]]), keys=np.array(keys + ["cat-blank", "lion-1"]),
             categories=np.array(cats + ["cat", "lion"]))
    return path


@pytest.fixture
def app_with_classifier(app, shipped_classifier):
    app.extensions["classifier"] = shipped_classifier
    return app


def test_import_warns_about_unknown_categories_and_unwinnable_drawings(app_with_classifier, tmp_path):
    from webapp.extensions import db
    from webapp.models import Stimulus

    app = app_with_classifier
    result = app.test_cli_runner().invoke(args=["stimuli", "import", str(_npz(tmp_path / "s.npz")),
                                                "--set", "mine"])
    assert result.exit_code == 0, result.output
    assert "classifier does not know: lion" in result.output
    assert "2 of the set's 4 drawings are not recognised even fully revealed" in result.output
    with app.app_context():
        rows = {s.key: s for s in db.session.scalars(select(Stimulus))}
        assert rows["cat-blank"].full_reveal_recognised is False and rows["lion-1"].full_reveal_recognised is False
        assert rows["cat-blank"].full_reveal_label == "rainbow" and rows["cat-blank"].full_reveal_p < 0.5
        assert all(rows[k].full_reveal_recognised for k in rows if k.startswith("airplane"))
        assert {s.full_reveal_model for s in rows.values()} == {app.extensions["classifier"].version}
    # A set the classifier fully knows imports without a warning.
    result = app.test_cli_runner().invoke(args=["stimuli", "import", str(DEFAULT), "--set", "qd"])
    assert result.exit_code == 0 and "WARNING" not in result.output, result.output


def test_the_open_game_never_serves_a_drawing_that_cannot_be_won(app_with_classifier, tmp_path):
    """A deployment upgraded from the old default set still holds its unwinnable drawings:
    `setup` marks them and public rounds leave them out; a study that chose them still gets them."""
    from tests.game.conftest import consented_client
    from webapp.extensions import db
    from webapp.models import Stimulus
    from webapp.research.studies import StudyInput, default_settings, save_study
    from webapp.services.recognition import check_stimuli
    from webapp.services.stimuli import import_drawings, read_drawings

    app = app_with_classifier
    name = app.config["DEFAULT_STIMULUS_SET"]
    with app.app_context():
        stimulus_set, _ = import_drawings(read_drawings(_npz(tmp_path / "s.npz")), name)
        assert check_stimuli([stimulus_set.id]) == {"checked": 4, "total": 4, "not_recognised": 2}
        winnable = set(db.session.scalars(select(Stimulus.id).where(Stimulus.full_reveal_recognised.is_(True))))
        save_study(StudyInput(slug="all-four", name="All", set_names=[name], mode="public",
                              settings=default_settings()))
    client = consented_client(app)
    served, in_study = set(), set()
    for _ in range(12):
        for study, seen in ((None, served), ("all-four", in_study)):
            st = client.post("/api/rounds", json={"round_id": str(uuid.uuid4()), "study": study}).json
            seen.add(st["stimulus"]["id"])
            client.post(f"/api/rounds/{st['round_id']}/end", json={"reason": "skip"})
    assert served == winnable
    assert in_study - winnable  # the study serves the drawings it chose, winnable or not


def test_research_pages_show_full_reveal_recognition(app_with_classifier, researcher, tmp_path):
    app = app_with_classifier
    app.test_cli_runner().invoke(args=["stimuli", "import", str(_npz(tmp_path / "s.npz")), "--set", "mine"])
    client = app.test_client()
    login(client)
    page = client.get("/research/dashboard").get_data(as_text=True)
    assert 'data-testid="not-winnable">2 of the stimuli in scope' in page
    assert page.count("cannot be won: ") == 2 and "cannot be won: rainbow 9%" in page
    assert page.count("recognised (") == 2
    stimuli = client.get("/research/stimuli").get_data(as_text=True)
    assert stimuli.count('data-testid="full-reveal"') == 4 and "cannot be won: rainbow 9%" in stimuli


def test_setup_checks_the_default_set_and_every_drawing_can_be_won(app_with_classifier):
    from webapp.extensions import db
    from webapp.models import Stimulus

    result = app_with_classifier.test_cli_runner().invoke(args=["setup"])
    assert result.exit_code == 0, result.output
    assert "204 new drawings" in result.output and "not recognised" not in result.output
    with app_with_classifier.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Stimulus)
                                 .where(Stimulus.full_reveal_recognised.is_(True))) == 204
