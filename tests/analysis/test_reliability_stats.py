"""Reliability on synthetic observers with known agreement; statistics with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.reliability import reliability_table, spearman_brown, split_half
from analysis.simulate import simulate_clicks
from analysis.stats import bootstrap_ci, paired_test

STIMULI = {f"s{i}": img for i, img in enumerate(np.load("data/stimuli/quickdraw17_default.npz")["images"][::25][:6])}


def test_agreeing_observers_give_more_reliable_maps_than_idiosyncratic_ones():
    high = simulate_clicks(STIMULI, n_observers=12, agreement=0.95, seed=1)
    low = simulate_clicks(STIMULI, n_observers=12, agreement=0.0, seed=1)
    _, s_high = reliability_table(high, 28, 28, n_splits=10)
    _, s_low = reliability_table(low, 28, 28, n_splits=10)
    assert s_high["n_stimuli"] == s_low["n_stimuli"] == len(STIMULI)
    assert s_high["ceiling"] > s_low["ceiling"]
    assert s_high["leave_one_out"] > s_low["leave_one_out"]
    assert s_high["floor"] < s_high["ceiling"]


def test_split_half_is_deterministic_and_needs_enough_rounds():
    rng = np.random.default_rng(0)
    rounds = [rng.uniform(5, 20, (10, 2)) for _ in range(8)]
    assert split_half(rounds, 28, 28, 2.0, seed=4) == split_half(rounds, 28, 28, 2.0, seed=4)
    assert split_half(rounds[:3], 28, 28, 2.0) is None
    identical = [np.array([[10.0, 10.0], [12.0, 12.0]])] * 6
    assert split_half(identical, 28, 28, 2.0) == pytest.approx(1.0)


def test_spearman_brown():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(1.0) == 1.0 and spearman_brown(0.0) == 0.0


def test_bootstrap_ci_contains_the_mean_and_resamples_groups():
    rng = np.random.default_rng(0)
    values = rng.normal(5, 1, 200)
    ci = bootstrap_ci(values, seed=1)
    assert ci["lo"] < ci["mean"] < ci["hi"] and ci["hi"] - ci["lo"] < 0.5 and ci["n"] == 200
    groups = np.repeat(np.arange(10), 20)
    clustered = np.repeat(rng.normal(5, 3, 10), 20)  # 10 participants, 20 identical values each
    narrow = bootstrap_ci(clustered, seed=1)
    wide = bootstrap_ci(clustered, groups=groups, seed=1)
    assert (wide["hi"] - wide["lo"]) > 2 * (narrow["hi"] - narrow["lo"])
    assert bootstrap_ci([np.nan])["mean"] is None


def test_paired_test_direction_and_effect_sizes():
    rng = np.random.default_rng(0)
    human = rng.normal(1.0, 0.3, 40)
    machine = human + 1.0 + rng.normal(0, 0.2, 40)
    result = paired_test(human, machine)
    assert result["p"] < 1e-6 and result["rank_biserial"] == pytest.approx(-1.0)
    assert result["cohens_dz"] < -3 and result["n"] == 40
    same = paired_test(human, human)
    assert same["p"] is None and same["mean_difference"] == 0
