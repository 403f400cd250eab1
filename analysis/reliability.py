"""How reliable is a stimulus' human map? Split-half, leave-one-out ceiling, and a floor.

- **Split-half**: the stimulus' rounds are split at random into two halves; each half's map
  (footprints counted, blurred like `maps.human_map`) is compared with the other by Spearman's
  rho (`metrics.spearman`, on the `metrics.RANK_GRID` grid); the mean over many seeded splits is
  corrected to full length with the Spearman-Brown formula ``2r / (1 + r)``.
- **Leave-one-out ceiling**: each participant's (or, without participant ids, each round's) map
  against the map of everyone else; the mean rho says how well one observer predicts the crowd.
- **Floor**: half of one stimulus' rounds against half of *another* stimulus' rounds (same
  canvas; the halves of the split-half splits, re-paired), Spearman-Brown corrected like the split-half: the agreement expected from generic
  biases alone (e.g. centre preference), below which a map carries no stimulus-specific signal.

Speed: blurring and pooling are linear, so each round's footprint is blurred and pooled onto the
rank grid once (`footprint_maps`, 16 kB a round); every half map is then a sum of rows, all splits
of a stimulus are one indexed sum, and their rank correlations one vectorised call.

The summary's ``ceiling`` is the mean split-half reliability over stimuli and ``floor`` the mean
cross-stimulus value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from .brush import Brush, resolve_radius
from .clicks import ClicksError
from .maps import BLUR_TRUNCATE, default_sigma, round_footprints, rounds_by_stimulus
from .metrics import RANK_GRID, on_grid, rank_correlation, spearman_rows, standard_ranks

DEFAULT_SPLITS = 50
MIN_ROUNDS = 4


def spearman_brown(r: float) -> float:
    """Reliability of the full-length map from the correlation of two halves."""
    return float(2 * r / (1 + r)) if r > -1 else float("nan")


def footprint_maps(footprints: np.ndarray, sigma: float | None = None, grid: int = RANK_GRID) -> np.ndarray:
    """``[R, cells]``: each round's footprint (boolean ``[R, H, W]``, any brush: `maps.round_footprints`,
    `maps.square_footprints`) blurred like a human map and pooled onto the rank grid. Any sum of
    rows is (up to scale) the pooled map of those rounds."""
    height, width = footprints.shape[1:]
    sigma = default_sigma(width, height) if sigma is None else sigma
    footprints = np.asarray(footprints, dtype=np.float64)
    if sigma > 0:  # blur each round on its own (axis 0 untouched)
        footprints = ndimage.gaussian_filter(footprints, (0, sigma, sigma), truncate=BLUR_TRUNCATE, mode="constant")
    return on_grid(footprints, grid).reshape(len(footprints), -1)


def round_maps(points_per_round: Sequence[np.ndarray], width: int, height: int, radii: float | Sequence[float],
               sigma: float | None = None, grid: int = RANK_GRID) -> np.ndarray:
    """`footprint_maps` of the disc brush's footprints (`maps.round_footprints`)."""
    return footprint_maps(round_footprints(points_per_round, width, height, radii), sigma, grid)


def _half_sums(maps: np.ndarray, permutations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed maps ``[splits, cells]`` of the first and second half of each permutation of the rounds
    (an odd round out is left out, so both halves have the same length)."""
    half = maps.shape[0] // 2
    return maps[permutations[:, :half]].sum(1), maps[permutations[:, half:2 * half]].sum(1)


def _split_ranks(maps: np.ndarray, n_splits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised ranks (`standard_ranks`) of both halves of ``n_splits`` seeded random splits."""
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(len(maps)) for _ in range(n_splits)])
    first, second = _half_sums(maps, perms)
    return standard_ranks(first), standard_ranks(second)


def split_half_maps(maps: np.ndarray, n_splits: int = DEFAULT_SPLITS, seed: int = 0) -> float:
    """Spearman-Brown corrected mean split-half rho of ``[R, cells]`` round maps."""
    first, second = _split_ranks(maps, n_splits, seed)
    return spearman_brown(float(np.nanmean(rank_correlation(first, second))))


def split_half(points_per_round: Sequence[np.ndarray], width: int, height: int,
               radii: float | Sequence[float], n_splits: int = DEFAULT_SPLITS, seed: int = 0,
               sigma: float | None = None, min_rounds: int = MIN_ROUNDS) -> float | None:
    """Split-half reliability of one stimulus' map; None with fewer than ``min_rounds`` rounds."""
    if len(points_per_round) < max(2, min_rounds):
        return None
    return split_half_maps(round_maps(points_per_round, width, height, radii, sigma), n_splits, seed)


def leave_one_out(maps: np.ndarray, groups: Sequence[str]) -> float:
    """Mean rho between each group's map (participant or round) and the map of all other groups."""
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    if len(labels) < 2:
        return float("nan")
    mine = np.zeros((len(labels), maps.shape[1]))
    np.add.at(mine, inverse, maps)
    return float(np.nanmean(spearman_rows(mine, maps.sum(0)[None] - mine)))


