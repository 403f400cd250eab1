"""Statistics for per-stimulus comparisons: bootstrap CIs and paired tests with effect sizes.

- `bootstrap_ci`: mean with a percentile bootstrap CI, resampling stimuli, or resampling whole
  groups (e.g. participants) when ``groups`` is given so correlated values move together.
- `paired_test`: Wilcoxon signed-rank test of human vs machine values on the same stimuli, with
  the matched-pairs rank-biserial correlation and Cohen's d_z as effect sizes.
- `holm`: Holm's step-down adjustment of a family of p values (controls the family-wise error).
- `noise_normalised`: the standard noise-ceiling normalisation of an alignment, on means.
- `jackknife_interval`: a t interval from delete-a-group jackknife values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

N_BOOT = 2000


def bootstrap_ci(values: Sequence[float], groups: Sequence[str] | None = None, n_boot: int = N_BOOT,
                 level: float = 0.95, seed: int = 0) -> dict[str, float | int | None]:
    """``{"mean", "lo", "hi", "n"}``; resamples values, or whole groups of values."""
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v)
    v = v[keep]
    if v.size == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, v.size, size=(n_boot, v.size))
        boots = v[idx].mean(axis=1)
    else:
        g = np.asarray(groups)[keep]
        labels, inverse = np.unique(g, return_inverse=True)
        sums = np.bincount(inverse, weights=v, minlength=len(labels))
        counts = np.bincount(inverse, minlength=len(labels))
        pick = rng.integers(0, len(labels), size=(n_boot, len(labels)))
        boots = sums[pick].sum(1) / counts[pick].sum(1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return {"mean": float(v.mean()), "lo": float(lo), "hi": float(hi), "n": int(v.size)}


def paired_test(human: Sequence[float], machine: Sequence[float]) -> dict[str, float | int | None]:
    """Wilcoxon signed-rank test on paired values, with rank-biserial r and Cohen's d_z."""
    a, b = np.asarray(human, np.float64), np.asarray(machine, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    diff = a[ok] - b[ok]
    n = int(diff.size)
    result: dict[str, float | int | None] = {"n": n, "statistic": None, "p": None,
                                             "rank_biserial": None, "cohens_dz": None,
                                             "mean_difference": float(diff.mean()) if n else None}
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return result
    test = stats.wilcoxon(diff[diff != 0])
    ranks = stats.rankdata(np.abs(nonzero))
    positive, negative = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    result.update(statistic=float(test.statistic), p=float(test.pvalue),
                  rank_biserial=float((positive - negative) / ranks.sum()))
    sd = diff.std(ddof=1) if n > 1 else 0.0
    result["cohens_dz"] = float(diff.mean() / sd) if sd > 0 else None
    return result


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p values (None stays None): the k-th smallest of m is multiplied by m - k + 1,
    then made monotone. Controls the chance of any false positive among the family's tests."""
    indexed = [(p, i) for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (len(indexed) - k) * p))
        out[i] = running
    return out


def noise_normalised(rho: Sequence[float], reliability: Sequence[float], groups: Sequence[str] | None = None,
                     n_boot: int = N_BOOT, level: float = 0.95, seed: int = 0) -> dict[str, float | int | None]:
    """Alignment relative to the noise ceiling: ``mean(rho) / sqrt(mean(R))``.

    ``rho``: per stimulus, the model map's correlation with the human map; ``R``: the human map's
    Spearman-Brown corrected split-half reliability. The human map is a noisy estimate of the true
    map; its correlation with the truth is at most sqrt(R), so a model equal to the true map scores
    sqrt(R) on average and 1 after the division. Ratios are formed on means — per-stimulus ratios
    explode where R is small or negative. CI: percentile bootstrap over stimuli, or over whole
    groups (categories) when ``groups`` is given. None when mean R is not positive.
    """
    r, rel = np.asarray(rho, np.float64), np.asarray(reliability, np.float64)
    keep = np.isfinite(r) & np.isfinite(rel)
    r, rel = r[keep], rel[keep]
    result: dict[str, float | int | None] = {"mean_rho": float(r.mean()) if r.size else None,
                                             "mean_reliability": float(rel.mean()) if rel.size else None,
                                             "normalised": None, "lo": None, "hi": None, "n": int(r.size)}
    if r.size == 0 or rel.mean() <= 0:
        return result
    rng = np.random.default_rng(seed)
    if groups is None:
        pick = rng.integers(0, r.size, size=(n_boot, r.size))
        num, den = r[pick].mean(1), rel[pick].mean(1)
    else:
        labels, inverse = np.unique(np.asarray(groups)[keep], return_inverse=True)
        sums_r = np.bincount(inverse, weights=r, minlength=len(labels))
        sums_rel = np.bincount(inverse, weights=rel, minlength=len(labels))
        counts = np.bincount(inverse, minlength=len(labels))
        pick = rng.integers(0, len(labels), size=(n_boot, len(labels)))
        num, den = sums_r[pick].sum(1) / counts[pick].sum(1), sums_rel[pick].sum(1) / counts[pick].sum(1)
    with np.errstate(invalid="ignore"):
        boots = num / np.sqrt(den)
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(boots, [alpha, 1 - alpha])
    result.update(normalised=float(r.mean() / np.sqrt(rel.mean())), lo=float(lo), hi=float(hi))
    return result


def jackknife_interval(estimate: float, leave_outs: Sequence[float], level: float = 0.95) -> dict[str, float | None]:
    """``{"estimate", "lo", "hi", "se"}``: estimate +/- t(G-1) x the delete-a-group jackknife SE.

    Used for participants: a bootstrap with replacement repeats participants, which makes rebuilt
    maps sparser and shifts every map statistic (intervals then miss their own estimate); removing
    a group of participants changes nothing else, and the interval is centred on the estimate.
    """
    v = np.asarray(leave_outs, np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or not np.isfinite(estimate):
        return {"estimate": float(estimate), "lo": None, "hi": None, "se": None}
    se = float(np.sqrt((v.size - 1) / v.size * ((v - v.mean()) ** 2).sum()))
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * se
    return {"estimate": float(estimate), "lo": float(estimate - half), "hi": float(estimate + half), "se": se}
