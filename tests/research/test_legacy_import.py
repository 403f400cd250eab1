"""Legacy click import: validation before writing, all-or-nothing, and export -> import equality."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import make_test_app
from tests.research.conftest import make_set


def _counts(app) -> tuple[int, int, int]:
    from webapp.extensions import db
    from webapp.models import BrushPoint, Player, Round

    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(t)) for t in (Player, Round, BrushPoint))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "legacy.csv"
    path.write_text(text)
    return path


def test_import_creates_imported_rounds(app, tmp_path):
    from webapp.extensions import db
    from webapp.models import BrushPoint, Round
    from webapp.research.legacy_import import import_clicks

    with app.app_context():
        make_set()
    path = _write(tmp_path, "stimulus,trial,x,y,participant\n"
                            "cat-000,1,3.5,4,s1\ncat-000,1,5,6,s1\ntree-001,2,1,1,s1\n"
                            "cat-000,1,7,8,s2\n")
    with app.app_context():
        report = import_clicks(path, "test-set")
        assert (report.participants, report.rounds, report.points) == (2, 3, 4)
        rounds = db.session.scalars(select(Round).order_by(Round.n_points.desc())).all()
        assert {r.status for r in rounds} == {"imported"}
        assert {r.model_version for r in rounds} == {"legacy-import"}
        assert rounds[0].n_points == 2 and rounds[0].settings["legacy_trial"] == "1"
        assert rounds[0].settings["has_times"] is False and rounds[0].settings["brush_radius_px"] > 0
        points = db.session.execute(select(BrushPoint.idx, BrushPoint.x, BrushPoint.y, BrushPoint.t_ms)
                                    .where(BrushPoint.round_id == rounds[0].id).order_by(BrushPoint.idx)).all()
        assert [tuple(p) for p in points] == [(0, 3.5, 4.0, 0.0), (1, 5.0, 6.0, 0.0)]
        # imported rounds count as plays of their stimuli, so sampling moves on to other drawings
        from webapp.models import Stimulus
        from webapp.services.coverage import counted_plays

        stored = {s.key: s.play_count for s in db.session.scalars(select(Stimulus)) if s.play_count}
        assert stored == {"cat-000": 2, "tree-001": 1}
        assert counted_plays() == {s.id: s.play_count for s in db.session.scalars(select(Stimulus))
                                   if s.play_count}


def test_unknown_stimulus_is_a_clear_error_and_nothing_is_written(app, tmp_path):
    from webapp.research.legacy_import import ImportFailed, import_clicks

    with app.app_context():
        make_set()
    before = _counts(app)
    path = _write(tmp_path, "stimulus,trial,x,y\ncat-000,1,1,1\n" + "cat-000,1,2,2\n" * 10
                  + "unicorn-9,3,1,1\nhouse-002,4,99,1\n")
    with app.app_context(), pytest.raises(ImportFailed) as failure:
        import_clicks(path, "test-set")
    message = str(failure.value)
    assert "unicorn-9" in message and "nothing was imported" in message
    assert "line 13: unknown stimulus" in message and "line 14: x, y must be" in message
    assert _counts(app) == before


def test_missing_columns_and_unknown_set(app, tmp_path):
    from webapp.research.legacy_import import ImportFailed, import_clicks

    with app.app_context():
        make_set()
        with pytest.raises(ImportFailed, match="missing column"):
            import_clicks(_write(tmp_path, "stimulus,x,y\ncat-000,1,1\n"), "test-set")
        with pytest.raises(ImportFailed, match="unknown stimulus set"):
            import_clicks(_write(tmp_path, "stimulus,trial,x,y\ncat-000,1,1,1\n"), "nope")


def test_failure_midway_rolls_back(app, tmp_path, monkeypatch):
    """A database error while writing leaves no partial import behind."""
    from webapp.research import legacy_import

    with app.app_context():
        make_set()
    before = _counts(app)
    monkeypatch.setattr(legacy_import, "POINT_BATCH", 2)
    calls = {"n": 0}
    original = legacy_import.db.session.execute

    def flaky(statement, *args, **kwargs):
        if getattr(getattr(statement, "table", None), "name", "") == "brush_point":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full")
        return original(statement, *args, **kwargs)

    path = _write(tmp_path, "stimulus,trial,x,y\n" + "cat-000,1,1,1\n" * 5)
    with app.app_context():
        monkeypatch.setattr(legacy_import.db.session, "execute", flaky)
        with pytest.raises(RuntimeError, match="disk full"):
            legacy_import.import_clicks(path, "test-set")
        monkeypatch.undo()
    assert _counts(app) == before


def _points_by_round(text: str) -> list[tuple[str, tuple[tuple[float, float, float], ...]]]:
    """Rounds as (stimulus, points) with participants and ids left out (they are relabelled)."""
    rounds: dict[str, list] = defaultdict(list)
    stimulus = {}
    for row in csv.DictReader(io.StringIO(text)):
        rounds[row["round"]].append((int(row["point_index"]), float(row["x"]), float(row["y"]), float(row["t_ms"])))
        stimulus[row["round"]] = row["stimulus"]
    return sorted((stimulus[r], tuple(p[1:] for p in sorted(pts))) for r, pts in rounds.items())


def _participant_partition(text: str) -> list[list[str]]:
    """Which rounds belong together, independent of the participant codes themselves."""
    groups: dict[str, set] = defaultdict(set)
    for row in csv.DictReader(io.StringIO(text)):
        groups[row["participant"]].add((row["stimulus"], row["point_index"], row["x"]))
    return sorted(sorted(map(str, g)) for g in groups.values())


def test_export_then_reimport_gives_the_same_points(app, research_client, seeded, tmp_path, database_url):
    """clicks.csv -> legacy import into a fresh database -> clicks.csv: the same points."""
    from webapp.extensions import db
    from webapp.research.legacy_import import import_clicks

    exported = research_client.get("/research/export/clicks").get_data(as_text=True)
    path = _write(tmp_path, exported)
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = make_test_app(f"sqlite:///{fresh_dir / 'fresh.sqlite3'}", fresh_dir)
    with fresh.app_context():
        make_set()
        report = import_clicks(path, "test-set")
        assert report.points == seeded.n_points and report.rounds == len(seeded.round_ids)
    from webapp.research.exports import ExportOptions, clicks_csv
    from webapp.research.filters import Scope

    with fresh.app_context():
        again = b"".join(clicks_csv(ExportOptions(Scope()))).decode()
        db.session.remove()
    assert _points_by_round(again) == _points_by_round(exported)
    assert _participant_partition(again) == _participant_partition(exported)
