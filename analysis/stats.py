"""Statistics for per-stimulus comparisons: bootstrap CIs and paired tests with effect sizes.

- `bootstrap_ci`: mean with a percentile bootstrap CI, resampling stimuli, or resampling whole
  groups (e.g. participants) when ``groups`` is given so correlated values move together.
- `paired_test`: Wilcoxon signed-rank test of human vs machine values on the same stimuli, with
  the matched-pairs rank-biserial correlation and Cohen's d_z as effect sizes.
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
