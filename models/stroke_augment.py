"""Stroke-level augmentation of Quick, Draw! drawings, for training the one-shot CFGDM.

With 25 drawings per category the CFGDM sees each drawing hundreds of times; transforming the
*strokes* (before rendering) makes new drawings a person could have made: the whole drawing is
rotated, stretched and sheared, each point wobbles a little (a hand is never exact), and a
later stroke is sometimes left out (people draw different amounts of detail). Lines stay one
pen wide and anti-aliased because the result is rendered by the same
`render.strokes_to_bitmap` as the data itself; pixel-level jitter (`sketch_augment`) would
blur and thicken them instead.

Augmented renderings are expensive on a CPU (a few ms each), so `render_views` draws a fixed
pool of ``views`` versions per drawing once, seeded, and training picks among them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .render import ORIGINAL_SIDE, Drawing, strokes_to_bitmap


@dataclass(frozen=True)
class StrokeAugment:
    """Ranges the random transformations are drawn from (uniformly, except the point noise)."""

    rotate_deg: float = 12.0
    scale: tuple[float, float] = (0.8, 1.2)  # per axis, so the aspect ratio changes too
    shear: float = 0.15
    point_noise: float = 2.0  # standard deviation in the 0-255 frame of the simplified format
    drop_stroke: float = 0.1  # chance that each stroke after the first is left out


def augment_strokes(drawing: Drawing, rng: np.random.Generator, spec: StrokeAugment = StrokeAugment()) -> Drawing:
    """One random variation of a simplified-format drawing, back in the 0-255 frame.

    The first stroke is always kept (it is usually the outline people start with), and at least
    one stroke survives. The result is put back where the original's bounding box started and
    scaled so its longer side is as long as the original's (moved back inside the 0-255 frame
    if it sticks out), so the renderer centres and scales it like the drawing itself.
    """
    strokes = [np.asarray(s[:2], float) for s in drawing if len(s[0])]
    if not strokes:
        return [list(map(list, s[:2])) for s in drawing]
    keep = [0] + [i for i in range(1, len(strokes)) if rng.random() >= spec.drop_stroke]
    strokes = [strokes[i] for i in keep]
    angle = math.radians(rng.uniform(-spec.rotate_deg, spec.rotate_deg))
    sx, sy = rng.uniform(*spec.scale, size=2)
    shear = rng.uniform(-spec.shear, spec.shear)
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = rotate @ np.array([[sx, shear], [0.0, sy]])
    centre = np.concatenate(strokes, axis=1).mean(axis=1, keepdims=True)
    moved = [matrix @ (s - centre) + rng.normal(0.0, spec.point_noise, s.shape) for s in strokes]
    every = np.concatenate(moved, axis=1)
    low = every.min(axis=1, keepdims=True)
    side = float((every.max(axis=1, keepdims=True) - low).max()) or 1.0
    before = np.concatenate(strokes, axis=1)
    corner = before.min(axis=1, keepdims=True)
    target = float((before.max(axis=1) - corner[:, 0]).max()) or 1.0
    placed = [(s - low) * (target / side) + corner for s in moved]
    overshoot = np.maximum(0.0, np.concatenate(placed, axis=1).max(axis=1, keepdims=True) - (ORIGINAL_SIDE - 1))
    return [(s - overshoot).round().tolist() for s in placed]


def render_views(drawings: list[Drawing], views: int, seed: int = 0, spec: StrokeAugment = StrokeAugment(),
                 size: int = 28, progress: bool = True) -> np.ndarray:
    """uint8 ``[N, views, size, size]``: view 0 is each drawing as drawn, the others augmented.

    Seeded per drawing (``[seed, index]``), so the pool does not depend on the order or number of
    drawings rendered before it.
    """
    if views < 1:
        raise ValueError("views must be at least 1 (view 0 is the drawing itself)")
    out = np.empty((len(drawings), views, size, size), np.uint8)
    for n, drawing in enumerate(tqdm(drawings, desc=f"rendering {views} views", disable=not progress)):
        rng = np.random.default_rng([seed, n])
        out[n, 0] = strokes_to_bitmap(drawing, size)
        for v in range(1, views):
            out[n, v] = strokes_to_bitmap(augment_strokes(drawing, rng, spec), size)
    return out
