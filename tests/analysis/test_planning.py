"""Spearman-Brown planning: known values, the inverse, and a pilot projection."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.planning import (pilot_projection, projected_ceiling, rounds_needed,
                               single_round_reliability)
from analysis.simulate import simulate_clicks
from analysis.maps import rounds_by_stimulus


def test_projected_ceiling_known_values():
    assert projected_ceiling(0.2, 4) == pytest.approx(0.5)
    assert projected_ceiling(0.2, 1) == pytest.approx(0.2)
    assert projected_ceiling(0.5, 2) == pytest.approx(2 / 3)  # the split-half correction 2r / (1 + r)
    assert projected_ceiling(0.0, 10) == 0.0 and projected_ceiling(1.0, 7) == 1.0
    assert np.isnan(projected_ceiling(0.2, 0)) and np.isnan(projected_ceiling(float("nan"), 3))


def test_single_round_reliability_inverts_the_projection():
    assert single_round_reliability(0.5, 4) == pytest.approx(0.2)
    for r in (0.05, 0.2, 0.6):
        for n in (2, 3, 10):
            assert single_round_reliability(projected_ceiling(r, n), n) == pytest.approx(r)


def test_rounds_needed_known_values():
    assert rounds_needed(0.5, 4, 0.8) == 16  # r = 0.2; 16 * 0.2 / (1 + 15 * 0.2) = 0.8 exactly
    assert rounds_needed(0.5, 4, 0.5) == 4
    assert rounds_needed(0.5, 4, 0.51) == 5
    assert rounds_needed(2 / 3, 2, 0.8) == 4  # r = 0.5: R(4) = 0.8
    assert rounds_needed(0.9, 10, 0.8) == 5  # more than enough already: fewer rounds would do
    assert rounds_needed(0.5, 4, 0.0) == 1


def test_rounds_needed_is_the_smallest_whole_number_reaching_the_target():
    for ceiling, n, target in [(0.3, 3, 0.8), (0.44, 5, 0.9), (0.1, 2, 0.7), (0.8, 20, 0.95)]:
        k = rounds_needed(ceiling, n, target)
        r = single_round_reliability(ceiling, n)
        assert projected_ceiling(r, k) >= target - 1e-12
        assert k == 1 or projected_ceiling(r, k - 1) < target


def test_rounds_needed_none_when_impossible():
    assert rounds_needed(0.5, 4, 1.0) is None and rounds_needed(0.5, 4, 1.2) is None
    assert rounds_needed(0.0, 4, 0.8) is None and rounds_needed(-0.1, 4, 0.8) is None
    assert rounds_needed(float("nan"), 4, 0.8) is None


STIMULI = {f"s{i}": img for i, img in enumerate(np.load("data/stimuli/quickdraw17_default.npz")["images"][::25][:8])}


def test_pilot_projection_matches_rounds_needed_and_needs_enough_drawings():
    clicks = simulate_clicks(STIMULI, n_observers=6, agreement=0.8, seed=3)
    rounds = rounds_by_stimulus(clicks, min_points_per_round=3)
    result = pilot_projection(rounds, 28, 28, 2.0, target=0.8, n_splits=10)
    assert result["status"] == "projected" and result["n_drawings"] == len(STIMULI)
    assert 0 < result["ceiling"] < 1
    assert result["rounds_needed"] == rounds_needed(result["ceiling"], result["mean_rounds"], 0.8)
    few = pilot_projection({k: rounds[k] for k in list(rounds)[:4]}, 28, 28, 2.0)
    assert few["status"] == "needs_pilot_data" and few["n_drawings"] == 4 and few["rounds_needed"] is None
    one_round = pilot_projection({k: rounds[k][:1] for k in rounds}, 28, 28, 2.0)
    assert one_round["status"] == "needs_pilot_data" and one_round["n_drawings"] == 0
    capped = pilot_projection(rounds, 28, 28, 2.0, max_drawings=5, n_splits=10)
    assert capped["n_drawings"] == 5 and capped["n_eligible"] == len(STIMULI)


def test_agreeing_observers_need_fewer_rounds():
    rounds_high = rounds_by_stimulus(simulate_clicks(STIMULI, n_observers=6, agreement=0.95, seed=1), 3)
    rounds_low = rounds_by_stimulus(simulate_clicks(STIMULI, n_observers=6, agreement=0.2, seed=1), 3)
    high = pilot_projection(rounds_high, 28, 28, 2.0, target=0.8, n_splits=10)
    low = pilot_projection(rounds_low, 28, 28, 2.0, target=0.8, n_splits=10)
    assert high["ceiling"] > low["ceiling"]
    if low["rounds_needed"] is not None:
        assert high["rounds_needed"] <= low["rounds_needed"]
