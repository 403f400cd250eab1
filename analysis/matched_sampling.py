"""Matched sampling: simulated players who brush where a machine map says, as much as people did.

How localised a human map looks depends on how much data made it: more rounds and points spread
the footprints (area fraction vs number of points correlates at rho ~ 0.9 in real data). A
machine map has no such limit, so comparing it directly with a human map compares a model with a
sample. Here each human round of a stimulus gets a simulated twin that

- has the same number of points, split into strokes where the human's did (a jump of more than
  two brush radii between consecutive points starts a new stroke),
- starts each stroke at a pixel drawn from the machine map (probability proportional to its
  mass, uniform within the pixel), and
- moves with the human's own step lengths; each step's direction is one of 8 evenly spaced
  directions (randomly rotated), chosen with probability proportional to the machine map where
  it lands (landings off the canvas have probability 0).

The twins' rounds then go through the human-map pipeline unchanged (`maps.human_map`: the brush
rule of `models.render`, counts per round, blur), so human and machine maps are compared at equal
sampling and equal geometry. Seeded, so a run is reproducible.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

N_DIRECTIONS = 8
STROKE_BREAK_RADII = 2.0  # a jump longer than this many brush radii starts a new stroke


def _draw_pixel(cdf: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    idx = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)
    return np.array([idx % width + rng.random(), idx // width + rng.random()])


def _density_at(density: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Map value under each point ``[K, 2]`` (0 off the canvas)."""
    height, width = density.shape
    cols, rows = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    out = np.zeros(len(xy))
    out[inside] = density[rows[inside], cols[inside]]
    return out


def matched_round(density: np.ndarray, human_round: np.ndarray, radius: float,
                  rng: np.random.Generator) -> np.ndarray:
    """``[P, 2]`` points of one simulated round matched to ``human_round`` (``[P, >=2]``)."""
    pts = np.asarray(human_round, np.float64)[:, :2]
    height, width = density.shape
    cdf = np.cumsum(density.ravel())
    if len(pts) == 0:
        return np.zeros((0, 2))
    steps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    out = np.empty((len(pts), 2))
    out[0] = _draw_pixel(cdf, width, rng)
    angles = 2 * np.pi * np.arange(N_DIRECTIONS) / N_DIRECTIONS
    for i, step in enumerate(steps, start=1):
        if step > STROKE_BREAK_RADII * radius:
            out[i] = _draw_pixel(cdf, width, rng)
            continue
        turn = angles + rng.random() * 2 * np.pi / N_DIRECTIONS
        landing = out[i - 1] + step * np.stack([np.cos(turn), np.sin(turn)], axis=1)
        weight = _density_at(density, landing)
        out[i] = landing[rng.choice(N_DIRECTIONS, p=weight / weight.sum())] if weight.sum() > 0 else out[i - 1]
    return out


def matched_rounds(density: np.ndarray, human_rounds: Sequence[np.ndarray], radius: float,
                   seed: int = 0) -> list[np.ndarray]:
    """One simulated round per human round (same points per round) brushing ``density``
    (non-negative ``[H, W]`` on the canvas, any scale; an all-zero map is brushed uniformly)."""
    rng = np.random.default_rng(seed)
    density = np.clip(np.asarray(density, np.float64), 0.0, None)
    if density.sum() <= 0:
        density = np.ones_like(density)
    return [matched_round(density, r, radius, rng) for r in human_rounds]
