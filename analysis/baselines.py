"""Trivial baselines a machine map must beat before its alignment with humans means anything.

Per stimulus, each baseline's Spearman rho with the stimulus' human map:

- ``center_bias``: the mean human map of the stimuli of OTHER categories (all other stimuli when
  categories are unknown): where people brush on any drawing.
- ``ink``: the drawing's ink (`analysis.ink.ink_mask`, Otsu's threshold, so a JPEG's paper noise
  is not ink), with the machine maps' geometry (brush disc, blur): "people brush the ink".
- ``random``: uniform noise at the models' 28x28 resolution with the same geometry (seeded): the
  chance level of a map with that smoothness.
- ``floor``: the mean rho between this stimulus' human map and each human map of another
  category: the cross-stimulus floor, what generic biases alone give.

Machine maps carry stimulus-specific signal only where they beat all four.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import metrics
from .ink import ink_mask
from .stats import bootstrap_ci, noise_normalised

BASELINES = ("center_bias", "ink", "random", "floor")
DEFINITIONS = {
    "center_bias": "mean human map of the stimuli of other categories",
    "ink": "the drawing's ink (Otsu's threshold) with the machine maps' brush disc and blur",
    "random": "uniform noise at 28x28 with the machine maps' brush disc and blur (seeded)",
    "floor": "mean rho with the human maps of the stimuli of other categories (cross-stimulus floor)",
}


def _others(categories: Sequence[str | None]) -> np.ndarray:
    """Boolean ``[N, N]``: j counts as 'another category' for i (unknown categories: j != i)."""
    cats = np.asarray([c if c is not None else f"\0{i}" for i, c in enumerate(categories)], dtype=object)
    return cats[:, None] != cats[None, :]


def baseline_alignment(human: Sequence[np.ndarray], drawings: Sequence[np.ndarray],
                       categories: Sequence[str | None], prepare: Callable[[np.ndarray], np.ndarray],
                       seed: int = 0) -> dict[str, np.ndarray]:
    """``{baseline: rho per stimulus}`` for the stimuli in order (nan where undefined).

    ``human`` are the human maps (one canvas), ``drawings`` the 28x28 uint8 drawings and
    ``prepare`` puts a 28x28 map on the canvas with the machine maps' geometry.
    """
    h = np.stack(human).astype(np.float32)
    n = len(h)
    others = _others(categories)
    rng = np.random.default_rng(seed)
    out = {name: np.full(n, np.nan) for name in BASELINES}
    total = h.sum(0)
    ranks = metrics.standard_ranks(metrics.on_grid(h).reshape(n, -1))  # the grid every rho uses
    for i in range(n):
        keep = others[i]
        if keep.any():
            centre = (h[keep].sum(0) if keep.sum() < n / 2 else total - h[~keep].sum(0)) / keep.sum()
            out["center_bias"][i] = metrics.spearman(h[i], centre)
            out["floor"][i] = float(np.nanmean(ranks[keep] @ ranks[i]))
        out["ink"][i] = metrics.spearman(h[i], prepare(ink_mask(drawings[i]).astype(np.float64)))
        out["random"][i] = metrics.spearman(h[i], prepare(rng.random((28, 28))))
    return out


def summarise_baselines(values: dict[str, np.ndarray], reliability: Sequence[float], n_boot: int,
                        seed: int) -> dict[str, Any]:
    """``{baseline: {"definition", "spearman": mean with stimulus-bootstrap 95% CI,
    "noise_normalised": rho / sqrt(R) on means}}`` — the same normalisation as the machines',
    so a machine and a baseline are read on one scale."""
    return {name: {"definition": DEFINITIONS[name],
                   "spearman": bootstrap_ci(values[name], None, n_boot, seed=seed),
                   "noise_normalised": noise_normalised(values[name], reliability, None, n_boot, seed=seed)}
            for name in BASELINES}
