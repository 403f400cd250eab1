"""Real vs generated: band filters are exact, and a planted high-frequency signature is found
by the full and high-pass classifiers and invisible after a low-pass."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.studies.originality import load_heldout
from analysis.studies.real_vs_generated import band_filter, distinguishability, generate_set


def test_low_and_high_pass_add_up_to_the_image() -> None:
    images, _ = load_heldout(n_categories=2)
    flat = images[:, :3].reshape(-1, 28, 28)
    low, high = band_filter(flat, "lowpass", 4.0), band_filter(flat, "highpass", 4.0)
    assert np.allclose(low + high, flat / 255.0, atol=1e-5)
    assert np.array_equal(band_filter(flat, "full", 0), flat.astype(np.float32) / 255.0)
    # a constant image is pure frequency 0: all low-pass, nothing high-pass
    flat_grey = np.full((1, 28, 28), 128, np.uint8)
    assert np.allclose(band_filter(flat_grey, "highpass", 1.0), 0.0, atol=1e-6)
    with pytest.raises(ValueError):
        band_filter(flat, "bandstop", 2.0)


def test_a_checkerboard_signature_is_high_frequency() -> None:
    real, _ = load_heldout(n_categories=8)
    checker = (np.indices((28, 28)).sum(0) % 2) * 2.0 - 1.0
    generated = real.astype(np.float32) + 40.0 * checker  # the "generator" leaves a Nyquist pattern
    table = distinguishability(real, generated, test_categories=[6, 7], epochs=15, n_boot=100).set_index("band")
    assert table.loc["full", "accuracy"] > 0.9
    assert table.loc["highpass 6", "accuracy"] > 0.9
    # after a low-pass the pairs are identical images: no classifier can beat a coin
    assert table.loc["lowpass 3", "accuracy"] == pytest.approx(0.5, abs=0.05)
    assert table.loc["full", "n_test"] == 100


def test_layouts_and_splits_are_checked() -> None:
    real, _ = load_heldout(n_categories=3)
    with pytest.raises(ValueError, match="layout"):
        distinguishability(real[:, :4], real[:, :5], [0])
    with pytest.raises(ValueError, match="held out"):
        distinguishability(real[:, :4], real[:, :4], [0, 1, 2])
    copy = generate_set(lambda ex, gamma, seed: ex[::-1].copy(), real[:, :4], 1.0)
    assert copy.shape == real[:, :4].shape


def test_real_vs_generated_cli(tmp_path) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd
    import torch

    from models.cfgdm import OneShotCFGDM, small_unet

    repo = Path(__file__).resolve().parents[2]
    torch.manual_seed(0)
    OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=50).save_pretrained(tmp_path / "cfgdm", meta={"steps": 0})
    done = subprocess.run([sys.executable, "-m", "analysis", "real-vs-generated", "--categories", "8",
                           "--per-category", "4", "--sampler", "ddim", "--steps", "2", "--epochs", "1", "--quick",
                           "--cfgdm-weights", str(tmp_path / "cfgdm"), "--out", str(tmp_path / "out")],
                          cwd=repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "distinguishability.csv")
    assert table.band.tolist() == ["full", "lowpass 3", "lowpass 6", "highpass 3", "highpass 6"]
    assert ((table.accuracy >= 0) & (table.accuracy <= 1)).all() and (table.n_test == 2 * 2 * 4).all()
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(printed["test_categories"]) == 2 and (printed["sampler"], printed["steps"]) == ("ddim", 2)
    assert (tmp_path / "out" / "distinguishability.png").exists()
