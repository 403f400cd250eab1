"""Matched sampling: simulated players brushing a machine map with the humans' rounds and points."""

from __future__ import annotations

import numpy as np

from analysis import metrics
from analysis.maps import human_map
from analysis.matched_sampling import STROKE_BREAK_RADII, matched_rounds


def human_like_rounds(rng: np.random.Generator, n_rounds: int = 6) -> list[np.ndarray]:
    """Rounds of 2-3 strokes with small steps, of different lengths."""
    rounds = []
    for _ in range(n_rounds):
        strokes = [np.cumsum(rng.normal(0, 1.0, (int(rng.integers(5, 20)), 2)), axis=0) + rng.uniform(10, 54, 2)
                   for _ in range(int(rng.integers(2, 4)))]
        rounds.append(np.clip(np.concatenate(strokes), 0, 63.9))
    return rounds


def blob(center: tuple[int, int], size: int = 64, sigma: float = 3.0) -> np.ndarray:
    rows, cols = np.indices((size, size))
    return np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * sigma ** 2))


def test_each_round_keeps_its_points_strokes_and_step_lengths() -> None:
    rng = np.random.default_rng(0)
    humans = human_like_rounds(rng)
    radius = 3.0
    twins = matched_rounds(np.ones((64, 64)), humans, radius, seed=1)
    assert [len(t) for t in twins] == [len(h) for h in humans]
    for human, twin in zip(humans, twins):
        steps_h = np.linalg.norm(np.diff(human, axis=0), axis=1)
        steps_t = np.linalg.norm(np.diff(twin, axis=0), axis=1)
        within = steps_h <= STROKE_BREAK_RADII * radius
        # inside a stroke the twin moves by the human's step (or stays when every landing is off the map)
        moved = np.isclose(steps_t[within], steps_h[within], atol=1e-9)
        assert moved.mean() > 0.9
        assert ((twin >= 0) & (twin <= 64)).all()


def test_players_brush_where_the_machine_map_is() -> None:
    rng = np.random.default_rng(0)
    humans = human_like_rounds(rng, 8)
    density = blob((16, 48))
    twins = matched_rounds(density, humans, radius=3.0, seed=2)
    points = np.concatenate(twins)
    near = np.hypot(points[:, 0] - 48.5, points[:, 1] - 16.5) < 10
    assert near.mean() > 0.8
    # at equal sampling, a focused machine gives a more localised map than a uniform one
    focused = human_map(twins, 64, 64, 3.0, 2.0)
    spread = human_map(matched_rounds(np.ones((64, 64)), humans, 3.0, seed=2), 64, 64, 3.0, 2.0)
    assert metrics.area_fraction(focused) < 0.5 * metrics.area_fraction(spread)
    peak_row, peak_col = np.unravel_index(focused.argmax(), focused.shape)
    assert abs(peak_row - 16) < 5 and abs(peak_col - 48) < 5


def test_matched_rounds_are_reproducible_and_seeded() -> None:
    humans = human_like_rounds(np.random.default_rng(0))
    a = matched_rounds(blob((30, 30)), humans, 3.0, seed=5)
    b = matched_rounds(blob((30, 30)), humans, 3.0, seed=5)
    c = matched_rounds(blob((30, 30)), humans, 3.0, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
