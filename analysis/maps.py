"""Human importance maps: brush footprints per round, summed per stimulus, blurred, normalised.

A round's *footprint* is the set of pixels its brush points revealed: with this repository's
game, a disc (`round_footprints`, `models.render.brush_mask`: pixel centres within the brush
radius of any point); with the original ClickMe game, a square (`square_footprints`: pixel
centres within half the side of the point on both axes). This module is the one place that
turns brush points into revealed pixels; `analysis.brush.Brush` picks the shape. A stimulus' raw map counts, per pixel, how
many rounds revealed it, so a player who scrubs one spot for long weighs no more than one who
passed over it once. The raw map is then blurred with a Gaussian (`sigma` defaults to
`DEFAULT_BLUR_FRACTION` of the canvas' longer side, truncated at 3 sigma) and normalised to sum
to 1. `prepare_map` gives machine maps the same geometry (the brush disc, then the same blur),
so every source is compared on equal terms.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage, signal

from models import render

#: Gaussian blur sigma as a fraction of the canvas' longer side (0.84 px on 28x28, 7.7 px on 256)
DEFAULT_BLUR_FRACTION = 0.03
#: the kernel is cut at this many sigmas
BLUR_TRUNCATE = 3.0
#: points per vectorised chunk: bounds memory at about chunk * (2r+3) pixel runs
CHUNK = 100_000


def default_sigma(width: int, height: int) -> float:
    return DEFAULT_BLUR_FRACTION * max(width, height)


def round_footprints(points_per_round: Sequence[np.ndarray], width: int, height: int,
                     radii: float | Sequence[float]) -> np.ndarray:
    """Boolean ``[R, H, W]``: the footprint of each round.

    The same pixel runs as `count_map` (`_row_spans`), marked per round in a difference array,
    so footprints and counts share one implementation of the brush rule.
    """
    n_rounds = len(points_per_round)
    diff = np.zeros(n_rounds * height * (width + 1), dtype=np.int32)
    pts, rid, rad = _flatten(points_per_round, radii)
    for first in range(0, len(pts), CHUNK):
        part = slice(first, first + CHUNK)
        owner, rows, lo, hi = _row_spans(pts[part], rid[part], rad[part], width, height)
        line = (owner * height + rows) * (width + 1)
        np.add.at(diff, line + lo, 1)
        np.add.at(diff, line + hi + 1, -1)
    covered = np.cumsum(diff.reshape(n_rounds, height, width + 1), axis=2, dtype=np.int32)[:, :, :width]
    return covered > 0


def square_footprints(points_per_round: Sequence[np.ndarray], width: int, height: int,
                      side: float) -> np.ndarray:
    """Boolean ``[R, H, W]``: the footprint of each round with a ``side`` x ``side`` square brush.

    A point ``(x, y)`` reveals the pixels whose centres lie within ``side / 2`` of it on both
    axes: columns ``ceil(x - side/2 - 0.5) .. floor(x + side/2 - 0.5)``, rows likewise, clipped
    to the canvas (the original ClickMe game's reveal, ``reveal_size`` px). Each point's
    rectangle is marked in a 2-D difference array per round, so overlapping points of one round
    still reveal a pixel once.
    """
    n_rounds = len(points_per_round)
    pts, rid, _ = _flatten(points_per_round, 0.0)
    half = float(side) / 2
    c0 = np.maximum(np.ceil(pts[:, 0] - half - 0.5), 0).astype(np.int64)
    c1 = np.minimum(np.floor(pts[:, 0] + half - 0.5), width - 1).astype(np.int64)
    r0 = np.maximum(np.ceil(pts[:, 1] - half - 0.5), 0).astype(np.int64)
    r1 = np.minimum(np.floor(pts[:, 1] + half - 0.5), height - 1).astype(np.int64)
    ok = (c0 <= c1) & (r0 <= r1)
    rid, c0, c1, r0, r1 = rid[ok], c0[ok], c1[ok], r0[ok], r1[ok]
    diff = np.zeros((n_rounds, height + 1, width + 1), dtype=np.int32)
    for rows, cols, sign in ((r0, c0, 1), (r0, c1 + 1, -1), (r1 + 1, c0, -1), (r1 + 1, c1 + 1, 1)):
        np.add.at(diff, (rid, rows, cols), sign)
    covered = np.cumsum(np.cumsum(diff, axis=1, dtype=np.int32), axis=2, dtype=np.int32)
    return covered[:, :height, :width] > 0


def _xy(points: np.ndarray) -> np.ndarray:
    """``[N, 2]`` x, y of a round's points (extra columns such as t_ms dropped)."""
    arr = np.asarray(points, dtype=np.float64)
    return np.zeros((0, 2)) if arr.size == 0 else np.atleast_2d(arr)[:, :2]


def _flatten(points_per_round: Sequence[np.ndarray], radii: float | Sequence[float]):
    arrays = [_xy(p) for p in points_per_round]
    counts = np.array([len(a) for a in arrays], dtype=np.int64)
    rid = np.repeat(np.arange(len(arrays)), counts)
    per_round = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(arrays),))
    pts = np.concatenate(arrays) if arrays else np.zeros((0, 2))
    return pts, rid, per_round[rid]


