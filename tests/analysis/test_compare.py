"""The comparison: stimulus loading, known-answer alignment, the CLI end to end, the notebook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from analysis.compare import CompareOptions, alignment_metrics, compare
from analysis.simulate import simulate_clicks
from analysis.stimuli import at_size, category_from_name, load_stimuli
from models.cfgdm import OneShotCFGDM, small_unet


REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "data" / "examples"


@pytest.fixture(scope="module")
def tiny_cfgdm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small CFGDM saved with `save_pretrained`, so the CLI's loading path runs."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("cfgdm")
    OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=100).save_pretrained(folder, meta={"steps": 10, "steps_done": 3})
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_category_comes_from_numbered_names() -> None:
    assert category_from_name("alarm_clock-004000") == "alarm clock"
    assert category_from_name("cat_12") == "cat"
    assert category_from_name("mystery") is None


def test_loads_a_flat_folder_an_npz_and_strokes(tmp_path: Path) -> None:
    flat = load_stimuli(EXAMPLES / "stimuli")
    assert len(flat) == 12 and flat["airplane-000190"].category == "airplane"
    assert flat["airplane-000190"].pixels.dtype == np.uint8 and flat["airplane-000190"].pixels.shape == (28, 28)
    # a dark-on-light scan is inverted to white strokes on black
    Image.fromarray(255 - flat["apple-007953"].pixels).save(tmp_path / "apple-1.png")
    assert np.array_equal(load_stimuli(tmp_path)["apple-1"].pixels, flat["apple-007953"].pixels)
    npz = load_stimuli(REPO / "data" / "stimuli" / "quickdraw17_default.npz")
    assert len(npz) == 204 and npz["alarm_clock-004318"].category == "alarm clock"
    strokes = load_stimuli(REPO / "tests" / "data" / "strokes_sample.ndjson")
    assert all(s.pixels.shape == (256, 256) for s in strokes.values())
    assert at_size(next(iter(strokes.values())).pixels, 28, 28).shape == (28, 28)


def test_identical_maps_align_perfectly_and_disjoint_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    human = rng.random((20, 20))
    same = alignment_metrics(human, human.copy())
    assert same["spearman"] == pytest.approx(1.0)
    assert same["iou_auc"] == pytest.approx(1.0) and same["emd"] == pytest.approx(0.0, abs=1e-9)
    left, right = np.zeros((20, 20)), np.zeros((20, 20))
    left[:, :5], right[:, 15:] = 1, 1
    apart = alignment_metrics(left, right)
    assert apart["emd"] > 0.4


def test_compare_finds_the_more_localised_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Observers who all brush the same spot vs a 'machine' spread over the whole drawing."""
    stimuli = load_stimuli(EXAMPLES / "stimuli")
    names = sorted(stimuli)[:6]
    images = {n: stimuli[n].pixels for n in names}
    clicks = simulate_clicks(images, n_observers=10, agreement=1.0, n_spots=1, seed=3)

    from analysis import compare as compare_module
    from analysis.maps import prepare_map

    def spread_out_maps(names_, stimuli_, width, height, sources, options, **_):
        """A 'machine' whose map covers the whole drawing: known to be less localised."""
        maps = {n: prepare_map(stimuli_[n].pixels.astype(float) + 1.0, width, height, 0) for n in names_}
        return {"classifier": maps}, {"classifier": {"method": "whole drawing"}}, []

    monkeypatch.setattr(compare_module, "machine_maps", spread_out_maps)
    result = compare(clicks, {n: stimuli[n] for n in names}, 28, 28, ("human", "classifier"), CompareOptions.quick())
    human, machine = result.summary["sources"]["human"], result.summary["sources"]["classifier"]
    assert human["area_fraction"]["mean"] < machine["area_fraction"]["mean"]
    assert human["gini"]["mean"] > machine["gini"]["mean"]
    test = result.summary["tests"]["classifier"]["area_fraction"]
    assert test["n"] == 6 and test["mean_difference"] < 0 and test["p"] < 0.05
    interval = result.summary["participant_ci"]["human.area_fraction"]
    assert interval["estimate"] == pytest.approx(human["area_fraction"]["mean"])
    assert interval["lo"] < interval["estimate"] < interval["hi"]


