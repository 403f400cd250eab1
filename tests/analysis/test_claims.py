"""Claims from per-stimulus values: known answers for the estimate, the CI, p and the verdict."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.claims import evaluate_all, paired_claim, verdict


def test_a_constant_shift_is_estimated_exactly_and_holds_in_its_direction() -> None:
    b = np.arange(20, dtype=float)
    result = paired_claim(b - 1.0, b, "less")
    assert result["estimate"] == pytest.approx(-1.0) and result["ci"] == pytest.approx([-1.0, -1.0])
    assert result["holds"] and not result["reversed"] and result["n_stimuli"] == 20
    # 20 distinct differences, all negative: the exact two-sided Wilcoxon p is 2 / 2**20
    assert paired_claim(b - np.arange(1, 21), b, "less")["p"] == pytest.approx(2 / 2**20)
    opposite = paired_claim(b - 1.0, b, "greater")
    assert not opposite["holds"] and opposite["reversed"] and verdict(opposite) == "reversed"


def test_no_difference_does_not_hold_and_has_p_one() -> None:
    a = np.linspace(0, 1, 30)
    result = paired_claim(a, a.copy(), "less")
    assert result["estimate"] == 0 and result["p"] == 1.0 and not result["holds"] and verdict(result) == "not shown"


def test_ci_is_the_percentile_bootstrap_of_the_mean_difference() -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(size=200)
    a = b + 0.5 + rng.normal(size=200)
    result = paired_claim(a, b, "greater", n_boot=4000, seed=7)
    diff = a - b
    # an independent computation of the same bootstrap (same seed, same resampling scheme)
    idx = np.random.default_rng(7).integers(0, diff.size, size=(4000, diff.size))
    lo, hi = np.quantile(diff[idx].mean(1), [0.025, 0.975])
    assert result["ci"] == pytest.approx([lo, hi])
    # and it agrees with the t interval to within a few hundredths at n = 200
    half = stats.t.ppf(0.975, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size)
    assert result["ci"] == pytest.approx([diff.mean() - half, diff.mean() + half], abs=0.03)
    assert result["holds"] and result["p"] == pytest.approx(stats.wilcoxon(diff).pvalue)


def test_pure_noise_rarely_holds() -> None:
    rng = np.random.default_rng(0)
    held = sum(paired_claim(rng.normal(size=40), rng.normal(size=40), "less", n_boot=500, seed=s)["holds"]
               for s in range(200))
    assert held <= 20  # one-sided 2.5% nominal: about 5 of 200


def test_non_finite_pairs_are_dropped_and_counted() -> None:
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    b = np.array([0.0, 1.0, 1.0, np.inf, 4.0])
    result = paired_claim(a, b, "greater")
    assert result["n_stimuli"] == 3 and result["estimate"] == pytest.approx(1.0)


def test_category_ci_resamples_whole_categories() -> None:
    # two categories whose stimuli share one value each: the category CI spans both values
    diff = np.array([1.0] * 10 + [3.0] * 10)
    cats = ["a"] * 10 + ["b"] * 10
    result = paired_claim(diff, np.zeros(20), "greater", categories=cats, n_boot=2000, seed=1)
    assert result["ci_category"] == pytest.approx([1.0, 3.0]) and result["n_categories"] == 2
    assert result["ci"][0] > 1.0 and result["ci"][1] < 3.0


def test_a_bad_direction_or_length_is_an_error() -> None:
    with pytest.raises(ValueError, match="direction"):
        paired_claim([1.0], [0.0], "differs")
    with pytest.raises(ValueError, match="length"):
        paired_claim([1.0, 2.0], [0.0], "less")


def test_evaluate_all_reads_source_metric_columns_and_holm_adjusts() -> None:
    rng = np.random.default_rng(1)
    human = rng.normal(size=50)
    values = {"human.feature_count": human, "cfgdm.feature_count": human + 1.0 + 0.1 * rng.normal(size=50),
              "twin.feature_count": human + 1.0 + 0.1 * rng.normal(size=50)}
    specs = [{"name": "humans_fewer", "metric": "feature_count", "a": "human", "b": "cfgdm", "direction": "less"},
             {"name": "model_not_method", "metric": "feature_count", "a": "cfgdm", "b": "twin", "direction": "less"}]
    claims = evaluate_all(specs, values, None, 1000, 0)
    assert [c["name"] for c in claims] == ["humans_fewer", "model_not_method"]
    assert claims[0]["holds"] and not claims[1]["holds"]
    assert claims[0]["p_holm"] == pytest.approx(min(1.0, 2 * claims[0]["p"]))
    with pytest.raises(ValueError, match="no values"):
        evaluate_all([{**specs[0], "b": "classifier"}], values, None, 100, 0)
