"""Originality vs recognizability: known answers with the shipped critics, the curves, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.studies.originality import (Source, baseline_source, curves, distractors, load_heldout,
                                          omniglot_categories, quickdraw_categories, summarize, sweep)
from models.cfgdm import OneShotCFGDM, small_unet
from models.critic import load_critic

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def critic():
    return load_critic("quickdraw", device="cpu")


def copy_generator(exemplars: np.ndarray, gamma: float, seed: int) -> np.ndarray:
    return exemplars.copy()


def noise_generator(exemplars: np.ndarray, gamma: float, seed: int) -> np.ndarray:
    """Random ink, unrelated to the exemplar."""
    rng = np.random.default_rng(seed)
    return (rng.random(exemplars.shape) < 0.15).astype(np.uint8) * 255


def test_the_shipped_held_out_set_matches_the_cfgdm_split() -> None:
    images, categories = load_heldout()
    meta = json.loads((REPO / "models" / "weights" / "cfgdm" / "cfgdm.json").read_text())
    assert categories == meta["test_categories"]
    assert images.shape == (40, 25, 28, 28) and images.dtype == np.uint8


def test_copies_score_zero_originality_and_full_recognizability_noise_scores_chance(critic) -> None:
    cats = quickdraw_categories()
    per_sample = sweep(critic, cats, [Source("copy", "copy", None, copy_generator),
                                      Source("noise", "noise", None, noise_generator), baseline_source()],
                       samples_per=10, way=20, seed=0)
    summary = summarize(per_sample, n_boot=500).set_index("name")
    assert summary.loc["copy", "originality"] == pytest.approx(0.0, abs=1e-5)
    assert summary.loc["copy", "recognizability"] == 1.0
    # a sample unrelated to its category wins its 20-way trial 1 time in 20 in expectation
    noise = summary.loc["noise"]
    assert noise.recognizability_lo <= 0.05 <= noise.recognizability_hi
    assert abs(noise.recognizability - 0.05) < 0.03
    assert noise.originality > summary.loc["human", "originality"]
    # the jittered exemplar sits between a copy and other people's drawings on both axes
    base = summary.loc["baseline (jittered exemplar)"]
    assert 0 < base.originality < summary.loc["human", "originality"]
    assert summary.loc["human", "recognizability"] < base.recognizability < 1.0


def test_omniglot_human_recognizability_is_the_critic_benchmark_accuracy() -> None:
    omniglot = load_critic("omniglot", device="cpu")
    per_sample = sweep(omniglot, omniglot_categories(), [], way=20)
    human = per_sample[per_sample.name == "human"]
    assert len(human) == 400
    benchmark = omniglot.recognizer.meta["validation"]["omniglot_20_runs_20way_1shot"]["error"]
    assert human.recognized.mean() == pytest.approx(1 - benchmark, abs=1e-9)


def test_distractors_come_from_the_same_group_and_never_the_category_itself() -> None:
    groups = np.repeat([0, 1], 5)
    picks = distractors(groups, way=3, n_samples=4, seed=0)
    assert picks.shape == (10, 4, 2)
    for c in range(10):
        for s in range(4):
            assert c not in picks[c, s] and len(set(picks[c, s])) == 2 and (groups[picks[c, s]] == groups[c]).all()
    with pytest.raises(ValueError, match="6-way"):
        distractors(groups, way=6, n_samples=1, seed=0)


def test_curves_share_bins_and_bracket_their_means() -> None:
    rng = np.random.default_rng(0)
    n = 400
    originality = rng.random(n)
    table = pd.DataFrame({"name": np.repeat(["a", "b"], n // 2), "model": np.repeat(["a", "b"], n // 2),
                          "category": np.tile(np.arange(20), n // 20), "originality": originality,
                          "recognized": (rng.random(n) > originality).astype(float)})
    result = curves(table, n_bins=4, min_samples=5, n_boot=200)
    kept = result[~result.dropped]
    assert set(kept.bin) == {0, 1, 2, 3}
    assert (kept.groupby("bin").bin_lo.nunique() == 1).all()  # one axis for every source
    assert ((kept.lo <= kept.recognizability) & (kept.recognizability <= kept.hi)).all()
    a = kept[kept.name == "a"].sort_values("bin")
    assert a.recognizability.iloc[0] > a.recognizability.iloc[-1]  # planted: more original, less recognised
    sparse = curves(table.iloc[:30], n_bins=4, min_samples=50, n_boot=50)
    assert sparse.dropped.all()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "originality", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_originality_cli_on_quickdraw(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfgdm_dir = tmp_path / "cfgdm"
    OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=50).save_pretrained(cfgdm_dir, meta={"steps": 0})
    out = tmp_path / "out"
    done = run_cli("--dataset", "quickdraw", "--categories", "20", "--gammas", "0,2", "--samples", "2", "--steps",
                   "2", "--quick", "--cfgdm-weights", str(cfgdm_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    names = [s["name"] for s in summary["sources"]]
    assert names == ["human", "baseline (jittered exemplar)", "cfgdm γ=0", "cfgdm γ=2"]
    for source in summary["sources"]:
        assert {"name", "originality", "recognizability"} <= set(source)
        assert source["originality_lo"] <= source["originality"] <= source["originality_hi"]
    assert summary["chance"] == 0.05 and summary["n_categories"] == 20 and summary["critic"]["name"] == "quickdraw"
    assert summary["cfgdm_sampler"] == {"sampler": "ddpm", "steps": 2}
    assert len(pd.read_csv(out / "per_sample.csv")) == 20 * (5 + 2 + 2 + 2)
    assert set(pd.read_csv(out / "generalization_curves.csv").name) <= set(names)
    for png in ("originality_recognizability.png", "generalization_curves.png"):
        assert (out / png).stat().st_size > 1000
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert [s["name"] for s in last["sources"]] == names


def test_originality_cli_on_omniglot_says_there_is_no_cfgdm(tmp_path: Path) -> None:
    done = run_cli("--dataset", "omniglot", "--categories", "2", "--samples", "2", "--quick", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "No CFGDM is trained on Omniglot" in done.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["name"] for s in summary["sources"]] == ["human", "baseline (jittered exemplar)"]
    assert summary["n_categories"] == 40 and summary["human_per_category"] == 1


def test_originality_cli_explains_bad_input(tmp_path: Path) -> None:
    done = run_cli("--dataset", "omniglot", "--way", "1", "--out", str(tmp_path))
    assert done.returncode == 2 and "--way" in done.stderr
    done = run_cli("--dataset", "omniglot", "--critic", str(tmp_path / "none"), "--out", str(tmp_path))
    assert done.returncode == 2 and "no critic" in done.stderr
    done = run_cli("--dataset", "quickdraw", "--gammas", "", "--humans", "30", "--out", str(tmp_path))
    assert done.returncode == 2 and "human references" in done.stderr
    done = run_cli("--dataset", "mnist", "--out", str(tmp_path))
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_the_notebook_runs_on_the_repository_data(run_notebook) -> None:
    outputs, text = run_notebook("originality_recognizability.ipynb")
    assert "Omniglot 20-way 1-shot error" in text and "jittered exemplar" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
