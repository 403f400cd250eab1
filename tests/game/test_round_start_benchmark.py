"""`python -m benchmarks round_start` runs and reports its figures (a smoke run, not a timing)."""

from __future__ import annotations

import json

from benchmarks import round_start
from webapp.extensions import db
from webapp.models import Round


def test_round_start_benchmark_smoke_run(capsys):
    assert round_start.main(["--quick", "--database", "sqlite"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])["round_start"]["sqlite"]
    assert figures["stored_rounds"] == 2000 and figures["starts"] == 10
    assert figures["start_ms_empty"] > 0 and figures["start_ms_with_rounds"] > 0
    assert abs(figures["ratio"] - figures["start_ms_with_rounds"] / figures["start_ms_empty"]) < 0.02


def test_stored_rounds_are_counted_as_plays(tmp_path):
    """The bulk-written history must be what sampling sees, or the second timing measures an
    empty study."""
    from benchmarks.batch_cpu import make_app
    from models.classifier import load_classifier
    from webapp.services.coverage import counted_plays
    from webapp.models import Stimulus

    app = make_app(f"sqlite:///{tmp_path / 'b.sqlite3'}", load_classifier(device="cpu"))
    round_start.store_rounds(app, 300)
    with app.app_context():
        assert db.session.query(Round).count() == 300
        stored = {s.id: s.play_count for s in db.session.query(Stimulus) if s.play_count}
        assert stored == counted_plays() and 150 < sum(stored.values()) < 250  # a third abandoned
        db.session.remove()
        db.engine.dispose()
