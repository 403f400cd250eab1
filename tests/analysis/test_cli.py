"""`python -m analysis reliability` from a clicks CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.simulate import simulate_clicks

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_reliability_cli_writes_csv_and_ends_with_json(tmp_path):
    images = dict(zip(["a", "b", "c"], np.load(REPO / "data/stimuli/quickdraw17_default.npz")["images"][:3]))
    simulate_clicks(images, n_observers=8, seed=2).to_csv(tmp_path / "clicks.csv", index=False)
    result = run("reliability", "--clicks", str(tmp_path / "clicks.csv"), "--canvas", "28",
                 "--out", str(tmp_path / "rel.csv"), "--splits", "5")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"ceiling", "floor", "n_stimuli"} <= set(summary) and summary["n_stimuli"] == 3
    table = pd.read_csv(tmp_path / "rel.csv")
    assert list(table.stimulus) == ["a", "b", "c"] and (table.n_rounds == 8).all()
    assert table.split_half.between(-1, 1).all()


def test_reliability_cli_refuses_bad_input(tmp_path):
    (tmp_path / "bad.csv").write_text("stimulus,trial,x,y\na,1,5,5\na,1,500,5\n")
    result = run("reliability", "--clicks", str(tmp_path / "bad.csv"), "--canvas", "28", "--strict")
    assert result.returncode == 2 and "outside" in result.stderr
    result = run("reliability", "--clicks", str(tmp_path / "missing.csv"), "--canvas", "28")
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = run("reliability", "--clicks", str(tmp_path / "bad.csv"), "--canvas", "2x2x2")
    assert result.returncode == 2 and "canvas" in result.stderr


def test_reliability_cli_cleans_a_messy_legacy_export_and_reports_what_it_did(tmp_path, capsys):
    """The shipped simulated legacy export: repeats, points just off the canvas, no participants."""
    from analysis.__main__ import main

    clicks = str(REPO / "data/examples/legacy/clicks.csv")
    common = ["reliability", "--clicks", clicks, "--canvas", "256", "--splits", "5"]
    assert main([*common, "--out", str(tmp_path / "rel.csv")]) == 0
    out = capsys.readouterr().out
    assert "repeated rounds (same stimulus, same path): 320 (111 distinct paths); dropped 320" in out
    assert "participant ids: NO" in out
    summary = json.loads(out.strip().splitlines()[-1])
    check = json.loads((tmp_path / "rel.data_check.json").read_text())
    assert check["repeated_rounds_dropped"] == 320 and check["off_canvas_points_clipped"] == 13
    # rounds that are not brushing: its 7 planted short rounds, and (the drawings unknown) its 16 straight strokes
    assert check["non_brushing_reasons"] == {"fewer than 3 points": 7, "straight line (ink unknown)": 16}
    assert summary["data_check"]["rounds_kept"] == 111 - 23 and summary["n_rounds"] <= 111 - 23
    # with the drawings the straight strokes run along their ink and are kept; --keep-non-brushing keeps all
    stimuli = str(REPO / "data/examples/legacy/stimuli")
    assert main([*common, "--stimuli", stimuli, "--out", str(tmp_path / "ink.csv")]) == 0
    with_ink = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["data_check"]
    assert with_ink["non_brushing_reasons"] == {"fewer than 3 points": 7} and with_ink["rounds_kept"] == 104
    assert main([*common, "--keep-non-brushing", "--out", str(tmp_path / "all.csv")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["data_check"]["rounds_kept"] == 111
    assert main([*common, "--keep-repeats", "--out", str(tmp_path / "kept.csv")]) == 0
    inflated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert inflated["ceiling"] > summary["ceiling"] + 0.2  # copies correlate with themselves
    assert main([*common, "--strict"]) == 2
    assert "outside the 256x256 canvas" in capsys.readouterr().err
