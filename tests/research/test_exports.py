"""Exports: content, pseudonymity, filters, token download, bundle manifest and codebook."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

from sqlalchemy import select


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.data[:300]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_clicks_csv_has_every_point_with_its_coordinates(app, research_client, seeded):
    from webapp.extensions import db
    from webapp.models import BrushPoint, Round, Stimulus

    rows = _csv(research_client.get("/research/export/clicks.csv"))
    assert len(rows) == seeded.n_points
    assert list(rows[0]) == ["study", "participant", "round", "stimulus", "category", "point_index",
                             "x", "y", "t_ms", "device_class"]
    with app.app_context():
        stored = {(r, i): (x, y, t, key, cat) for r, i, x, y, t, key, cat in db.session.execute(
            select(BrushPoint.round_id, BrushPoint.idx, BrushPoint.x, BrushPoint.y, BrushPoint.t_ms,
                   Stimulus.key, Round.category).join(Round, Round.id == BrushPoint.round_id)
            .join(Stimulus, Stimulus.id == Round.stimulus_id))}
    for row in rows:
        x, y, t, key, cat = stored[(row["round"], int(row["point_index"]))]
        # repr() round-trips floats exactly.
        assert (float(row["x"]), float(row["y"]), float(row["t_ms"])) == (x, y, t)
        assert (row["stimulus"], row["category"]) == (key, cat)
    assert {r["study"] for r in rows} == {"pilot", ""}
    # Points of a round come in order.
    first_round = [int(r["point_index"]) for r in rows if r["round"] == rows[0]["round"]]
    assert first_round == list(range(len(first_round)))


def test_participants_are_pseudonymous_unless_asked(app, research_client, seeded):
    from webapp.extensions import db
    from webapp.models import Player
    from webapp.research.codes import participant_code

    body = research_client.get("/research/export/clicks").get_data(as_text=True)
    with app.app_context():
        players = db.session.scalars(select(Player)).all()
        codes = {participant_code(p.public_id) for p in players}
        for p in players:
            assert p.public_id not in body
            if p.external_id:
                assert p.external_id not in body
    assert {r["participant"] for r in csv.DictReader(io.StringIO(body))} == codes
    with_ids = _csv(research_client.get("/research/export/rounds?include_external_ids=1"))
    assert {r["external_id"] for r in with_ids} == {"PID0", "PID1", ""}


def test_rounds_csv_and_guesses_jsonl(research_client, seeded):
    rounds = _csv(research_client.get("/research/export/rounds"))
    assert sorted(r["round"] for r in rounds) == sorted(seeded.round_ids)
    first = rounds[0]
    assert first["status"] == "recognized" and first["model_version"] == "test-model-1"
    assert json.loads(first["settings"])["timer_ms"] == 15000
    assert int(first["n_points"]) >= 12 and first["stimulus_set"] == "test-set"
    response = research_client.get("/research/export/guesses")
    assert response.mimetype == "application/x-ndjson"
    guesses = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(guesses) == seeded.n_guesses
    assert len(guesses[0]["top5"]) == 5 and guesses[0]["top5"][0]["p"] == 0.8
    assert {g["guess_index"] for g in guesses} == {0}


def test_filters_study_dates_and_exclusion(app, research_client, seeded):
    from webapp.extensions import db
    from webapp.models import Player

    assert len(_csv(research_client.get("/research/export/rounds?study=pilot"))) == 4
    # Rounds were seeded on 1 May (first of each player) and 2 May (second).
    may2 = _csv(research_client.get("/research/export/rounds?start=2026-05-02&end=2026-05-02"))
    assert len(may2) == 3 and {r["started_at"][:10] for r in may2} == {"2026-05-02"}
    with app.app_context():
        db.session.get(Player, seeded.player_ids[0]).excluded = True
        db.session.commit()
    assert len(_csv(research_client.get("/research/export/rounds"))) == 4
    assert len(_csv(research_client.get("/research/export/rounds?include_excluded=1"))) == 6
    assert research_client.get("/research/export/rounds?study=nope").status_code == 404
    assert research_client.get("/research/export/rounds?start=May").status_code == 400
    assert research_client.get("/research/export/everything").status_code == 404


def test_exclude_flagged_drops_a_scripted_participant(app, research_client, seeded):
    from tests.research.conftest import add_round, make_player
    from webapp.extensions import db
    from webapp.models import Stimulus

    with app.app_context():
        bot = make_player()
        stimulus = db.session.scalars(select(Stimulus)).first()
        # 40 points within 5 ms: no pointer device reports that fast.
        add_round(bot, stimulus, [(1.0 + i * 0.5, 2.0, i * 0.125) for i in range(40)])
    everyone = _csv(research_client.get("/research/export/rounds"))
    clean = _csv(research_client.get("/research/export/rounds?exclude_flagged=1"))
    assert len(everyone) == len(seeded.round_ids) + 1
    assert len(clean) == len(seeded.round_ids)


def test_bundle_has_all_files_codebook_and_checksums(research_client, seeded):
    response = research_client.get("/research/export/bundle?study=pilot")
    assert response.status_code == 200
    assert 'filename="pilot-bundle.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(archive.namelist())
    assert {"clicks.csv", "rounds.csv", "guesses.jsonl", "maps.npz", "codebook.md", "codebook.csv",
            "manifest.json"} <= names
    assert any(n.startswith("heatmaps/test-set/") and n.endswith(".png") for n in names)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["filters"]["study"] == "pilot"
    for name, info in manifest["files"].items():
        content = archive.read(name)
        assert hashlib.sha256(content).hexdigest() == info["sha256"], name
        assert len(content) == info["bytes"]
    assert manifest["files"]["rounds.csv"]["rows"] == 4
    assert manifest["files"]["clicks.csv"]["rows"] == sum(
        1 for _ in csv.DictReader(io.StringIO(archive.read("clicks.csv").decode())))
    # Every column of every table is described in the codebook.
    described = {(r["file"], r["column"]) for r in csv.DictReader(io.StringIO(archive.read("codebook.csv").decode()))}
    for table in ("clicks.csv", "rounds.csv"):
        head = archive.read(table).decode().splitlines()[0].split(",")
        assert all((table, column) in described for column in head)
    first_guess = json.loads(archive.read("guesses.jsonl").decode().splitlines()[0])
    assert all(("guesses.jsonl", key) in described for key in first_guess)
    assert "## clicks.csv" in archive.read("codebook.md").decode()


def test_token_download_for_scripts(client, seeded, token):
    response = client.get("/research/export/clicks?study=pilot", headers={"Authorization": f"Bearer {token}"})
    rows = _csv(response)
    assert rows and {r["study"] for r in rows} == {"pilot"}
    assert client.get("/research/export/clicks?study=pilot").status_code == 401


def test_export_streams_in_chunks(app, seeded):
    """The writers are generators: the response body arrives as several pieces, not one blob."""
    from webapp.research import exports
    from webapp.research.exports import ExportOptions, clicks_csv
    from webapp.research.filters import Scope

    original = exports.BATCH
    exports.BATCH = 10
    try:
        with app.app_context():
            chunks = list(clicks_csv(ExportOptions(Scope())))
    finally:
        exports.BATCH = original
    assert len(chunks) >= seeded.n_points // 10
    assert b"".join(chunks).count(b"\n") == seeded.n_points + 1


def test_maps_npz_matches_analysis_maps(app, research_client, seeded):
    """maps.npz holds, per stimulus, analysis.maps.human_map of exactly the exported rounds."""
    import numpy as np

    from analysis.maps import human_map

    response = research_client.get("/research/export/maps?study=pilot")
    assert response.status_code == 200
    maps = np.load(io.BytesIO(response.data))
    rounds = _csv(research_client.get("/research/export/rounds?study=pilot"))
    clicks = _csv(research_client.get("/research/export/clicks?study=pilot"))
    by_stimulus: dict[str, list] = {}
    for r in rounds:
        pts = [[float(c["x"]), float(c["y"])] for c in clicks if c["round"] == r["round"]]
        by_stimulus.setdefault(r["stimulus"], []).append((r["round"], np.array(pts)))
    assert sorted(maps.files) == sorted([f"test-set/{k}" for k in by_stimulus]
                                        + [f"test-set/{k}.n_rounds" for k in by_stimulus])
    for key, entries in by_stimulus.items():
        entries.sort()  # the export orders a stimulus' rounds by round id
        expected = human_map([p for _, p in entries], 28, 28, 1.96)
        got = maps[f"test-set/{key}"]
        assert got.shape == (28, 28) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        assert abs(float(got.sum()) - 1.0) < 1e-4
        assert int(maps[f"test-set/{key}.n_rounds"]) == len(entries)


def test_stimuli_page_shows_maps_and_reliability(app, research_client):
    from tests.research.conftest import add_round, human_points, make_player, make_set

    with app.app_context():
        stimuli = make_set()
        for i in range(6):  # six rounds on the first stimulus: enough for a split-half value
            add_round(make_player(), stimuli[0], human_points(20, seed=i))
        first_id = stimuli[0].id
    page = research_client.get("/research/stimuli").get_data(as_text=True)
    cells = page.split("<figcaption>")
    played = next(c for c in cells if c.startswith("<code>cat-000<"))
    unplayed = next(c for c in cells if c.startswith("<code>tree-001<"))
    assert "6 rounds" in played and "reliability –" not in played
    assert "reliability –" in unplayed
    image = research_client.get(f"/research/stimuli/{first_id}/map.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    from PIL import Image

    picture = Image.open(io.BytesIO(image.data))
    assert picture.size == (252, 252) and picture.mode == "RGB"


def test_the_analysis_reads_the_exported_clicks_file(research_client, seeded, tmp_path):
    """The clicks.csv a researcher downloads is the analysis' input: same maps as maps.npz."""
    import numpy as np

    from analysis.clicks import load_clicks
    from analysis.maps import maps_from_clicks
    from analysis.reliability import reliability_table

    path = tmp_path / "clicks.csv"
    path.write_bytes(research_client.get("/research/export/clicks?study=pilot").data)
    clicks = load_clicks(path, 28, 28)
    assert {"stimulus", "trial", "participant", "category", "x", "y", "t_ms"} <= set(clicks.columns)
    maps = np.load(io.BytesIO(research_client.get("/research/export/maps?study=pilot").data))
    ours = maps_from_clicks(clicks, 28, 28)
    assert ours and {f"test-set/{k}" for k in ours} == {f for f in maps.files if not f.endswith(".n_rounds")}
    for key, value in ours.items():
        np.testing.assert_allclose(value, maps[f"test-set/{key}"], rtol=1e-6, atol=1e-9)
    table, summary = reliability_table(clicks, 28, 28, min_rounds=2)
    assert summary["n_stimuli"] == len(table) > 0 and summary["grouped_by"] == "participant"


def test_device_class_is_in_clicks_rounds_and_the_codebook(app, research_client, seeded):
    """Phone rounds can be told from desktop rounds in every export (empty = unknown)."""
    from webapp.extensions import db
    from webapp.models import Round
    from webapp.research.codebook import as_csv

    phone_round = seeded.round_ids[0]
    with app.app_context():
        db.session.get(Round, phone_round).device_class = "phone"
        db.session.commit()
    rounds = _csv(research_client.get("/research/export/rounds.csv"))
    assert {r["round"]: r["device_class"] for r in rounds}[phone_round] == "phone"
    assert {r["device_class"] for r in rounds if r["round"] != phone_round} == {""}
    clicks = _csv(research_client.get("/research/export/clicks.csv"))
    assert {r["device_class"] for r in clicks if r["round"] == phone_round} == {"phone"}
    assert "clicks.csv,device_class,str" in as_csv() and "rounds.csv,device_class,str" in as_csv()