def _row_spans(pts: np.ndarray, rid: np.ndarray, radii: np.ndarray, width: int, height: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(round, row, first col, last col)`` of every pixel run each point's disc covers.

    The same rule as `render.brush_mask`, solved per row: ``|col + 0.5 - x| <= sqrt(r^2 - dy^2)``.
    The square root's rounding is then corrected by testing the run ends with the exact rule.
    """
    k = 2 * int(np.ceil(radii.max())) + 3
    offsets = np.arange(k) - k // 2
    x, y, r = pts[:, 0, None], pts[:, 1, None], radii[:, None]
    rows = np.floor(y).astype(np.int64) + offsets[None, :]
    dy2 = (rows + 0.5 - y) ** 2
    ok = (dy2 <= r * r) & (rows >= 0) & (rows < height)
    half = np.sqrt(np.clip(r * r - dy2, 0.0, None))
    lo = np.ceil(x - half - 0.5).astype(np.int64)
    hi = np.floor(x + half - 0.5).astype(np.int64)

    def inside(col: np.ndarray) -> np.ndarray:
        return (col + 0.5 - x) ** 2 + dy2 <= r * r

    lo += ~inside(lo)  # rounding put the end one pixel too far out
    lo -= inside(lo - 1)  # ... or one pixel too far in
    hi -= ~inside(hi)
    hi += inside(hi + 1)
    lo, hi = np.maximum(lo, 0), np.minimum(hi, width - 1)
    ok &= lo <= hi
    owner = np.broadcast_to(rid[:, None], ok.shape)
    return owner[ok], rows[ok], lo[ok], hi[ok]


def _count_spans(owner: np.ndarray, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 width: int, height: int) -> np.ndarray:
    """``[H, W]`` counts: per round and row, the union of its runs adds one to each pixel."""
    if len(owner) == 0:
        return np.zeros((height, width), dtype=np.int64)
    stride = width + 2
    group = owner * height + rows
    start = group * stride + lo  # runs of different rows/rounds can never overlap
    order = np.argsort(start)
    start, end = start[order], group[order] * stride + hi[order]
    reach = np.maximum.accumulate(end)
    new = np.ones(len(start), dtype=bool)
    new[1:] = start[1:] > reach[:-1]  # a run starts a merged span unless it overlaps the last
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(start) - 1)
    row_of = rows[order][first]
    diff = np.bincount(row_of * (width + 1) + lo[order][first], minlength=height * (width + 1))
    diff = diff - np.bincount(row_of * (width + 1) + (reach[last] % stride) + 1, minlength=height * (width + 1))
    return np.cumsum(diff.reshape(height, width + 1), axis=1)[:, :width]


def count_map(points_per_round: Sequence[np.ndarray], width: int, height: int,
              radii: float | Sequence[float]) -> np.ndarray:
    """float64 ``[H, W]``: in how many rounds each pixel was revealed.

    Each point's disc becomes one pixel run per row; a round's overlapping runs are merged (so a
    pixel counts once per round) and added with a difference array. Work grows with points x
    radius rather than points x radius^2, and rounds are processed in blocks of about `CHUNK`
    points, so a million points take seconds in bounded memory at any canvas size.
    """
    counts = np.zeros((height, width), dtype=np.int64)
    pts, rid, rad = _flatten(points_per_round, radii)
    if len(pts) == 0:
        return counts.astype(np.float64)
    # block boundaries fall between rounds, so each round is merged within one block
    bounds = np.searchsorted(rid, np.arange(0, len(points_per_round), dtype=np.int64), side="left")
    first = 0
    while first < len(pts):
        stop = min(len(pts), first + CHUNK)
        if stop < len(pts):
            cut = bounds[np.searchsorted(bounds, stop, side="right") - 1]
            stop = cut if cut > first else np.searchsorted(rid, rid[stop], side="right")
        counts += _count_spans(*_row_spans(pts[first:stop], rid[first:stop], rad[first:stop], width, height),
                               width, height)
        first = stop
    return counts.astype(np.float64)


def blur_normalize(raw: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur (sigma in pixels; 0 = none) then normalise to sum 1 (all zeros stays zeros)."""
    height, width = raw.shape
    sigma = default_sigma(width, height) if sigma is None else sigma
    smooth = ndimage.gaussian_filter(np.asarray(raw, dtype=np.float64), sigma, truncate=BLUR_TRUNCATE,
                                     mode="constant") if sigma > 0 else np.asarray(raw, np.float64)
    smooth = np.clip(smooth, 0.0, None)
    total = smooth.sum()
    return (smooth / total if total > 0 else smooth).astype(np.float32)


def human_map(points_per_round: Sequence[np.ndarray], width: int, height: int,
              radii: float | Sequence[float], sigma: float | None = None) -> np.ndarray:
    """float32 ``[H, W]`` map summing to 1: rounds' footprints counted, blurred, normalised."""
    return blur_normalize(count_map(points_per_round, width, height, radii), sigma)


def resize_map(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a (machine) map to the canvas with bilinear interpolation, keeping it non-negative."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape == (height, width):
        return raw
    zoom = (height / raw.shape[0], width / raw.shape[1])
    return np.clip(ndimage.zoom(raw, zoom, order=1, grid_mode=True, mode="nearest"), 0.0, None)


def brush_kernel(radius: float) -> np.ndarray:
    """0/1 ``[2k+1, 2k+1]`` disc: the pixels one brush point at a pixel centre reveals
    (`render.brush_mask`'s rule, ``dx**2 + dy**2 <= radius**2``)."""
    k = int(np.floor(radius))
    d = np.arange(-k, k + 1, dtype=np.float64)
    return (d[:, None] ** 2 + d[None, :] ** 2 <= radius * radius).astype(np.float64)


def square_kernel(side: int) -> np.ndarray:
    """0/1 ``[side, side]``: the pixels one square-brush point at a pixel centre reveals."""
    return np.ones((int(side), int(side)), dtype=np.float64)


def prepare_map(raw: np.ndarray, width: int, height: int, sigma: float | None = None,
                radius: float | None = None, kernel: np.ndarray | None = None) -> np.ndarray:
    """Any map (e.g. an attribution at model resolution) on the canvas, with the human maps'
    geometry: magnitude, resized, spread by the brush disc, blurred and normalised.

    The magnitude is taken here (and only here) because a human map measures importance
    regardless of sign and a mass distribution cannot be negative. A human map is a density of
    brush points convolved with the brush disc (each point reveals a disc) and then blurred; so
    the machine map, read as a density of where a player should brush, is convolved with the
    same disc (``radius`` in canvas pixels; None or 0 skips it) before the same blur. The
    comparison is then symmetric: neither source is sharper merely by construction. ``kernel``
    (e.g. `square_kernel`, as `analysis.brush.Brush` passes it) replaces the disc by another
    brush's footprint.
    """
    smooth = resize_map(np.abs(raw), width, height)
    if kernel is None and radius:
        kernel = brush_kernel(radius)
    if kernel is not None:
        smooth = np.clip(signal.fftconvolve(smooth, kernel, mode="same"), 0.0, None)
    return blur_normalize(smooth, sigma)


def maps_from_clicks(clicks, width: int, height: int, radius: float | None = None,
                     min_points_per_round: int = 1, min_rounds_per_stimulus: int = 1,
                     sigma: float | None = None) -> dict[str, np.ndarray]:
    """Human map per stimulus from a clicks table (see `analysis.clicks.load_clicks`)."""
    radius = render.brush_radius_px(width, height) if radius is None else radius
    return {stim: human_map(rounds, width, height, radius, sigma)
            for stim, rounds in rounds_by_stimulus(clicks, min_points_per_round, min_rounds_per_stimulus).items()}


def rounds_by_stimulus(clicks, min_points_per_round: int = 1,
                       min_rounds_per_stimulus: int = 1) -> dict[str, list[np.ndarray]]:
    """``{stimulus: [points of each round]}`` after the filters, rounds in a stable order."""
    out: dict[str, list[np.ndarray]] = {}
    for (stim, _trial), group in clicks.groupby(["stimulus", "trial"], sort=True):
        if len(group) >= min_points_per_round:
            out.setdefault(str(stim), []).append(group[["x", "y"]].to_numpy(np.float64))
    return {s: r for s, r in out.items() if len(r) >= min_rounds_per_stimulus}
