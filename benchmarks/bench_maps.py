"""Human maps from brush points: the vectorised path vs a per-round `render.brush_mask` loop.

Both produce the same per-round footprints (checked on the baseline's rounds); the baseline is
timed on a subset and reported as points per second, so the ratio compares like with like.
"""

from __future__ import annotations

import time

import numpy as np

from analysis.maps import count_map
from models import render


def _rounds(n_rounds: int, points_per_round: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    starts = rng.uniform(0, [width, height], size=(n_rounds, 1, 2))
    steps = rng.normal(0, 0.02 * max(width, height), size=(n_rounds, points_per_round, 2))
    pts = np.clip(starts + np.cumsum(steps, axis=1), 0, [width - 1e-3, height - 1e-3])
    return list(pts)


def _loop(rounds: list[np.ndarray], width: int, height: int, radius: float) -> np.ndarray:
    counts = np.zeros((height, width))
    for pts in rounds:
        counts += render.brush_mask(pts, width, height, radius)
    return counts


def main(quick: bool = False, device: str = "cpu") -> dict:
    out = {}
    n_points = 100_000 if quick else 1_000_000
    for width in (28, 256):
        height = width
        radius = render.brush_radius_px(width, height)
        rounds = _rounds(n_points // 20, 20, width, height)
        subset = rounds[:max(50, len(rounds) // (50 if width == 28 else 100))]
        t0 = time.perf_counter()
        base = _loop(subset, width, height, radius)
        loop_s = time.perf_counter() - t0
        assert np.array_equal(base, count_map(subset, width, height, radius)), "vectorised maps differ"
        t0 = time.perf_counter()
        count_map(rounds, width, height, radius)
        fast_s = time.perf_counter() - t0
        loop_rate = 20 * len(subset) / loop_s
        fast_rate = 20 * len(rounds) / fast_s
        out[f"{width}x{height}"] = {"points": 20 * len(rounds), "radius_px": round(radius, 2),
                                    "vectorised_s": round(fast_s, 2), "vectorised_points_per_s": round(fast_rate),
                                    "loop_points_per_s": round(loop_rate), "speedup": round(fast_rate / loop_rate, 1)}
        print(f"maps {width}x{height}: {20 * len(rounds):,} points in {fast_s:.2f} s "
              f"({fast_rate:,.0f} pts/s) vs per-round loop {loop_rate:,.0f} pts/s -> x{fast_rate / loop_rate:.1f}")
    return out
