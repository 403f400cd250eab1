"""`analysis.brush.Brush`: the one brush (square of the original ClickMe game, or this game's
disc) for footprints, human maps, machine-map spreading and reliability, with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, signal

from analysis.brush import LEGACY_CLICKME_SQUARE, Brush
from analysis.maps import BLUR_TRUNCATE, blur_normalize, human_map, prepare_map, round_footprints
from analysis.metrics import on_grid, rank_correlation
from analysis.reliability import _split_ranks, cross_stimulus_floor, reliability_table, spearman_brown


def test_legacy_square_and_sizes():
    assert LEGACY_CLICKME_SQUARE == Brush("square", 14)
    assert LEGACY_CLICKME_SQUARE.side == 14 and LEGACY_CLICKME_SQUARE.reach == 7.0
    half = LEGACY_CLICKME_SQUARE.scaled(0.5)
    assert half == Brush("square", 7.0) and half.side == 7 and half.reach == 3.5
    assert Brush("square", 0.2).side == 1  # never smaller than one pixel
    assert Brush("disc", 3.5).reach == 3.5 and Brush("disc", 3.5).scaled(2) == Brush("disc", 7.0)
    with pytest.raises(ValueError):
        Brush("circle", 3)


def test_square_and_disc_footprints_known_answers():
    point = [np.array([[20.0, 20.0]])]  # integer coordinates, as the games record them
    square = Brush("square", 14).footprints(point, 64, 64)[0]
    assert square.sum() == 14 * 14 and square[13:27, 13:27].all()  # rows/cols x-7 .. x+6
    disc = Brush("disc", 3.0).footprints([np.array([[20.5, 20.5]])], 64, 64)[0]  # at a pixel centre
    assert disc.sum() == 29  # the lattice points of a radius-3 disc: 1 + 4 + 8 + 4 + 8 + 4
    assert np.array_equal(disc, round_footprints([np.array([[20.5, 20.5]])], 64, 64, 3.0)[0])
    clipped = Brush("square", 14).footprints([np.array([[2.0, 60.0]])], 64, 64)[0]
    assert clipped.sum() == 9 * 11 and clipped[53:, :9].all()  # cols 0..8, rows 53..63 (the last row)


def test_square_footprints_count_each_round_once():
    rounds = [np.array([[10.0, 10.0], [10.0, 10.0], [11.0, 10.0]]), np.array([[10.0, 10.0]])]
    counts = Brush("square", 4).footprints(rounds, 32, 32).sum(0)
    assert counts.max() == 2 and counts[8:12, 8:12].min() == 2 and counts[8:12, 12].tolist() == [1] * 4


@pytest.mark.parametrize("brush", [Brush("square", 6), Brush("disc", 2.5)])
def test_human_map_sums_to_one_and_counts_rounds(brush):
    rng = np.random.default_rng(1)
    rounds = [rng.uniform(0, 48, (rng.integers(1, 20), 2)) for _ in range(8)]
    m = brush.human_map(rounds, 48, 40, 1.5)
    assert m.shape == (40, 48) and m.dtype == np.float32 and np.isclose(m.sum(), 1.0, atol=1e-5)
    counted = blur_normalize(brush.footprints(rounds, 48, 40).sum(0).astype(np.float64), 1.5)
    assert np.allclose(m, counted, atol=1e-7)
    if brush.shape == "disc":
        assert np.array_equal(m, human_map(rounds, 48, 40, 2.5, 1.5))


def test_spread_of_a_delta_is_the_square_kernel_blurred():
    delta = np.zeros((48, 48), np.float32)
    delta[24, 24] = -3.0  # magnitude, not sign
    got = Brush("square", 6).spread(delta, 2.0)
    box = np.zeros((48, 48))
    box[22:28, 22:28] = 1.0  # the 6 x 6 kernel around the delta ('same' convolution)
    expected = ndimage.gaussian_filter(box, 2.0, truncate=BLUR_TRUNCATE, mode="constant")
    assert np.allclose(got, expected / expected.sum(), atol=1e-7)
    assert np.allclose(Brush("square", 6).spread(delta, 0.0), box / 36)


def test_disc_spread_is_the_comparisons_geometry():
    rng = np.random.default_rng(2)
    raw = rng.random((40, 40))
    assert np.array_equal(Brush("disc", 3.0).spread(raw, 1.2), prepare_map(raw, 40, 40, 1.2, 3.0))
    square = Brush("square", 5).spread(raw, 1.2)
    manual = np.clip(signal.fftconvolve(raw, np.ones((5, 5)), mode="same"), 0, None)
    assert np.allclose(square, blur_normalize(manual, 1.2), atol=1e-7)


def _clicks(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(5):
        for t in range(6):
            cx, cy = rng.uniform(8, 40, 2)
            for _ in range(rng.integers(2, 10)):
                rows.append({"stimulus": f"s{s}", "trial": f"s{s}t{t}", "x": round(cx + rng.normal(0, 4)),
                             "y": round(cy + rng.normal(0, 4))})
    return pd.DataFrame(rows)


def _rounds(clicks: pd.DataFrame) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for (stim, _), g in clicks.groupby(["stimulus", "trial"], sort=True):
        out.setdefault(stim, []).append(g[["x", "y"]].to_numpy(np.float64))
    return out


def test_disc_reliability_equals_the_reliability_commands():
    clicks = _clicks()
    table, _ = reliability_table(clicks, 48, 48, radius=2.5, n_splits=15, seed=3, sigma=1.4)
    mine = Brush("disc", 2.5).reliability(_rounds(clicks), 48, 48, 1.4, 15, 3)
    assert list(mine.columns) == ["stimulus", "n_rounds", "split_half", "floor"]
    pd.testing.assert_frame_equal(mine, table[["stimulus", "n_rounds", "split_half", "floor"]])


def test_square_reliability_is_the_procedure_on_square_footprints():
    """Against the procedure spelled out by hand (the brush of `analysis.confirm` before the move)."""
    rounds, sigma, splits, seed = _rounds(_clicks(7)), 1.4, 12, 5
    brush = Brush("square", 5)
    firsts, expected = {}, []
    for i, name in enumerate(sorted(rounds)):
        prints = ndimage.gaussian_filter(brush.footprints(rounds[name], 48, 48).astype(np.float64),
                                         (0, sigma, sigma), truncate=BLUR_TRUNCATE, mode="constant")
        first, second = _split_ranks(on_grid(prints).reshape(len(prints), -1), splits, seed + i)
        firsts[name] = first.astype(np.float32)
        expected.append(spearman_brown(float(np.nanmean(rank_correlation(first, second)))))
    floors = cross_stimulus_floor(firsts, seed)
    table = brush.reliability(rounds, 48, 48, sigma, splits, seed)
    assert table["stimulus"].tolist() == sorted(rounds)
    assert np.allclose(table["split_half"], expected, rtol=0, atol=1e-12)
    assert np.allclose(table["floor"], [floors[n] for n in sorted(rounds)], rtol=0, atol=1e-12)
    assert table["n_rounds"].tolist() == [len(rounds[n]) for n in sorted(rounds)]


def test_parse_brush():
    from analysis.brush import parse_brush
    from analysis.clicks import ClicksError

    assert parse_brush("square:14") == LEGACY_CLICKME_SQUARE and parse_brush("disc:3.5") == Brush("disc", 3.5)
    for bad in ["square", "hex:3", "disc:-1", "square:x"]:
        with pytest.raises(ClicksError):
            parse_brush(bad)


def test_reliability_table_with_a_brush():
    clicks = _clicks(9)
    disc_table, disc = reliability_table(clicks, 48, 48, radius=2.5, n_splits=10, sigma=1.4)
    same_table, same = reliability_table(clicks, 48, 48, n_splits=10, sigma=1.4, brush=Brush("disc", 2.5))
    pd.testing.assert_frame_equal(disc_table, same_table)
    assert disc["ceiling"] == same["ceiling"] and same["brush"] == {"shape": "disc", "size": 2.5}
    table, summary = reliability_table(clicks, 48, 48, n_splits=10, sigma=1.4, brush=Brush("square", 6))
    expected = Brush("square", 6).reliability(_rounds(clicks), 48, 48, 1.4, 10, 0)
    pd.testing.assert_frame_equal(table[expected.columns], expected)
    assert summary["brush"] == {"shape": "square", "size": 6} and summary["radius_px"] == 3.0
    assert {"n_points", "leave_one_out"} <= set(table.columns)


def test_reliability_cli_with_the_square(tmp_path):
    from analysis.__main__ import main

    _clicks(9).to_csv(tmp_path / "clicks.csv", index=False)
    out = tmp_path / "rel.csv"
    assert main(["reliability", "--clicks", str(tmp_path / "clicks.csv"), "--canvas", "48", "--out", str(out),
                 "--splits", "5", "--sigma", "1.4", "--brush", "square:6"]) == 0
    from analysis.clicks import load_checked

    table = pd.read_csv(out)
    checked, _ = load_checked(str(tmp_path / "clicks.csv"), 48, 48)  # the command's data rules
    expected, _ = reliability_table(checked, 48, 48, n_splits=5, sigma=1.4, brush=Brush("square", 6))
    assert len(table) == len(expected) > 0
    assert np.allclose(table["split_half"], expected["split_half"], atol=1e-12)
    assert main(["reliability", "--clicks", str(tmp_path / "clicks.csv"), "--canvas", "48",
                 "--out", str(out), "--brush", "square:6", "--radius", "3"]) != 0
