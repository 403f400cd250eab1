"""Metrics on importance maps: how many features, how localised, how aligned with humans.

All functions take non-negative maps ``[H, W]`` (any scale; they normalise internally).

- `feature_count`: connected components (8-connectivity) of the smallest pixel set carrying
  ``p`` of the map's mass, ignoring components smaller than ``min_area`` (default 0.2% of the
  canvas, at least 1 pixel) so single-pixel noise is not a "feature".
- Localisation: `area_fraction` (share of the canvas needed for ``p`` of the mass), `gini`
  (Hurley & Rickard sparseness: 0 uniform, ->1 a single pixel), `entropy` (Shannon, normalised
  by log(#pixels): 1 uniform, 0 a single pixel), `spread` (radius of gyration about the map's
  centroid, divided by the drawing ink's radius of gyration when the drawing is given).
- Alignment: `spearman` over pixels, `iou_auc` (mean IoU of the two maps' top-k% pixel sets,
  k = 1..100%), and `emd` (exact earth mover's distance between the two maps as 2-D mass
  distributions, via POT's exact network simplex on a grid of at most 32x32 cells, in units of
  the canvas diagonal).
"""

from __future__ import annotations

import numpy as np
import ot
from scipy import ndimage, stats

MIN_AREA_FRACTION = 0.002
EMD_GRID = 32


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.clip(np.asarray(m, dtype=np.float64), 0.0, None)
    total = m.sum()
    return m / total if total > 0 else m


def mass_mask(m: np.ndarray, p: float = 0.5) -> np.ndarray:
    """Boolean mask of the fewest pixels whose mass reaches ``p`` of the total (ties by order)."""
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    u = _unit(m).ravel()
    mask = np.zeros(u.size, dtype=bool)
    if u.sum() == 0:
        return mask.reshape(np.shape(m))
    order = np.argsort(-u, kind="stable")
    needed = int(np.searchsorted(np.cumsum(u[order]), p - 1e-12)) + 1
    mask[order[:needed]] = True
    return mask.reshape(np.shape(m))


def feature_count(m: np.ndarray, p: float = 0.5, min_area: int | None = None) -> int:
    """Number of separate features: components of the p-mass set at least ``min_area`` pixels."""
    mask = mass_mask(m, p)
    min_area = max(1, int(round(MIN_AREA_FRACTION * mask.size))) if min_area is None else min_area
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return 0
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= min_area).sum())


def area_fraction(m: np.ndarray, p: float = 0.5) -> float:
    return float(mass_mask(m, p).mean())


def gini(m: np.ndarray) -> float:
    """Gini sparseness (Hurley & Rickard 2009) of the map's values."""
    v = np.sort(np.clip(np.asarray(m, np.float64).ravel(), 0, None))
    n, total = v.size, v.sum()
    if total == 0:
        return 0.0
    k = np.arange(1, n + 1)
    return float(1 - 2 * np.sum((v / total) * ((n - k + 0.5) / n)))


def entropy(m: np.ndarray) -> float:
    u = _unit(m).ravel()
    nz = u[u > 0]
    if nz.size == 0 or u.size < 2:
        return 0.0
    return float(-(nz * np.log(nz)).sum() / np.log(u.size))


def _gyration(weights: np.ndarray) -> tuple[float, np.ndarray]:
    u = _unit(weights)
    rows, cols = np.indices(u.shape, dtype=np.float64)
    centre = np.array([(u * rows).sum(), (u * cols).sum()])
    r2 = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2
    return float(np.sqrt((u * r2).sum())), centre


def spread(m: np.ndarray, drawing: np.ndarray | None = None) -> float:
    """Radius of gyration of the map about its centroid; relative to the ink's when given."""
    radius, _ = _gyration(m)
    if drawing is None:
        return radius
    ink_radius, _ = _gyration(np.asarray(drawing, np.float64))
    return radius / ink_radius if ink_radius > 0 else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho between two maps over pixels (nan if either is constant)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError("maps differ in shape")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def iou_auc(a: np.ndarray, b: np.ndarray, steps: int = 100) -> float:
    """Mean IoU of the top-k% pixels of both maps, k = 1..100% (1 = identical rankings)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    order_a, order_b = np.argsort(-a, kind="stable"), np.argsort(-b, kind="stable")
    n = a.size
    ious = []
    for k in np.linspace(1.0 / steps, 1.0, steps):
        top = max(1, int(round(k * n)))
        sa = np.zeros(n, bool)
        sb = np.zeros(n, bool)
        sa[order_a[:top]] = True
        sb[order_b[:top]] = True
        ious.append((sa & sb).sum() / (sa | sb).sum())
    return float(np.mean(ious))


def _coarse(m: np.ndarray, grid: int) -> np.ndarray:
    """The map area-averaged so its longer side has at most ``grid`` cells."""
    from models.render import area_resize

    h, w = m.shape
    scale = min(1.0, grid / max(h, w))
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    return _unit(area_resize(np.asarray(m, np.float64)[None], out_h, out_w)[0])


def emd(a: np.ndarray, b: np.ndarray, grid: int = EMD_GRID) -> float:
    """Earth mover's distance between two maps as mass distributions, in canvas diagonals.

    Both maps are area-averaged to at most ``grid`` x ``grid`` cells (exact transport on the
    full grid of a 256-pixel canvas would be a 65k x 65k problem); cell centres are placed in
    the canvas' own coordinates with Euclidean ground distance, and POT's network simplex
    (`ot.emd2`) solves the transport problem exactly.
    """
    if np.shape(a) != np.shape(b):
        raise ValueError("maps differ in shape")
    h, w = np.shape(a)
    ca, cb = _coarse(a, grid), _coarse(b, grid)
    if ca.sum() == 0 or cb.sum() == 0:
        return float("nan")
    gh, gw = ca.shape
    rows, cols = np.indices((gh, gw), dtype=np.float64)
    coords = np.stack([(rows.ravel() + 0.5) * h / gh, (cols.ravel() + 0.5) * w / gw], axis=1)
    ia, ib = ca.ravel() > 0, cb.ravel() > 0
    cost = ot.dist(coords[ia], coords[ib], metric="euclidean")
    dist = ot.emd2(ca.ravel()[ia], cb.ravel()[ib], cost, numItermax=1_000_000)
    return max(0.0, float(dist / np.hypot(h, w)))
