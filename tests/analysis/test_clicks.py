"""The one ingestion rule for click tables: off-canvas points, exact repeats, the data check."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.clicks import ClicksError, ingest


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
    clicks, check = ingest(messy(), 28, 28)
    r3 = clicks[clicks.trial == "r3"]
    assert r3.x.tolist() == [0.0, 10.0, 28.0]  # -7e-16 and 28.5 clipped, 40 dropped
    assert check.off_canvas_points_clipped == 2 and check.off_canvas_points_dropped == 3
    assert check.rounds_emptied_off_canvas == 1 and "r4" not in set(clicks.trial)


def test_exact_repeats_of_a_round_are_dropped_and_counted() -> None:
    clicks, check = ingest(messy(), 28, 28)
    assert check.repeated_rounds == 2 and check.repeated_rounds_dropped == 2
    assert set(clicks[clicks.stimulus == "a"].trial) == {"r1", "r3", "r5"}
    assert set(clicks[clicks.stimulus == "b"].trial) == {"r1"}  # the same path on another stimulus is no repeat
    assert check.distinct_rounds == 4 and check.rounds_kept == 4 and check.points_kept == 3 + 3 + 1 + 3
    kept, check = ingest(messy(), 28, 28, keep_repeats=True)
    assert check.repeated_rounds_dropped == 0 and {"r2", "r2b"} <= set(kept.trial)
    # order matters: the same points in another order are a different path
    reordered = messy()
    reordered.loc[reordered.trial == "r2", ["x", "y"]] = [[5.0, 6.0], [3.0, 4.0], [7.0, 9.0]]
    assert ingest(reordered, 28, 28)[1].repeated_rounds == 1


def test_data_check_counts_short_rounds_diagonal_points_and_missing_participants() -> None:
    _, check = ingest(messy(), 28, 28)
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
