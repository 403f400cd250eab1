"""Alignment beyond the trivial: known answers for every statistic in `analysis.alignment`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from analysis import metrics
from analysis.alignment import (BEATS_TWIN, NO_SIGNAL, above_floor, alignment_table, ink_conditional_rho,
                                paired_gap, partial_rho, raw_rho, region_cells)

SIZE = 128  # pooled 2x2 onto the 64-cell rank grid, so the grid convention is exercised


def _blur(m: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    return ndimage.gaussian_filter(np.asarray(m, np.float64), sigma)


def _stimulus(seed: int) -> dict[str, np.ndarray]:
    """A drawing (random strokes), its ink map, the dilated region, a centre map, a stimulus-specific
    signal on part of the ink, and a human map = ink + centre + signal + noise."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((SIZE, SIZE), bool)
    for _ in range(4):  # four strokes
        x0, y0, x1, y1 = rng.uniform(20, SIZE - 20, 4)
        t = np.linspace(0, 1, 200)
        ink[np.round(y0 + t * (y1 - y0)).astype(int), np.round(x0 + t * (x1 - x0)).astype(int)] = True
    region = ndimage.binary_dilation(ink, iterations=6)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    centre = np.exp(-((yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2) / (2 * (SIZE / 4) ** 2))
    ink_map = _blur(ink)
    spots = np.zeros((SIZE, SIZE))
    on_ink = np.argwhere(ink)
    for y, x in on_ink[rng.choice(len(on_ink), 3, replace=False)]:
        spots[y, x] = 1.0
    signal = _blur(spots, 6.0)
    unit = [m / m.max() for m in (ink_map, centre, signal)]
    human = unit[0] + 0.5 * unit[1] + unit[2] + 0.05 * rng.random((SIZE, SIZE))
    return {"ink": ink, "region": region, "ink_map": unit[0], "centre": unit[1], "signal": unit[2],
            "human": human}


S = _stimulus(0)
CONTROLS = [S["ink_map"], S["centre"]]


def test_raw_rho_is_the_package_spearman():
    m = S["human"] + S["ink_map"]
    assert raw_rho(S["human"], m) == metrics.spearman(S["human"], m)
    assert raw_rho(S["human"], S["human"]) == pytest.approx(1.0)


def test_planted_map_human_plus_ink_scores_high_ink_conditional_and_partial_rho():
    planted = S["human"] + S["ink_map"]
    assert ink_conditional_rho(S["human"], planted, S["region"]) > 0.8
    assert partial_rho(S["human"], planted, CONTROLS) > 0.6


def test_pure_ink_has_nothing_beyond_ink():
    # the ink map itself (at any scale) is explained by the ink control entirely
    assert partial_rho(S["human"], S["ink_map"], CONTROLS) == 0.0
    assert partial_rho(S["human"], S["ink_map"] * 7, CONTROLS) == 0.0
    # a monotone transform is not exactly the control once pooled onto the grid, but nearly
    assert abs(partial_rho(S["human"], np.sqrt(S["ink_map"]), CONTROLS)) < 0.05
    # while the raw rho of pure ink is large: the trivial part this module takes out
    assert raw_rho(S["human"], S["ink_map"]) > 0.5


def test_random_map_scores_about_zero():
    rng = np.random.default_rng(5)
    noise = rng.random((SIZE, SIZE))
    assert abs(raw_rho(S["human"], noise)) < 0.08
    assert abs(ink_conditional_rho(S["human"], noise, S["region"])) < 0.15
    assert abs(partial_rho(S["human"], noise, CONTROLS)) < 0.08


def test_signal_alone_is_found_beyond_ink_and_centre():
    # a machine that knows only the stimulus-specific spots: little raw advantage over ink, but partial > ink's 0
    assert partial_rho(S["human"], S["signal"], CONTROLS) > 0.3


def test_partial_rho_matches_an_independent_precision_matrix_computation():
    rng = np.random.default_rng(3)
    machine = S["signal"] + 0.7 * S["ink_map"] + 0.3 * rng.random((SIZE, SIZE))
    cells = pd.DataFrame({name: metrics.on_grid(m).ravel() for name, m in
                          [("h", S["human"]), ("m", machine), ("ink", S["ink_map"]), ("c", S["centre"])]})
    precision = np.linalg.inv(cells.rank().corr().to_numpy())  # Spearman partial via the inverse correlation
    expected = -precision[0, 1] / np.sqrt(precision[0, 0] * precision[1, 1])
    assert partial_rho(S["human"], machine, CONTROLS) == pytest.approx(expected, abs=1e-4)


def test_ink_conditional_rho_uses_only_region_cells_on_the_grid():
    # outside the region the machine is the reverse of the human map: a region rho ignores it
    machine = np.where(S["region"], S["human"], -S["human"])
    assert ink_conditional_rho(S["human"], machine, S["region"]) == pytest.approx(1.0, abs=0.05)
    assert raw_rho(S["human"], machine) < 0.5
    # a cell is in the region when at least half of its 2x2 pixels are
    region = np.zeros((SIZE, SIZE), bool)
    region[0, 0:2] = True  # cell (0, 0): 2 of 4 pixels -> in
    region[0, 2] = True  # cell (0, 1): 1 of 4 -> out
    cells = region_cells(region).reshape(64, 64)
    assert cells[0, 0] and not cells[0, 1] and cells.sum() == 1
    assert np.isnan(ink_conditional_rho(S["human"], S["human"], region))  # fewer than 3 cells


def test_above_floor_is_0_at_the_floor_and_1_at_the_ceiling():
    assert above_floor(0.24, 0.24, 0.44) == 0.0
    assert above_floor(0.44, 0.24, 0.44) == pytest.approx(1.0)
    assert above_floor(0.34, 0.24, 0.44) == pytest.approx(0.5)
    assert np.isnan(above_floor(0.3, 0.5, 0.5)) and np.isnan(above_floor(0.3, 0.6, 0.5))
    assert np.isnan(above_floor(0.3, float("nan"), 0.5)) and np.isnan(above_floor(float("nan"), 0.1, 0.5))
    np.testing.assert_allclose(above_floor(np.array([0.1, 0.5]), 0.1, 0.5), [0.0, 1.0])


def test_paired_gap_recovers_a_planted_shift():
    rng = np.random.default_rng(1)
    b = rng.normal(0.4, 0.1, 120)
    a = b + 0.05 + rng.normal(0, 0.02, 120)
    cats = np.repeat([f"c{i}" for i in range(24)], 5)
    gap = paired_gap(a, b, cats)
    assert gap["estimate"] == pytest.approx(0.05, abs=0.01)
    for ci in (gap["ci_stimulus"], gap["ci_category"]):
        assert ci[0] < 0.05 < ci[1] and ci[0] > 0
    assert gap["p"] < 1e-10 and gap["n_stimuli"] == 120 and gap["n_categories"] == 24


def test_paired_gap_pairs_by_stimulus_and_drops_undefined_ones():
    a = {"s1": 0.5, "s2": 0.6, "s3": float("nan"), "s4": 0.9}
    b = {"s1": 0.4, "s2": 0.4, "s3": 0.1, "s5": 0.0}
    cats = {"s1": "x", "s2": "y", "s3": "x", "s4": "y", "s5": "x"}
    gap = paired_gap(a, b, cats, n_boot=200)
    assert gap["n_stimuli"] == 2 and gap["n_categories"] == 2
    assert gap["estimate"] == pytest.approx(0.15)


def test_category_ci_is_wider_when_stimuli_within_a_category_are_correlated():
    rng = np.random.default_rng(2)
    cats = np.repeat([f"c{i}" for i in range(10)], 10)
    shared = np.repeat(rng.normal(0, 0.1, 10), 10)  # each category's stimuli move together
    b = rng.normal(0.4, 0.05, 100)
    a = b + 0.02 + shared + rng.normal(0, 0.01, 100)
    gap = paired_gap(a, b, cats)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(gap["ci_category"]) > 2 * width(gap["ci_stimulus"])


def test_identical_sources_give_zero_gap_and_p_one():
    v = np.linspace(0.1, 0.9, 30)
    gap = paired_gap(v, v.copy(), ["a", "b", "c"] * 10)
    assert gap["estimate"] == 0.0 and gap["p"] == pytest.approx(1.0)
    assert gap["ci_stimulus"] == [0.0, 0.0] and gap["ci_category"] == [0.0, 0.0]


def _table(machine_of, twin_of, n_cats: int = 6, per_cat: int = 3, n_boot: int = 300):
    human, regions, controls, cats = {}, {}, {}, {}
    sources: dict[str, dict[str, np.ndarray]] = {"net": {}, "net_random": {}, "ink": {}, "center_bias": {}}
    for i in range(n_cats * per_cat):
        s, name = _stimulus(100 + i), f"s{i}"
        human[name], regions[name], controls[name] = s["human"], s["region"], [s["ink_map"], s["centre"]]
        cats[name] = f"c{i // per_cat}"
        rng = np.random.default_rng(i)
        sources["net"][name] = machine_of(s, rng)
        sources["net_random"][name] = twin_of(s, rng)
        sources["ink"][name], sources["center_bias"][name] = s["ink_map"], s["centre"]
    return alignment_table(human, sources, regions, controls, cats, floor=0.2, ceiling=0.6, n_boot=n_boot, seed=0)


def test_table_verdict_is_no_signal_when_machine_equals_twin():
    same = lambda s, rng: s["ink_map"] + 0.2 * s["centre"]  # noqa: E731
    table = _table(same, same)
    assert table["roles"] == {"machines": ["net"], "twins": {"net": "net_random"}, "baselines": ["ink", "center_bias"]}
    assert table["verdicts"]["net"]["verdict"] == NO_SIGNAL
    gap = table["gaps"]["net - net_random"]["ways"]["partial"]
    assert gap["estimate"] == 0.0 and gap["p"] == pytest.approx(1.0)


def test_table_machine_with_planted_signal_beats_its_twin_and_the_baselines():
    table = _table(lambda s, rng: s["human"] + s["ink_map"],
                   lambda s, rng: s["ink_map"] + 0.3 * rng.random(s["ink_map"].shape))
    assert table["verdicts"]["net"]["verdict"] == BEATS_TWIN
    src = table["sources"]
    assert src["net"]["partial"]["mean"] > 0.5 and abs(src["ink"]["partial"]["mean"]) < 1e-12
    assert src["net"]["raw"]["n"] == 18 and src["net"]["raw"]["n_categories"] == 6
    lo, hi = src["net"]["raw"]["ci_category"]
    assert lo <= src["net"]["raw"]["mean"] <= hi
    # above-floor is the raw rho rescaled by the floor and ceiling the table was given
    assert src["net"]["above_floor"]["mean"] == pytest.approx((src["net"]["raw"]["mean"] - 0.2) / 0.4)
    for base in ("ink", "center_bias"):
        gap = table["gaps"][f"net - {base}"]
        assert gap["kind"] == "baseline" and gap["ways"]["partial"]["ci_category"][0] > 0
        assert gap["ways"]["partial"]["n_stimuli"] == 18
    assert set(table["per_stimulus"]["net"]["raw"]) == {f"s{i}" for i in range(18)}


def test_table_ink_like_machine_has_no_signal_even_with_a_high_raw_rho():
    # a "model" whose map is ink plus noise: high raw rho, nothing beyond ink, no better than an ink twin
    table = _table(lambda s, rng: s["ink_map"] + 0.05 * rng.random(s["ink_map"].shape),
                   lambda s, rng: s["ink_map"] + 0.05 * rng.random(s["ink_map"].shape))
    assert table["sources"]["net"]["raw"]["mean"] > 0.4
    assert table["verdicts"]["net"]["verdict"] == NO_SIGNAL
