"""Baselines (centre bias, ink, random, floor), the data's own brush radius, and symmetric geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import metrics
from analysis.baselines import BASELINES, baseline_alignment, summarise_baselines
from analysis.brush import LEGACY_CLICKME_FRACTION, resolve_radius
from analysis.clicks import ClicksError
from analysis.maps import human_map, prepare_map


def _maps(seed: int = 0, n: int = 9, size: int = 24) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    drawings, human = [], []
    for i in range(n):
        d = np.zeros((28, 28), np.uint8)
        r, c = rng.integers(4, 22, 2)
        d[r - 3:r + 3, c] = 255
        d[r, c - 3:c + 3] = 255
        drawings.append(d)
        human.append(prepare_map(d.astype(float) + rng.random((28, 28)) * 10, size, size, 1.0))
    return human, drawings, ["a", "a", "a", "b", "b", "b", "c", "c", None][:n]


def test_baselines_match_their_definitions() -> None:
    human, drawings, categories = _maps()
    prepare = lambda m: prepare_map(m, 24, 24, 1.0)  # noqa: E731
    values = baseline_alignment(human, drawings, categories, prepare, seed=99)  # not _maps' stream
    assert set(values) == set(BASELINES)
    for i, cat in enumerate(categories):
        others = [j for j, c in enumerate(categories) if j != i and (cat is None or c != cat)]
        centre = np.mean([human[j] for j in others], axis=0)
        assert values["center_bias"][i] == pytest.approx(metrics.spearman(human[i], centre), abs=1e-6)
        floor = np.mean([metrics.spearman(human[i], human[j]) for j in others])
        assert values["floor"][i] == pytest.approx(floor, abs=1e-5)
    # these human maps are their drawings plus noise: the ink baseline aligns far above random
    # (random maps share only the blur's darker border with them)
    assert np.mean(values["ink"]) > max(0.4, np.mean(values["random"]) + 0.1)
    reliability = np.full(len(human), 0.81)
    summary = summarise_baselines(values, reliability, n_boot=100, seed=0)
    assert set(summary) == {"center_bias", "ink", "random", "floor"}
    assert summary["ink"]["spearman"]["lo"] <= summary["ink"]["spearman"]["mean"] <= summary["ink"]["spearman"]["hi"]
    # the baselines are normalised by the noise ceiling like the machines: rho / sqrt(R) on means
    assert summary["ink"]["noise_normalised"]["normalised"] == pytest.approx(np.mean(values["ink"]) / 0.9)


def test_a_machine_map_gets_the_same_brush_disc_and_blur_as_a_human_map() -> None:
    """One brush point at a pixel centre vs a machine map that is that pixel: identical maps."""
    for radius, sigma in ((3.0, 1.5), (5.5, 0.0), (14.0, 7.7)):
        size = 64
        human = human_map([np.array([[20.5, 30.5]])], size, size, radius, sigma)
        delta = np.zeros((size, size))
        delta[30, 20] = 1.0
        machine = prepare_map(delta, size, size, sigma, radius)
        assert np.allclose(human, machine, atol=1e-6)
    # without the disc (the old geometry) the machine map is sharper than the human one
    assert metrics.area_fraction(prepare_map(delta, size, size, 7.7)) < metrics.area_fraction(human)


def test_the_brush_radius_comes_from_the_data_when_it_is_known(tmp_path: Path) -> None:
    clicks = pd.DataFrame({"stimulus": ["s"] * 3, "trial": ["r1", "r2", "r3"], "x": [1.0] * 3, "y": [1.0] * 3})
    radius, info = resolve_radius(clicks, 256, 256)
    assert radius == pytest.approx(14.0) and "legacy ClickMe" in info["source"]
    assert resolve_radius(clicks, 28, 28)[0] == pytest.approx(28 * LEGACY_CLICKME_FRACTION)
    rounds = tmp_path / "rounds.csv"
    pd.DataFrame({"round": ["r1", "r2", "r3", "other"],
                  "settings": [json.dumps({"brush_radius_px": 10.0}), json.dumps({"brush_radius_px": 12.0}),
                               json.dumps({"brush_fraction": 0.05, "width": 256, "height": 200}),
                               json.dumps({"brush_radius_px": 99.0})]}).to_csv(rounds, index=False)
    radius, info = resolve_radius(clicks, 256, 256, rounds_path=rounds)
    assert radius == pytest.approx(12.0) and info["min"] == 10.0 and info["max"] == pytest.approx(12.8)
    assert resolve_radius(clicks, 256, 256, radius=5.0, rounds_path=rounds) == (5.0, {"source": "--radius"})
    with pytest.raises(ClicksError, match="positive"):
        resolve_radius(clicks, 256, 256, radius=0.0)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ClicksError, match="round and settings"):
        resolve_radius(clicks, 256, 256, rounds_path=tmp_path / "bad.csv")


def test_reliability_and_compare_use_the_same_brush_radius(tmp_path: Path) -> None:
    """The ceiling `reliability` prints is the one `compare` divides by: same radius rule."""
    from analysis.compare import CompareOptions, compare
    from analysis.reliability import reliability_table
    from analysis.stimuli import load_stimuli

    examples = Path(__file__).resolve().parents[2] / "data" / "examples"
    stimuli = load_stimuli(examples / "stimuli")
    clicks = pd.read_csv(examples / "simulated_clicks.csv")
    clicks = clicks[clicks["stimulus"].isin(sorted(stimuli)[:3])]
    rounds = tmp_path / "rounds.csv"
    pd.DataFrame({"round": sorted(clicks["trial"].astype(str).unique()),
                  "settings": json.dumps({"brush_radius_px": 2.5})}).to_csv(rounds, index=False)
    for rounds_path, expected in ((None, 28 * LEGACY_CLICKME_FRACTION), (rounds, 2.5)):
        _, summary = reliability_table(clicks, 28, 28, n_splits=2, rounds_path=rounds_path)
        result = compare(clicks, stimuli, 28, 28, ("human",), CompareOptions.quick(), rounds_path=rounds_path)
        assert summary["radius_px"] == pytest.approx(expected) == result.summary["radius_px"]
        assert summary["radius"] == result.summary["radius"]
