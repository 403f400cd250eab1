"""A pre-registered claim, evaluated from per-stimulus values: paired difference, CI, p, verdict.

A claim compares one metric of two sources over the same stimuli, e.g. "the human maps have
fewer features than the CFGDM maps": per stimulus the difference ``a - b`` (human minus CFGDM
feature count), paired, so stimuli that are hard for both cancel. For each claim:

- ``estimate``: the mean paired difference over the stimuli where both values are finite;
- ``ci``: its percentile bootstrap 95% CI, resampling stimuli (`stats.bootstrap_ci`), and
  ``ci_category``: the same resampling whole categories (stimuli of a category are not
  independent), when categories are given;
- ``p``: the two-sided Wilcoxon signed-rank test of the differences (`stats.paired_test`); 1.0
  when every difference is 0; ``p_holm``: Holm-adjusted over the family of claims evaluated
  together (`evaluate_all`);
- ``holds``: the stimulus-bootstrap CI excludes 0 on the claimed side: ``hi < 0`` for direction
  ``less`` (a - b < 0), ``lo > 0`` for ``greater``. A CI that excludes 0 on the other side is a
  reversal (``reversed: true``), not a failure to detect;
- ``n_stimuli``: how many stimuli the number rests on.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from .stats import bootstrap_ci, holm, paired_test

DIRECTIONS = ("less", "greater")


def paired_claim(a: Sequence[float], b: Sequence[float], direction: str, categories: Sequence[str] | None = None,
                 n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """The verdict on "``a - b`` is < 0" (``less``) or "> 0" (``greater``), paired per stimulus."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)} (got {direction!r})")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length ({a.size} vs {b.size})")
    ok = np.isfinite(a) & np.isfinite(b)
    diff = a[ok] - b[ok]
    out: dict[str, Any] = {"estimate": None, "ci": [None, None], "ci_category": [None, None], "p": None,
                           "holds": False, "reversed": False, "n_stimuli": int(diff.size),
                           "n_categories": None, "mean_a": None, "mean_b": None, "direction": direction}
    if diff.size == 0:
        return out
    ci = bootstrap_ci(diff, None, n_boot, level, seed)
    test = paired_test(a[ok], b[ok])
    out.update(estimate=float(diff.mean()), ci=[ci["lo"], ci["hi"]], mean_a=float(a[ok].mean()),
               mean_b=float(b[ok].mean()), p=1.0 if test["p"] is None else float(test["p"]),
               rank_biserial=test["rank_biserial"])
    if categories is not None:
        groups = np.asarray(categories, dtype=object)[ok]
        by_category = bootstrap_ci(diff, [str(g) for g in groups], n_boot, level, seed)
        out.update(ci_category=[by_category["lo"], by_category["hi"]], n_categories=int(len(set(groups))))
    lo, hi = out["ci"]
    out["holds"] = bool(hi < 0) if direction == "less" else bool(lo > 0)
    out["reversed"] = bool(lo > 0) if direction == "less" else bool(hi < 0)
    return out


def evaluate_all(specs: Iterable[dict[str, Any]], values: dict[str, np.ndarray], categories: Sequence[str] | None,
                 n_boot: int, seed: int, level: float = 0.95) -> list[dict[str, Any]]:
    """Every claim of a plan, on ``values`` = ``{"<source>.<metric>": per-stimulus array}`` (all
    arrays over the same stimuli in the same order); p values Holm-adjusted over the claims.

    Each spec has ``name, metric, a, b, direction`` (see `analysis.plan`)."""
    out = []
    for spec in specs:
        a, b = f"{spec['a']}.{spec['metric']}", f"{spec['b']}.{spec['metric']}"
        missing = [k for k in (a, b) if k not in values]
        if missing:
            raise ValueError(f"claim {spec['name']}: no values for {', '.join(missing)}")
        result = paired_claim(values[a], values[b], spec["direction"], categories, n_boot, seed, level)
        out.append({"name": spec["name"], **result, "metric": spec["metric"], "a": spec["a"], "b": spec["b"],
                    "statement": spec.get("statement", "")})
    for claim, adjusted in zip(out, holm([c["p"] for c in out])):
        claim["p_holm"] = adjusted
    return out


def verdict(claim: dict[str, Any]) -> str:
    """One word for a table: holds / reversed / not shown."""
    return "holds" if claim["holds"] else "reversed" if claim.get("reversed") else "not shown"