def test_compare_cli_writes_every_output(tmp_path: Path, tiny_cfgdm_dir: Path) -> None:
    out = tmp_path / "out"
    done = run_cli("compare", "--clicks", str(EXAMPLES / "simulated_clicks.csv"), "--stimuli",
                   str(EXAMPLES / "stimuli"), "--canvas", "28", "--out", str(out), "--quick",
                   "--cfgdm-weights", str(tiny_cfgdm_dir))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "per_stimulus.csv")
    assert len(table) == 12
    for column in ("human.feature_count", "cfgdm.area_fraction", "classifier.spearman", "cfgdm.emd",
                   "ceiling"):
        assert column in table and table[column].notna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["sources"]) == {"human", "classifier", "cfgdm", "classifier_matched", "cfgdm_matched"}
    assert set(summary["baselines"]) == {"center_bias", "ink", "random", "floor"}
    for baseline in summary["baselines"].values():
        ci = baseline["spearman"]
        assert ci["n"] == 12 and ci["lo"] <= ci["mean"] <= ci["hi"]
    for machine in ("classifier", "cfgdm"):
        controls = summary["controls"][machine]
        assert controls["random_weights"]["alignment"]["n"] == 12
        assert {"integrated_gradients~saliency", "integrated_gradients~occlusion", "occlusion~saliency"} \
            == set(controls["methods"])
        assert 0 <= summary["machines"][machine]["ink_share"] <= 1
    assert controls["seed"]["agreement"]["n"] == 12  # the CFGDM's trajectories depend on the seed
    assert summary["controls"]["classifier"]["seed"]["agreement"] == "deterministic"
    assert "legacy ClickMe" in summary["radius"]["source"]
    # matched players have the humans' rounds and points: their maps are built from the same amount of data
    assert table["cfgdm_matched.area_fraction"].notna().all()
    assert summary["n_stimuli"] == 12 and summary["n_participants"] == 12
    fc = summary["sources"]["cfgdm"]["feature_count"]
    assert fc["lo"] <= fc["mean"] <= fc["hi"]
    assert set(summary["tests"]) == {"classifier", "cfgdm", "classifier_matched", "cfgdm_matched"}
    assert summary["machines"]["classifier"]["version"].startswith("sketchcnn-")
    # the steps the weights were trained for, not the steps the run had planned
    assert summary["machines"]["cfgdm"]["training_steps"] == 3
    maps = np.load(out / "maps.npz")
    assert np.isclose(maps["human/airplane-000190"].sum(), 1.0, atol=1e-4)
    report = (out / "report.html").read_text()
    assert report.count("<img") == 3 and "Wilcoxon" in report
    for section in ("Sanity checks of the machine maps", "Baselines", "Matched sampling", "center_bias"):
        assert section in report
    for name in ("map_grid.png", "distributions.png", "alignment.png"):
        assert (out / name).stat().st_size > 1000


def test_compare_cli_explains_bad_input(tmp_path: Path) -> None:
    clicks = tmp_path / "clicks.csv"
    pd.DataFrame({"stimulus": ["nope"] * 4, "trial": list("abcd"), "x": [1.0] * 4, "y": [2.0] * 4}).to_csv(clicks, index=False)
    done = run_cli("compare", "--clicks", str(clicks), "--stimuli", str(EXAMPLES / "stimuli"), "--canvas", "28",
                   "--out", str(tmp_path / "o"), "--quick", "--sources", "human")
    assert done.returncode == 2 and "no stimulus has both" in done.stderr
    done = run_cli("compare", "--clicks", str(clicks), "--stimuli", str(tmp_path / "missing"), "--canvas", "28",
                   "--out", str(tmp_path / "o"), "--quick")
    assert done.returncode == 2 and "missing" in done.stderr
    done = run_cli("compare", "--clicks", str(EXAMPLES / "simulated_clicks.csv"), "--stimuli",
                   str(EXAMPLES / "stimuli"), "--canvas", "28", "--out", str(tmp_path / "o"), "--sources", "cfgdm")
    assert done.returncode == 2 and "sources must include human" in done.stderr


def test_the_notebook_runs_on_the_repository_data(run_notebook) -> None:
    outputs, text = run_notebook("compare_humans_machines.ipynb")
    assert "3456 points" in text and "12 drawings" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    tables = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "(mean [95% CI])" in tables and "p_holm" in tables and "normalised" in tables


def test_compare_cli_options_reach_the_analysis(tmp_path: Path) -> None:
    common = ["compare", "--clicks", str(EXAMPLES / "simulated_clicks.csv"), "--stimuli", str(EXAMPLES / "stimuli"),
              "--canvas", "28", "--quick", "--sources", "human,classifier"]
    done = run_cli(*common, "--out", str(tmp_path / "a"), "--sigma", "0", "--mass", "0.8", "--radius", "3",
                   "--min-points", "5")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["sigma_px"] == 0 and summary["radius_px"] == 3 and summary["mass"] == 0.8
    assert summary["options"]["min_points_per_round"] == 5
    done = run_cli(*common, "--out", str(tmp_path / "b"), "--min-rounds", "13")
    assert done.returncode == 2 and "at least 13 rounds" in done.stderr
    done = run_cli(*common, "--out", str(tmp_path / "c"), "--mass", "1.5")
    assert done.returncode == 2 and "--mass" in done.stderr
    done = run_cli(*common, "--out", str(tmp_path / "d"), "--batch-size", "0")
    assert done.returncode == 2 and "--batch-size" in done.stderr
