"""How reliable is a stimulus' human map? Split-half, leave-one-out ceiling, and a floor.

- **Split-half**: the stimulus' rounds are split at random into two halves; each half's map
  (footprints counted, blurred like `maps.human_map`) is compared with the other by Spearman's
  rho over pixels; the mean over many seeded splits is corrected to full length with the
  Spearman-Brown formula ``2r / (1 + r)``.
- **Leave-one-out ceiling**: each participant's (or, without participant ids, each round's) map
  against the map of everyone else; the mean rho says how well one observer predicts the crowd.
- **Floor**: half of one stimulus' rounds against half of *another* stimulus' rounds (same
  canvas), Spearman-Brown corrected like the split-half: the agreement expected from generic
  biases alone (e.g. centre preference), below which a map carries no stimulus-specific signal.

The summary's ``ceiling`` is the mean split-half reliability over stimuli (the best alignment
any model map can be expected to reach with these human maps) and ``floor`` the mean
cross-stimulus value.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from models import render

from .maps import blur_normalize, round_footprints, rounds_by_stimulus
from .metrics import spearman

DEFAULT_SPLITS = 50
MIN_ROUNDS = 4


def spearman_brown(r: float) -> float:
    """Reliability of the full-length map from the correlation of two halves."""
    return float(2 * r / (1 + r)) if r > -1 else float("nan")


def _half_maps(footprints: np.ndarray, order: np.ndarray, sigma: float | None) -> tuple[np.ndarray, np.ndarray]:
    half = len(order) // 2
    return (blur_normalize(footprints[order[:half]].sum(0), sigma),
            blur_normalize(footprints[order[half:2 * half]].sum(0), sigma))


def split_half_footprints(footprints: np.ndarray, n_splits: int = DEFAULT_SPLITS, seed: int = 0,
                          sigma: float | None = None) -> float:
    """Spearman-Brown corrected mean split-half rho of ``[R, H, W]`` round footprints."""
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(n_splits):
        a, b = _half_maps(footprints, rng.permutation(len(footprints)), sigma)
        rhos.append(spearman(a, b))
    return spearman_brown(float(np.nanmean(rhos)))


def split_half(points_per_round: Sequence[np.ndarray], width: int, height: int,
               radii: float | Sequence[float], n_splits: int = DEFAULT_SPLITS, seed: int = 0,
               sigma: float | None = None, min_rounds: int = MIN_ROUNDS) -> float | None:
    """Split-half reliability of one stimulus' map; None with fewer than ``min_rounds`` rounds."""
    if len(points_per_round) < max(2, min_rounds):
        return None
    footprints = round_footprints(points_per_round, width, height, radii).astype(np.float64)
    return split_half_footprints(footprints, n_splits, seed, sigma)


def leave_one_out(footprints: np.ndarray, groups: Sequence[str], sigma: float | None = None) -> float:
    """Mean rho between each group's map (participant or round) and the map of all other groups."""
    groups = np.asarray(groups)
    labels = np.unique(groups)
    if len(labels) < 2:
        return float("nan")
    total = footprints.sum(0)
    rhos = []
    for label in labels:
        own = footprints[groups == label].sum(0)
        rhos.append(spearman(blur_normalize(own, sigma), blur_normalize(total - own, sigma)))
    return float(np.nanmean(rhos))


def cross_stimulus_floor(footprints_by_stimulus: dict[str, np.ndarray], n_pairs: int = DEFAULT_SPLITS,
                         seed: int = 0, sigma: float | None = None) -> dict[str, float]:
    """Per stimulus: half of its rounds vs half of another stimulus' rounds (SB corrected)."""
    names = [n for n, f in footprints_by_stimulus.items() if len(f) >= 2]
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        others = [o for o in names if o != name and footprints_by_stimulus[o].shape[1:] == footprints_by_stimulus[name].shape[1:]]
        if not others:
            continue
        rhos = []
        for _ in range(n_pairs):
            mine = footprints_by_stimulus[name]
            other = footprints_by_stimulus[others[rng.integers(len(others))]]
            a, _ = _half_maps(mine, rng.permutation(len(mine)), sigma)
            b, _ = _half_maps(other, rng.permutation(len(other)), sigma)
            rhos.append(spearman(a, b))
        out[name] = spearman_brown(float(np.nanmean(rhos)))
    return out


def reliability_table(clicks: pd.DataFrame, width: int, height: int, radius: float | None = None,
                      n_splits: int = DEFAULT_SPLITS, seed: int = 0, sigma: float | None = None,
                      min_points_per_round: int = 1, min_rounds: int = MIN_ROUNDS) -> tuple[pd.DataFrame, dict]:
    """Per-stimulus reliability and the summary (``ceiling``, ``floor``, ``n_stimuli``, ...)."""
    radius = render.brush_radius_px(width, height) if radius is None else radius
    by_stim = rounds_by_stimulus(clicks, min_points_per_round, min_rounds)
    group_col = "participant" if "participant" in clicks.columns else "trial"
    owners = {}
    for (stim, trial), group in clicks.groupby(["stimulus", "trial"], sort=True):
        if len(group) >= min_points_per_round:
            owners.setdefault(str(stim), []).append(str(group[group_col].iloc[0]))
    footprints = {s: round_footprints(r, width, height, radius).astype(np.float64) for s, r in by_stim.items()}
    floors = cross_stimulus_floor(footprints, n_splits, seed, sigma)
    rows = []
    for i, (stim, fp) in enumerate(sorted(footprints.items())):
        rows.append({"stimulus": stim, "n_rounds": len(fp),
                     "n_points": int(sum(len(r) for r in by_stim[stim])),
                     "split_half": split_half_footprints(fp, n_splits, seed + i, sigma),
                     "leave_one_out": leave_one_out(fp, owners[stim], sigma),
                     "floor": floors.get(stim, float("nan"))})
    table = pd.DataFrame(rows, columns=["stimulus", "n_rounds", "n_points", "split_half", "leave_one_out", "floor"])

    def mean(col: str) -> float | None:
        value = float(np.nanmean(table[col])) if len(table) and table[col].notna().any() else None
        return None if value is None or np.isnan(value) else round(value, 4)

    summary = {"ceiling": mean("split_half"), "floor": mean("floor"), "leave_one_out": mean("leave_one_out"),
               "n_stimuli": int(len(table)), "n_rounds": int(table["n_rounds"].sum()) if len(table) else 0,
               "n_splits": n_splits, "seed": seed, "grouped_by": group_col,
               "canvas": [width, height], "radius_px": radius,
               "sigma_px": sigma if sigma is not None else round(0.03 * max(width, height), 4)}
    return table, summary
