"""Human maps use the game's brush geometry, count rounds not points, and normalise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clicks import ClicksError, normalise_clicks, parse_canvas
from analysis.maps import (blur_normalize, count_map, human_map, maps_from_clicks, prepare_map, round_footprints,
                          square_footprints, square_kernel)
from models.render import brush_mask


def test_footprints_equal_the_game_brush_mask():
    rng = np.random.default_rng(3)
    rounds = [rng.uniform(-3, 35, (rng.integers(0, 40), 3)) for _ in range(60)]  # x, y, t
    for width, height, radius in [(28, 28, 1.96), (32, 20, 3.5), (7, 9, 0.5)]:
        got = round_footprints(rounds, width, height, radius)
        for i, pts in enumerate(rounds):
            assert np.array_equal(got[i], brush_mask(pts, width, height, radius))


def test_count_map_counts_rounds_not_points():
    scrub = np.tile([[10.5, 10.5]], (50, 1))  # one player scrubbing one spot 50 times
    once = np.array([[10.5, 10.5]])
    counts = count_map([scrub, once], 28, 28, 1.0)
    assert counts[10, 10] == 2 and counts.max() == 2
    assert count_map([], 5, 4, 1.0).shape == (4, 5)


def test_count_map_blocks_match_one_pass(monkeypatch):
    import analysis.maps as maps

    rng = np.random.default_rng(0)
    rounds = [rng.uniform(0, 16, (5, 2)) for _ in range(30)]
    whole = maps.count_map(rounds, 16, 16, 2.0)
    monkeypatch.setattr(maps, "CHUNK", 7)  # blocks smaller than one round, and between rounds
    assert np.array_equal(maps.count_map(rounds, 16, 16, 2.0), whole)


def test_count_map_equals_summed_brush_masks():
    rng = np.random.default_rng(5)
    rounds = [rng.uniform(-4, 40, (rng.integers(0, 60), 2)) for _ in range(80)]
    radii = rng.uniform(0.3, 9.0, len(rounds))
    for width, height in [(28, 28), (37, 19)]:
        expected = sum(brush_mask(p, width, height, r).astype(int) for p, r in zip(rounds, radii))
        assert np.array_equal(count_map(rounds, width, height, radii), expected)
        same_radius = sum(brush_mask(p, width, height, 4.5).astype(int) for p in rounds)
        assert np.array_equal(count_map(rounds, width, height, 4.5), same_radius)
    # points exactly on pixel-centre distances (where sqrt rounding could flip a pixel)
    grid = [np.array([[10.5, 10.5], [12.0, 10.5]]), np.array([[3.5, 4.5]])]
    assert np.array_equal(count_map(grid, 20, 20, 2.0),
                          sum(brush_mask(p, 20, 20, 2.0).astype(int) for p in grid))


def test_human_map_is_blurred_and_sums_to_one():
    m = human_map([np.array([[14.0, 14.0]])], 28, 28, 1.0, sigma=1.5)
    assert m.dtype == np.float32 and m.shape == (28, 28)
    assert m.sum() == pytest.approx(1.0, abs=1e-5)
    assert m[13, 13] == m.max() and m[13, 18] > 0 and m[0, 0] == 0  # spread by blur, not far
    assert blur_normalize(np.zeros((4, 4))).sum() == 0


def test_prepare_map_resizes_machine_maps_to_the_canvas():
    small = np.zeros((28, 28))
    small[7, 7] = -3.0  # attribution sign is dropped: importance is magnitude
    big = prepare_map(small, 56, 56, sigma=0)
    assert big.shape == (56, 56) and big.sum() == pytest.approx(1.0, abs=1e-5)
    r, c = np.unravel_index(big.argmax(), big.shape)
    assert abs(r - 14.5) <= 1.5 and abs(c - 14.5) <= 1.5


def test_clicks_tables_of_both_schemes():
    legacy = pd.DataFrame({"stimulus": ["a", "a", "b"], "trial": [1, 1, 2], "x": [1, 2, 3], "y": [1, 2, 3]})
    export = pd.DataFrame({"study": "s", "participant": "p", "round": ["r1", "r1", "r2"],
                           "stimulus": ["a", "a", "b"], "category": "cat", "point_index": [1, 0, 0],
                           "x": [2.0, 1.0, 3.0], "y": [2.0, 1.0, 3.0], "t_ms": [20, 10, 5]})
    a, b = normalise_clicks(legacy, 28, 28), normalise_clicks(export, 28, 28)
    assert list(a.columns[:4]) == ["stimulus", "trial", "x", "y"] and "trial" in b.columns
    assert b.x.tolist() == [1.0, 2.0, 3.0]  # ordered by point index within a round
    maps_a = maps_from_clicks(a, 28, 28)
    maps_b = maps_from_clicks(b, 28, 28)
    assert set(maps_a) == {"a", "b"} and np.allclose(maps_a["a"], maps_b["a"])
    with pytest.raises(ClicksError, match="outside"):
        normalise_clicks(legacy.assign(x=[1, 2, 99]), 28, 28)
    with pytest.raises(ClicksError, match="non-numeric"):
        normalise_clicks(legacy.assign(x=["1", "oops", "3"]))
    with pytest.raises(ClicksError, match="trial"):
        normalise_clicks(legacy.drop(columns="trial"))


def test_filters_drop_short_rounds_and_rare_stimuli():
    df = pd.DataFrame({"stimulus": ["a"] * 5 + ["b"] * 2, "trial": [1, 1, 1, 2, 3, 4, 4],
                       "x": 5.0, "y": 5.0})
    assert set(maps_from_clicks(df, 10, 10, min_points_per_round=2)) == {"a", "b"}
    assert set(maps_from_clicks(df, 10, 10, min_rounds_per_stimulus=2)) == {"a"}
    assert set(maps_from_clicks(df, 10, 10, min_points_per_round=3, min_rounds_per_stimulus=1)) == {"a"}


def test_parse_canvas():
    assert parse_canvas("28") == (28, 28) and parse_canvas("64x48") == (64, 48)
    for bad in ("", "x", "0x5", "10x10x10", "abc"):
        with pytest.raises(ClicksError):
            parse_canvas(bad)


def test_square_footprint_known_answers():
    """The original ClickMe square: pixel centres within side/2 of the point on both axes."""
    # the game's points are integer canvas coordinates (pixel corners): 14 x 14 pixels, x-7 .. x+6
    at_corner = square_footprints([np.array([[100.0, 50.0]])], 256, 256, 14)[0]
    rows, cols = np.nonzero(at_corner)
    assert at_corner.sum() == 14 * 14
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (43, 56, 93, 106)
    # at a pixel centre the outermost centres lie exactly side/2 away and are included: 15 x 15
    at_centre = square_footprints([np.array([[100.5, 50.5]])], 256, 256, 14)[0]
    assert at_centre.sum() == 15 * 15 and at_centre[43:58, 93:108].all()
    corner = square_footprints([np.array([[0.0, 0.0]])], 256, 256, 14)[0]  # clipped at the edges
    assert corner.sum() == 7 * 7 and corner[:7, :7].all()
    edge = square_footprints([np.array([[255.0, 3.0]])], 256, 256, 14)[0]
    assert edge.sum() == 8 * 10 and edge[:10, 248:].all()  # cols 248..255, rows 0..9
    assert not square_footprints([np.array([[-20.0, 5.0]])], 32, 32, 14).any()  # wholly off canvas


def test_square_footprint_counts_a_round_once_and_keeps_rounds_apart():
    scrub = np.array([[10.0, 10.0], [10.0, 10.0], [11.0, 10.0]])  # overlapping points of one round
    prints = square_footprints([scrub, np.zeros((0, 2)), np.array([[30.0, 30.0, 123.0]])], 40, 40, 4)
    assert prints.shape == (3, 40, 40) and prints.dtype == bool
    assert prints[0].sum() == 4 * 5 and prints[0][8:12, 8:13].all()  # the union, each pixel once
    assert not prints[1].any() and prints[2].sum() == 16
    assert prints.sum(0).max() == 1
    assert square_footprints([], 5, 4, 3).shape == (0, 4, 5)


def test_prepare_map_with_a_square_kernel_spreads_a_delta_into_the_square():
    delta = np.zeros((40, 40))
    delta[20, 20] = 1.0
    spread = prepare_map(delta, 40, 40, sigma=0, kernel=square_kernel(6))
    assert np.allclose(spread[18:24, 18:24], 1 / 36) and np.isclose(spread.sum(), 1)
