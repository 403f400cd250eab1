"""The one ingestion rule for click tables: off-canvas points, exact repeats, rounds that are not
brushing, the data check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.clicks import (FEW_POINTS, LINE_INK_UNKNOWN, LINE_OFF_INK, LINE_TOLERANCE, NON_BRUSHING_RULE,
                             ClicksError, ingest, line_deviation, non_brushing, normalise_clicks, on_ink_share,
                             read_clicks_csv)
from analysis.ink import ink_region
from analysis.stimuli import load_stimuli


def messy() -> pd.DataFrame:
    """Known defects: round r2 repeats r1 (twice), r3 has a point at -7e-16 and one dragged far off,
    r4 lies entirely off the canvas, r5 has a single point on the diagonal."""
    rows = [("a", "r1", 3.0, 4.0), ("a", "r1", 5.0, 6.0), ("a", "r1", 7.0, 9.0),
            ("a", "r2", 3.0, 4.0), ("a", "r2", 5.0, 6.0), ("a", "r2", 7.0, 9.0),
            ("a", "r2b", 3.0, 4.0), ("a", "r2b", 5.0, 6.0), ("a", "r2b", 7.0, 9.0),
            ("a", "r3", -7e-16, 4.0), ("a", "r3", 10.0, 11.0), ("a", "r3", 40.0, 11.0), ("a", "r3", 28.5, 2.0),
            ("a", "r4", 60.0, 60.0), ("a", "r4", 70.0, 61.0),
            ("a", "r5", 12.0, 12.0),
            ("b", "r1", 3.0, 4.0), ("b", "r1", 5.0, 6.0), ("b", "r1", 7.0, 9.0)]  # same path, other stimulus
    return pd.DataFrame(rows, columns=["stimulus", "trial", "x", "y"])


def test_off_canvas_points_are_clipped_near_the_edge_and_dropped_beyond() -> None:
    clicks, check = ingest(messy(), 28, 28, keep_non_brushing=True)
    r3 = clicks[clicks.trial == "r3"]
    assert r3.x.tolist() == [0.0, 10.0, 28.0]  # -7e-16 and 28.5 clipped, 40 dropped
    assert check.off_canvas_points_clipped == 2 and check.off_canvas_points_dropped == 3
    assert check.rounds_emptied_off_canvas == 1 and "r4" not in set(clicks.trial)


def test_exact_repeats_of_a_round_are_dropped_and_counted() -> None:
    clicks, check = ingest(messy(), 28, 28, keep_non_brushing=True)
    assert check.repeated_rounds == 2 and check.repeated_rounds_dropped == 2
    assert set(clicks[clicks.stimulus == "a"].trial) == {"r1", "r3", "r5"}
    assert set(clicks[clicks.stimulus == "b"].trial) == {"r1"}  # the same path on another stimulus is no repeat
    assert check.distinct_rounds == 4 and check.rounds_kept == 4 and check.points_kept == 3 + 3 + 1 + 3
    kept, check = ingest(messy(), 28, 28, keep_repeats=True, keep_non_brushing=True)
    assert check.repeated_rounds_dropped == 0 and {"r2", "r2b"} <= set(kept.trial)
    # order matters: the same points in another order are a different path
    reordered = messy()
    reordered.loc[reordered.trial == "r2", ["x", "y"]] = [[5.0, 6.0], [3.0, 4.0], [7.0, 9.0]]
    assert ingest(reordered, 28, 28)[1].repeated_rounds == 1


def test_data_check_counts_short_rounds_diagonal_points_and_missing_participants() -> None:
    _, check = ingest(messy(), 28, 28, keep_non_brushing=True)
    assert check.short_rounds == 1 and check.diagonal_points == 1
    assert check.participant_ids is False and any("no participant" in n for n in check.notes)
    assert check.rounds_per_stimulus == {"min": 1.0, "median": 2.0, "max": 3.0}
    text = "\n".join(check.lines())
    assert "repeated rounds" in text and "2 dropped" not in text and "dropped 2" in text


def test_strict_refuses_what_the_rule_would_change() -> None:
    with pytest.raises(ClicksError, match="outside the 28x28 canvas"):
        ingest(messy(), 28, 28, strict=True)
    on_canvas = messy()[lambda d: d.trial.isin(["r1", "r2"])]
    with pytest.raises(ClicksError, match="repeat"):
        ingest(on_canvas, 28, 28, strict=True)
    with pytest.raises(ClicksError, match="non-numeric"):
        ingest(messy().assign(x="oops"), 28, 28, strict=True)
    dropped, check = ingest(messy().astype({"x": object}).assign(x=lambda d: d.x.where(d.trial != "r5", "nan")), 28, 28)
    assert check.nonfinite_points_dropped == 1 and "r5" not in set(dropped.trial)


# --- rounds that are not brushing (NON_BRUSHING_RULE) ----------------------------------------

SIDE = 64


def drawing() -> np.ndarray:
    """A 64x64 JPEG-like drawing: one horizontal white stroke (rows 19-21, columns 10-50) on
    black paper with noise up to 12 of 255."""
    image = np.random.default_rng(0).integers(0, 13, (SIDE, SIDE)).astype(np.uint8)
    image[19:22, 10:51] = 250
    return image


def planted() -> pd.DataFrame:
    """On stimulus "s": a 2-point round (few points), a 5-point round on the diagonal x = y away
    from the stroke (a line off the ink), a 6-point straight round along the stroke (genuine) and
    a wiggly 4-point round off the ink (genuine: not a line). Stimulus "t" has one genuine round."""
    rows = [("s", "two", 5.0, 5.0), ("s", "two", 60.0, 60.0)]
    rows += [("s", "diag", v, v) for v in (28.0, 35.0, 42.0, 49.0, 56.0)]
    rows += [("s", "along", x, 20.0 + d) for x, d in zip((12.0, 19.0, 26.0, 33.0, 40.0, 47.0), (0, 1, -1, 0, 1, 0))]
    rows += [("s", "wiggle", 5.0, 40.0), ("s", "wiggle", 15.0, 55.0), ("s", "wiggle", 25.0, 38.0), ("s", "wiggle", 35.0, 58.0)]
    rows += [("t", "curve", 10.0, 10.0), ("t", "curve", 30.0, 40.0), ("t", "curve", 50.0, 10.0)]
    return pd.DataFrame(rows, columns=["stimulus", "trial", "x", "y"])


def test_line_deviation_and_on_ink_share_have_known_answers() -> None:
    assert line_deviation(np.array([[0, 0], [10, 0], [0, 2], [10, 2]])) == pytest.approx(1.0)  # best line y = 1
    assert line_deviation(np.array([[0, 0], [5, 5], [9, 9]])) == pytest.approx(0.0, abs=1e-12)
    assert line_deviation(np.array([[3, 3], [3, 3], [3, 3]])) == pytest.approx(0.0)
    ink = np.zeros((4, 4), bool)
    ink[0, :] = True  # top quarter of a 64 px canvas seen on a 4x4 mask
    assert on_ink_share(np.array([[1, 1], [63, 15.9], [63, 16.0], [30, 40]]), ink, 64, 64) == 0.5


def test_non_brushing_reasons_scale_with_the_canvas() -> None:
    region = ink_region(drawing(), 4)
    assert non_brushing(np.array([[1.0, 1.0], [9.0, 9.0]]), region, SIDE, SIDE) == FEW_POINTS
    tol = LINE_TOLERANCE * SIDE  # 1.28 px on 64 px
    off = np.array([[40.0, 50.0], [50.0, 50.0 + 0.95 * tol], [60.0, 50.0]])  # off the stroke (rows 19-21)
    assert line_deviation(off) <= tol and non_brushing(off, region, SIDE, SIDE) == LINE_OFF_INK
    bent = off.copy()
    bent[1, 1] = 50.0 + 2.0 * tol
    assert line_deviation(bent) > tol and non_brushing(bent, region, SIDE, SIDE) is None
    # the tolerance is a share of the canvas: the same pixels on a canvas 10 times larger are a
    # line, the same shape scaled with its canvas is not
    assert non_brushing(bent, None, SIDE * 10, SIDE * 10) == LINE_INK_UNKNOWN
    assert non_brushing(bent * 10, None, SIDE * 10, SIDE * 10) is None
    along = np.array([[12.0, 20.0], [30.0, 21.0], [48.0, 19.5]])
    assert non_brushing(along, region, SIDE, SIDE) is None
    assert non_brushing(along, None, SIDE, SIDE) == LINE_INK_UNKNOWN


def test_rounds_that_are_not_brushing_are_dropped_with_their_reasons() -> None:
    ink = {"s": ink_region(drawing(), 4), "t": ink_region(drawing(), 4)}
    clicks, check = ingest(planted(), SIDE, SIDE, ink=ink)
    assert set(clicks[clicks.stimulus == "s"].trial) == {"along", "wiggle"}
    assert set(clicks[clicks.stimulus == "t"].trial) == {"curve"}
    assert check.non_brushing_rounds == 2 and check.non_brushing_dropped == 2
    assert check.non_brushing_reasons == {FEW_POINTS: 1, LINE_OFF_INK: 1}
    assert check.rounds_kept == 3 and check.points_kept == 6 + 4 + 3 and check.ink_known == 2
    assert check.stimuli_with_rounds == {"1": 2, "2": 1, "4": 0}
    assert check.non_brushing_rule == NON_BRUSHING_RULE and "straight line" in NON_BRUSHING_RULE
    text = "\n".join(check.lines())
    assert "rounds that are not brushing: 2 (fewer than 3 points: 1, straight line off the ink: 1); dropped 2" in text
    assert ">= 1 rounds: 2, >= 2 rounds: 1, >= 4 rounds: 0" in text and NON_BRUSHING_RULE in text


def test_keep_non_brushing_keeps_every_round_and_still_counts_them() -> None:
    ink = {"s": ink_region(drawing(), 4)}
    clicks, check = ingest(planted(), SIDE, SIDE, keep_non_brushing=True, ink=ink)
    assert len(clicks) == len(planted()) and check.rounds_kept == 5
    assert check.non_brushing_rounds == 2 and check.non_brushing_dropped == 0
    assert check.stimuli_with_rounds == {"1": 2, "2": 1, "4": 1}
    assert "KEPT" in "\n".join(check.lines())


def test_without_the_ink_every_straight_round_counts_as_not_brushing() -> None:
    clicks, check = ingest(planted(), SIDE, SIDE)
    assert set(clicks.trial) == {"wiggle", "curve"}
    assert check.non_brushing_reasons == {FEW_POINTS: 1, LINE_INK_UNKNOWN: 2} and check.ink_known == 0
    assert any("ink is unknown for 2 stimuli" in n for n in check.notes)


def test_strict_refuses_rounds_that_are_not_brushing_unless_they_are_kept() -> None:
    ink = {"s": ink_region(drawing(), 4)}
    with pytest.raises(ClicksError, match="not brushing"):
        ingest(planted(), SIDE, SIDE, strict=True, ink=ink)
    assert len(ingest(planted(), SIDE, SIDE, strict=True, keep_non_brushing=True, ink=ink)[0]) == len(planted())
    assert len(normalise_clicks(planted(), SIDE, SIDE)) == len(planted())  # tables built in code keep them


# --- the ClickMe-QuickDraw development half, as shipped --------------------------------------

REAL = Path(__file__).resolve().parents[2] / "data" / "clickme_quickdraw"


def test_the_shipped_export_reads_as_it_is() -> None:
    """``round`` is the trial and ``point`` the order of the points: rows given out of order are
    read back in brushing order."""
    raw = read_clicks_csv(REAL / "clicks.csv")
    assert list(raw.columns) == ["stimulus", "category", "round", "point", "x", "y"]
    shuffled = raw.sample(frac=1.0, random_state=0)
    a, check = ingest(raw, 256, 256, keep_non_brushing=True)
    b, _ = ingest(shuffled, 256, 256, keep_non_brushing=True)
    assert {"stimulus", "trial", "category", "point_index", "x", "y"} <= set(a.columns)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert (a.groupby(["stimulus", "trial"])["point_index"].diff().dropna() > 0).all()
    assert check.points_read == 86_744 and check.stimuli == 125 and check.distinct_rounds == 515
    assert check.short_rounds == 348  # the 2-point (and two 1-point) rounds, all near x = y


def test_the_shipped_export_loses_its_artefact_rounds_and_keeps_straight_strokes_on_ink() -> None:
    stimuli = load_stimuli(REAL / "images")
    ink = {n: ink_region(s.pixels, 14) for n, s in stimuli.items()}
    raw = read_clicks_csv(REAL / "clicks.csv")
    clicks, check = ingest(raw, 256, 256, ink=ink)
    assert check.non_brushing_reasons[FEW_POINTS] == 348 and check.ink_known == 125
    assert check.rounds_kept == 515 - check.non_brushing_rounds
    # every kept round is a stroke, and no kept round runs along the diagonal x = y
    for _, g in clicks.groupby(["stimulus", "trial"]):
        assert len(g) >= 3 and not (np.abs(g.x - g.y) <= 5).all()
    # straight rounds on the ink are kept with the ink and dropped without it
    _, blind = ingest(raw, 256, 256)
    assert blind.non_brushing_reasons[LINE_INK_UNKNOWN] > check.non_brushing_reasons.get(LINE_OFF_INK, 0)
