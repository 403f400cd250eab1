"""`flask stimuli import` for every supported format, and all-or-nothing on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Stimulus, StimulusSet

STROKES = Path(__file__).resolve().parent.parent / "data" / "strokes_sample.ndjson"


def _count(app, set_name=None):
    with app.app_context():
        query = select(func.count()).select_from(Stimulus)
        if set_name:
            query = query.join(StimulusSet).where(StimulusSet.name == set_name)
        return db.session.scalar(query)


def test_import_npy_bitmaps(app, tmp_path):
    arr = np.zeros((5, 784), np.uint8)
    arr[:, 300:310] = 255
    np.save(tmp_path / "cat.npy", arr)
    result = app.test_cli_runner().invoke(args=["stimuli", "import", str(tmp_path / "cat.npy"), "--set", "s1"])
    assert result.exit_code == 0, result.output
    assert "added 5 of 5" in result.output and _count(app, "s1") == 5
    again = app.test_cli_runner().invoke(args=["stimuli", "import", str(tmp_path / "cat.npy"), "--set", "s1"])
    assert "added 0 of 5" in again.output and _count(app, "s1") == 5
    with app.app_context():
        stim = db.session.scalar(select(Stimulus))
        assert stim.category == "cat" and (stim.width, stim.height) == (28, 28)


def test_import_ndjson_strokes(app):
    result = app.test_cli_runner().invoke(args=["stimuli", "import", str(STROKES), "--set", "strokes"])
    assert result.exit_code == 0, result.output
    n_lines = sum(1 for line in STROKES.read_text().splitlines() if line.strip())
    assert _count(app, "strokes") == n_lines
    with app.app_context():
        stim = db.session.scalar(select(Stimulus))
        assert (stim.width, stim.height) == (256, 256) and json.loads(stim.strokes_json)
        first = json.loads(STROKES.read_text().splitlines()[0])
        assert stim.category == first["word"]


def test_import_image_folder_inverts_dark_ink(app, tmp_path):
    for category in ("sun", "moon"):
        (tmp_path / category).mkdir()
        page = np.full((64, 48), 255, np.uint8)
        page[20:30, 10:40] = 0  # black ink on white paper
        Image.fromarray(page).save(tmp_path / category / f"{category}1.png")
    result = app.test_cli_runner().invoke(args=["stimuli", "import", str(tmp_path), "--set", "photos"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from webapp.services.stimuli import decode_png

        stims = db.session.scalars(select(Stimulus).order_by(Stimulus.key)).all()
        assert [s.category for s in stims] == ["moon", "sun"]
        pixels = decode_png(stims[0].image_png)
        assert pixels.shape == (64, 48) and pixels[25, 20] == 255 and pixels[0, 0] == 0


def test_bad_files_import_nothing(app, tmp_path):
    good = tmp_path / "mix"
    good.mkdir()
    (good / "cat").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(good / "cat" / "ok.png")
    (good / "cat" / "broken.png").write_bytes(b"not a png")
    bad_ndjson = tmp_path / "bad.ndjson"
    bad_ndjson.write_text('{"word": "cat", "drawing": [[[0, 1], [0, 1]]]}\n{"word": "cat", "drawing": [[[0, 999], [1, 2]]]}\n')
    wrong_npy = tmp_path / "dog.npy"
    np.save(wrong_npy, np.zeros((3, 10), np.float32))
    for path, message in [(good, "broken.png"), (bad_ndjson, "bad.ndjson:2"), (wrong_npy, "uint8"),
                          (tmp_path / "missing.npy", "no such file"), (tmp_path / "x.txt", "unsupported")]:
        if path.suffix == ".txt":
            path.write_text("hello")
        result = app.test_cli_runner().invoke(args=["stimuli", "import", str(path), "--set", "s"])
        assert result.exit_code != 0 and message in result.output, result.output
    assert _count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StimulusSet)) == 0


def test_setup_imports_default_set_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["setup"])
    assert first.exit_code == 0, first.output
    n = _count(app, app.config["DEFAULT_STIMULUS_SET"])
    assert n == 204
    second = runner.invoke(args=["setup"])
    assert "0 new drawings" in second.output and _count(app) == n
    listing = runner.invoke(args=["stimuli", "list"])
    assert "204 drawings" in listing.output and "17 categories" in listing.output