def cross_stimulus_floor(half_ranks: dict[str, np.ndarray], seed: int = 0) -> dict[str, float]:
    """Per stimulus: its split halves against random halves of other stimuli (SB corrected).

    ``half_ranks``: per stimulus, the standardised ranks ``[splits, cells]`` of the first half of
    each split-half split — random halves already ranked, so pairing them costs no new ranking.
    """
    names = [n for n, r in half_ranks.items() if len(r)]
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        mine = half_ranks[name]
        others = [o for o in names if o != name and half_ranks[o].shape[1] == mine.shape[1]]
        if not others:
            continue
        partners = np.stack([half_ranks[others[rng.integers(len(others))]][rng.integers(len(mine))]
                             for _ in range(len(mine))])
        out[name] = spearman_brown(float(np.nanmean(rank_correlation(mine, partners))))
    return out


def footprint_reliability(footprints: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
                          sigma: float | None = None, n_splits: int = DEFAULT_SPLITS, seed: int = 0,
                          owners: Mapping[str, Sequence[str]] | None = None, grid: int = RANK_GRID) -> pd.DataFrame:
    """Per stimulus: split-half reliability (Spearman-Brown corrected), the cross-stimulus floor and,
    given ``owners`` (per stimulus, each round's participant or round id), the leave-one-out rho.

    ``footprints``: per stimulus, its rounds' boolean footprints ``[R, H, W]`` of whatever brush
    made them (a mapping, taken in sorted order, or ``(name, footprints)`` pairs in the order
    given, e.g. a generator, so only one stimulus' footprints are in memory at a time). The
    ``i``-th stimulus is split with seed ``seed + i``. This is the one implementation of the
    procedure: `reliability_table` (disc brush) and `analysis.brush.Brush.reliability` (any
    brush) both call it. Columns: ``stimulus, n_rounds, split_half[, leave_one_out], floor``.
    """
    if isinstance(footprints, Mapping):
        footprints = ((name, footprints[name]) for name in sorted(footprints))
    rows, first_halves = [], {}
    for i, (stim, prints) in enumerate(footprints):
        m = footprint_maps(prints, sigma, grid)
        first, second = _split_ranks(m, n_splits, seed + i)
        first_halves[stim] = first.astype(np.float32)  # 16 kB per split, kept for the floor
        row = {"stimulus": stim, "n_rounds": len(m),
               "split_half": spearman_brown(float(np.nanmean(rank_correlation(first, second))))}
        if owners is not None:
            row["leave_one_out"] = leave_one_out(m, owners[stim])
        rows.append(row)
    floors = cross_stimulus_floor(first_halves, seed)
    columns = ["stimulus", "n_rounds", "split_half", *(["leave_one_out"] if owners is not None else [])]
    table = pd.DataFrame(rows, columns=columns)
    table["floor"] = [floors.get(s, float("nan")) for s in table["stimulus"]]
    return table


def reliability_table(clicks: pd.DataFrame, width: int, height: int, radius: float | None = None,
                      n_splits: int = DEFAULT_SPLITS, seed: int = 0, sigma: float | None = None,
                      min_points_per_round: int = 1, min_rounds: int = MIN_ROUNDS,
                      rounds_path: str | Path | None = None, brush: Brush | None = None
                      ) -> tuple[pd.DataFrame, dict]:
    """Per-stimulus reliability and the summary (``ceiling``, ``floor``, ``n_stimuli``, ...).

    The brush radius follows `analysis.brush` (``radius``, else the rounds.csv settings at
    ``rounds_path``, else the legacy ClickMe rule), as in `analysis.compare`, so the ceiling
    printed here is the one the comparison divides by. ``brush`` (e.g. the original game's
    square, `analysis.brush.LEGACY_CLICKME_SQUARE`) replaces that disc; ``radius_px`` then
    records its reach."""
    if brush is not None:
        if radius is not None:
            raise ClicksError("give either a brush or a radius, not both")
        radius, radius_info = brush.reach, {"source": f"brush {brush.shape}:{brush.size:g}"}
    else:
        radius, radius_info = resolve_radius(clicks, width, height, radius, rounds_path)
        brush = Brush("disc", radius)
    by_stim = rounds_by_stimulus(clicks, min_points_per_round, min_rounds)
    group_col = "participant" if "participant" in clicks.columns else "trial"
    owners: dict[str, list[str]] = {}
    for (stim, _trial), group in clicks.groupby(["stimulus", "trial"], sort=True):
        if len(group) >= min_points_per_round:
            owners.setdefault(str(stim), []).append(str(group[group_col].iloc[0]))
    prints = ((stim, brush.footprints(by_stim[stim], width, height)) for stim in sorted(by_stim))
    table = footprint_reliability(prints, sigma, n_splits, seed, owners)
    table.insert(2, "n_points", [int(sum(len(r) for r in by_stim[s])) for s in table["stimulus"]])

    def mean(col: str) -> float | None:
        value = float(np.nanmean(table[col])) if len(table) and table[col].notna().any() else None
        return None if value is None or np.isnan(value) else round(value, 4)

    summary = {"ceiling": mean("split_half"), "floor": mean("floor"), "leave_one_out": mean("leave_one_out"),
               "n_stimuli": int(len(table)), "n_rounds": int(table["n_rounds"].sum()) if len(table) else 0,
               "n_splits": n_splits, "seed": seed, "grouped_by": group_col,
               "canvas": [width, height], "radius_px": radius, "radius": radius_info,
               "brush": {"shape": brush.shape, "size": brush.size}, "rank_grid": RANK_GRID,
               "sigma_px": sigma if sigma is not None else round(default_sigma(width, height), 4)}
    return table, summary
