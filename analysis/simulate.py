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


# --- players who brush along the strokes, and a messy legacy export of their rounds ------------

def stroke_polylines(strokes, size: int) -> list[np.ndarray]:
    """The strokes of a simplified drawing as ``[N, 2]`` polylines in the ``size`` canvas of
    `models.render.strokes_to_bitmap` (same centring, padding and scale), so simulated brushing
    follows the ink the player sees."""
    from models import render

    xs = [np.asarray(s[0], float) for s in strokes if len(s[0])]
    ys = [np.asarray(s[1], float) for s in strokes if len(s[1])]
    pad = 2.0 * render.PADDING + render.LINE_DIAMETER
    scale = size / (render.ORIGINAL_SIDE + pad)
    shift_x = pad / 2 + (render.ORIGINAL_SIDE - max(a.max() for a in xs)) / 2
    shift_y = pad / 2 + (render.ORIGINAL_SIDE - max(a.max() for a in ys)) / 2
    return [np.stack([(x + shift_x) * scale, (y + shift_y) * scale], axis=1) for x, y in zip(xs, ys)]


def _along(line: np.ndarray, start: float, stop: float, spacing: float) -> np.ndarray:
    """Points every ``spacing`` px of arc length between fractions ``start`` and ``stop`` of a polyline."""
    if len(line) == 1:
        return line.copy()
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
    s = np.arange(start * arc[-1], stop * arc[-1] + 1e-9, spacing) if arc[-1] > 0 else np.zeros(1)
    return np.stack([np.interp(s, arc, line[:, 0]), np.interp(s, arc, line[:, 1])], axis=1)


def stroke_rounds(polylines: list[np.ndarray], preference: np.ndarray, size: int, n_rounds: int,
                  rng: np.random.Generator, own_share: float = 0.4) -> list[np.ndarray]:
    """``n_rounds`` rounds ``[N, 3]`` (x, y, t_ms) of players brushing along strokes.

    Each round visits 1 + Poisson(1) strokes, chosen from the stimulus' shared ``preference`` over
    strokes mixed with the player's own (share ``own_share``), brushes a random 30-100% stretch of
    each at 3-6 px spacing, with a slowly drifting offset and hand jitter. A round is a click
    (1-2 points) 3% of the time.
    """
    rounds = []
    for _ in range(n_rounds):
        own = rng.dirichlet(np.ones(len(polylines)))
        weights = (1 - own_share) * preference + own_share * own
        t, parts = 0.0, []
        if rng.random() < 0.03:
            line = polylines[rng.choice(len(polylines), p=weights)]
            pts = line[rng.integers(len(line))] + rng.normal(0, 2, (int(rng.integers(1, 3)), 2))
            parts.append(np.column_stack([pts, t + 40 * np.arange(len(pts))]))
        else:
            for _ in range(1 + rng.poisson(1.0)):
                line = polylines[rng.choice(len(polylines), p=weights)]
                length = rng.uniform(0.3, 1.0)
                start = rng.uniform(0, 1 - length)
                pts = _along(line, start, start + length, rng.uniform(3, 6))
                drift = np.cumsum(rng.normal(0, 0.6, pts.shape), axis=0) + rng.normal(0, 3, 2)
                pts = pts + np.clip(drift, -8, 8) + rng.normal(0, 1.2, pts.shape)
                times = t + np.cumsum(rng.uniform(12, 30, len(pts)))
                parts.append(np.column_stack([pts, times]))
                t = float(times[-1]) + rng.uniform(150, 600)
        r = np.concatenate(parts)
        r[:, :2] = np.clip(r[:, :2], 0, size - 1e-6)  # the game keeps points on the canvas
        rounds.append(r)
    return rounds


def legacy_export(drawings: dict[str, list[np.ndarray]], size: int = 256, mean_rounds: float = 4.3,
                  seed: int = 0) -> pd.DataFrame:
    """A ClickMe-style legacy export (``stimulus, trial, x, y, t_ms``) with the defects of real ones.

    ``drawings`` maps stimulus names to `stroke_polylines`. Per stimulus, 1 + Poisson(mean - 1)
    distinct rounds of `stroke_rounds` players; then, as in old exports: every round is stored
    2-6 times as identical snapshots under new trial ids, there are no participant ids, a few
    points carry float round-off just outside the canvas (x = -7e-16, x = W + 1e-13), about 0.6% of
    rounds are dragged off an edge (points up to 40 px outside), and about 0.1% of rows have y
    overwritten by x (points on the diagonal).
    """
    rng = np.random.default_rng(seed)
    rows = []
    trial = 0
    for stim, polylines in drawings.items():
        preference = rng.dirichlet(np.full(len(polylines), 0.5))
        for r in stroke_rounds(polylines, preference, size, 1 + rng.poisson(mean_rounds - 1), rng):
            r = r.copy()
            r[:, :2] = np.round(r[:, :2], 1)
            if rng.random() < 0.006 and len(r) > 4:  # dragged off the left or bottom edge
                tail = slice(len(r) - max(2, len(r) // 5), None)
                axis = int(rng.integers(2))
                r[tail, axis] = (-1 if axis == 0 else 1) * np.linspace(5, 40, len(r[tail])) + (0 if axis == 0 else size)
            edge = rng.random(len(r)) < 0.0005  # float round-off at the edges
            r[edge, 0] = np.where(rng.random(edge.sum()) < 0.5, -7e-16, size + 1e-13)
            diagonal = rng.random(len(r)) < 0.001
            r[diagonal, 1] = r[diagonal, 0]
            for _ in range(int(rng.integers(2, 7))):  # the same round stored as several snapshots
                rows += [(stim, f"t{trial:05d}", x, y, tm) for x, y, tm in r]
                trial += 1
    frame = pd.DataFrame(rows, columns=["stimulus", "trial", "x", "y", "t_ms"])
    return frame.round({"t_ms": 1})
