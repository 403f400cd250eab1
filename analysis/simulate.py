"""Simulated observers, for tests, examples and power checks. **Not human data.**

Each stimulus gets a hidden "diagnostic" preference: a few Gaussian hot spots centred on random
ink pixels. A simulated observer brushes short strokes; each stroke starts, with probability
``agreement``, at a pixel drawn from that shared preference, otherwise at a pixel drawn from
their own private preference (hot spots of their own), and walks a few steps along nearby
pixels. High ``agreement`` gives observers who agree with each other (reliable maps); low gives
idiosyncratic ones — a known ground truth for reliability estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _hotspots(image: np.ndarray, rng: np.random.Generator, n_spots: int, width_frac: float) -> np.ndarray:
    h, w = image.shape
    ink = np.argwhere(image > 64)
    if len(ink) == 0:
        ink = np.argwhere(np.ones_like(image, bool))
    rows, cols = np.indices((h, w))
    sigma = width_frac * max(h, w)
    pref = np.zeros((h, w))
    for r, c in ink[rng.choice(len(ink), size=n_spots)]:
        pref += np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2))
    pref *= 0.2 + (image / 255.0)  # observers brush mostly on the drawing
    return pref / pref.sum()


def simulate_clicks(images: dict[str, np.ndarray], n_observers: int = 10, agreement: float = 0.8,
                    strokes_per_round: int = 4, points_per_stroke: int = 6, n_spots: int = 2,
                    seed: int = 0) -> pd.DataFrame:
    """Clicks table (``stimulus, trial, participant, x, y, t_ms``) of simulated observers."""
    if not 0 <= agreement <= 1:
        raise ValueError("agreement must be in [0, 1]")
    rng = np.random.default_rng(seed)
    rows = []
    for stim, image in images.items():
        h, w = image.shape
        shared = _hotspots(image, rng, n_spots, 0.08).ravel()
        step = 0.04 * max(h, w)
        for obs in range(n_observers):
            private = _hotspots(image, rng, n_spots, 0.08).ravel()
            t = 0.0
            for _ in range(strokes_per_round):
                source = shared if rng.random() < agreement else private
                idx = rng.choice(source.size, p=source)
                y, x = idx // w + rng.random(), idx % w + rng.random()
                for _ in range(points_per_stroke):
                    rows.append((stim, f"p{obs:03d}-{stim}", f"p{obs:03d}", x, y, t))
                    x = float(np.clip(x + rng.normal(0, step), 0, w))
                    y = float(np.clip(y + rng.normal(0, step), 0, h))
                    t += float(rng.uniform(15, 40))
                t += float(rng.uniform(100, 400))
    return pd.DataFrame(rows, columns=["stimulus", "trial", "participant", "x", "y", "t_ms"])
