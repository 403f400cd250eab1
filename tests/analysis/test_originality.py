"""Originality vs recognizability: known answers with constructed generators, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.studies.originality import Critic, load_critic, load_heldout, score, sweep
from models.cfgdm import OneShotCFGDM, small_unet
from models.classifier import SketchCNN, save_classifier

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def critic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small critic saved like the real one (random features still tell drawings apart)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("critic")
    save_classifier(SketchCNN(5, channels=(8, 16)).eval(), [f"c{i}" for i in range(5)], folder)
    return folder


@pytest.fixture(scope="module")
def heldout() -> tuple[np.ndarray, list[str]]:
    return load_heldout(n_categories=6)


def test_the_shipped_held_out_set_matches_the_cfgdm_split() -> None:
    images, categories = load_heldout()
    meta = json.loads((REPO / "models" / "weights" / "cfgdm" / "cfgdm.json").read_text())
    assert categories == meta["test_categories"]
    assert images.shape == (40, 25, 28, 28) and images.dtype == np.uint8


def test_copies_are_unoriginal_and_perfectly_recognised(critic_dir: Path, heldout) -> None:
    critic = load_critic(critic_dir, device="cpu")
    drawings, _ = heldout
    exemplars = drawings[:, 0]
    table = score(critic, exemplars, np.repeat(exemplars[:, None], 3, axis=1))
    assert np.allclose(table.originality, 0.0, atol=1e-5)
    assert (table.recognizability == 1.0).all()


def test_samples_of_one_other_category_are_recognised_as_that_category(critic_dir: Path, heldout) -> None:
    critic = load_critic(critic_dir, device="cpu")
    drawings, _ = heldout
    exemplars = drawings[:, 0]
    always_first = np.repeat(exemplars[:1][None], len(exemplars), axis=0)  # every sample = category 0's exemplar
    table = score(critic, exemplars, always_first)
    assert table.recognizability.tolist() == [1.0] + [0.0] * (len(exemplars) - 1)
    assert (table.originality[1:] > 0).all()


def test_sweep_has_a_human_point_and_one_point_per_gamma(critic_dir: Path, heldout) -> None:
    critic: Critic = load_critic(critic_dir, device="cpu")
    drawings, categories = heldout

    def noisy_copy(exemplars: np.ndarray, gamma: float, seed: int) -> np.ndarray:
        """More gamma, fewer random pixels flipped: a generator with a known trade-off."""
        rng = np.random.default_rng(seed)
        flip = rng.random(exemplars.shape) < 0.3 / (1 + gamma)
        return np.where(flip, 255 - exemplars, exemplars).astype(np.uint8)

    summary, per_category = sweep(noisy_copy, critic, drawings, categories, [0.0, 9.0], samples_per=2, n_boot=100)
    assert summary.source.tolist() == ["human", "cfgdm", "cfgdm"]
    assert summary.gamma.tolist()[1:] == [0.0, 9.0]
    low, high = summary.iloc[1], summary.iloc[2]
    assert high.originality < low.originality
    assert summary.attrs["chance"] == pytest.approx(1 / 6)
    assert len(per_category) == 3 * 6
    for _, row in summary.iterrows():
        assert row.originality_lo <= row.originality <= row.originality_hi
    with pytest.raises(ValueError, match="drawings per category"):
        sweep(noisy_copy, critic, drawings[:, :2], categories, [0.0], samples_per=2)


def test_originality_cli(tmp_path: Path, critic_dir: Path) -> None:
    torch.manual_seed(0)
    cfgdm_dir = tmp_path / "cfgdm"
    OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=50).save_pretrained(cfgdm_dir, meta={"steps": 0})
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "analysis", "originality", "--categories", "4", "--gammas", "0,2",
                           "--samples", "2", "--steps", "2", "--quick", "--cfgdm-weights", str(cfgdm_dir),
                           "--critic-weights", str(critic_dir), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(out / "originality_recognizability.csv")
    assert summary.source.tolist() == ["human", "cfgdm", "cfgdm"]
    assert len(pd.read_csv(out / "per_category.csv")) == 12
    assert (out / "originality_recognizability.png").stat().st_size > 1000
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["n_categories"] == 4 and last["chance"] == 0.25


def test_the_shipped_critic_never_saw_the_held_out_categories() -> None:
    meta = json.loads((REPO / "models" / "weights" / "critic" / "classifier.json").read_text())
    held_out = json.loads((REPO / "models" / "weights" / "cfgdm" / "cfgdm.json").read_text())["test_categories"]
    assert meta["held_out_categories"] == held_out
    assert not set(meta["categories"]) & set(held_out) and len(meta["categories"]) == 263
    images, _ = load_heldout(n_categories=2)
    features = load_critic(device="cpu").embed(images[:, 0])
    assert features.shape == (2, 128) and np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
