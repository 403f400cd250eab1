"""Statistics with known answers: the noise ceiling, Holm, category bootstrap, participant
intervals, the sensitivity table, categories, and what the report states."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import compare as compare_module
from analysis.compare import CompareOptions, compare, run_compare
from analysis.maps import human_map, prepare_map
from analysis.metrics import spearman
from analysis.reliability import split_half
from analysis.simulate import simulate_clicks, stroke_polylines, stroke_rounds
from analysis.stats import bootstrap_ci, holm, noise_normalised
from analysis.stimuli import category_from_name, load_stimuli
from models import render

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "data" / "examples"


def test_a_perfect_model_reaches_the_noise_ceiling() -> None:
    """The map that generates the clicks (estimated from 600 rounds) against human maps of 6."""
    size = 64
    radius = render.brush_radius_px(size, size)
    lines = (EXAMPLES / "legacy" / "drawings.ndjson").read_text().splitlines()[:16]
    rhos, reliabilities = [], []
    for i, line in enumerate(lines):
        strokes = stroke_polylines(json.loads(line)["drawing"], size)
        rng = np.random.default_rng(i)
        preference = rng.dirichlet(np.full(len(strokes), 0.5))
        people = stroke_rounds(strokes, preference, size, 6, rng)
        truth = human_map(stroke_rounds(strokes, preference, size, 600, rng), size, size, radius)
        rhos.append(spearman(truth, human_map(people, size, size, radius)))
        reliabilities.append(split_half(people, size, size, radius, n_splits=20, seed=i))
    result = noise_normalised(rhos, reliabilities, n_boot=200)
    assert result["normalised"] == pytest.approx(1.0, abs=0.08)
    assert result["lo"] < 1.0 < result["hi"]
    # the old rule (per-stimulus rho / R, averaged) overshoots for the very same perfect model
    assert np.mean(np.array(rhos) / np.array(reliabilities)) > 1.15


def test_noise_normalisation_is_undefined_without_a_positive_ceiling() -> None:
    assert noise_normalised([0.2, 0.3], [-0.1, 0.05])["normalised"] is None


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_category_bootstrap_is_wider_when_stimuli_of_a_category_agree() -> None:
    rng = np.random.default_rng(0)
    values = np.repeat(rng.normal(0, 1, 8), 10) + rng.normal(0, 0.05, 80)  # 8 categories x 10 stimuli
    groups = np.repeat([f"c{i}" for i in range(8)], 10)
    stimulus, category = bootstrap_ci(values, seed=1), bootstrap_ci(values, groups, seed=1)
    assert (category["hi"] - category["lo"]) > 2.5 * (stimulus["hi"] - stimulus["lo"])


def test_numbered_names_are_not_categories() -> None:
    assert category_from_name("0_0") is None and category_from_name("12-3") is None
    assert category_from_name("cat_12") == "cat"


def _whole_drawing_machine(names, stimuli, width, height, sources, options, **_):
    """A stand-in classifier whose map covers the whole drawing; unknown categories marked as the
    real `machine_maps` marks them."""
    maps = {n: prepare_map(stimuli[n].pixels.astype(float) + 1.0, width, height, 0) for n in names}
    target = {n: "category" if stimuli[n].category in ("airplane", "apple") else compare_module.UNKNOWN_TARGET
              for n in names}
    return {"classifier": maps}, {"classifier": {"method": "whole drawing", "target": target}}, []


@pytest.fixture()
def six(monkeypatch: pytest.MonkeyPatch):
    stimuli = load_stimuli(EXAMPLES / "stimuli")
    names = sorted(stimuli)[:6]
    monkeypatch.setattr(compare_module, "machine_maps", _whole_drawing_machine)
    return {n: stimuli[n] for n in names}


def test_summary_has_category_intervals_holm_sensitivity_and_participant_intervals(six) -> None:
    clicks = simulate_clicks({n: s.pixels for n, s in six.items()}, n_observers=10, agreement=1.0, n_spots=1, seed=3)
    result = compare(clicks, six, 28, 28, ("human", "classifier"), CompareOptions.quick())
    s = result.summary
    gini = s["sources"]["human"]["gini"]
    assert gini["category_lo"] <= gini["mean"] <= gini["category_hi"]
    tests = s["tests"]["classifier"]
    assert all(t["p_holm"] >= t["p"] for t in tests.values() if t["p"] is not None)
    assert tests["area_fraction"]["conclusion"] in ("human lower", "no difference")
    settings = {row["setting"] for row in s["sensitivity"]}
    assert settings == {"as run", "σ ×0.5", "σ ×2", "radius ×0.5", "radius ×2", "p = 0.3", "p = 0.8"}
    as_run = {r["metric"]: r for r in s["sensitivity"] if r["setting"] == "as run"}
    assert as_run["gini"]["p_holm"] == pytest.approx(tests["gini"]["p_holm"])
    # "as run" rebuilds the machine maps with the run's brush disc and blur: the same maps, the same tests
    for metric, row in as_run.items():
        assert row["mean_difference"] == pytest.approx(tests[metric]["mean_difference"]), metric
    assert {r["mass"] for r in s["sensitivity"]} == {0.3, 0.5, 0.8}
    assert len(s["per_category"]) == 6 and s["per_category"][0]["n_stimuli"] == 1
    for key, interval in s["participant_ci"].items():  # intervals contain their own estimate
        if interval["lo"] is not None:
            assert interval["lo"] <= interval["estimate"] <= interval["hi"], key
    assert s["participant_ci"]["human.gini"]["estimate"] == pytest.approx(gini["mean"])
    assert s["participant_ci_skipped"] is None
    noise = s["noise_normalised"]["classifier"]
    assert noise["normalised"] == pytest.approx(noise["mean_rho"] / np.sqrt(noise["mean_reliability"]))


def test_without_participant_ids_the_interval_is_skipped_and_said(six) -> None:
    clicks = simulate_clicks({n: s.pixels for n, s in six.items()}, n_observers=6, seed=3).drop(columns="participant")
    result = compare(clicks, six, 28, 28, ("human", "classifier"), CompareOptions.quick())
    assert result.summary["participant_ci"] is None
    assert "no participant ids" in result.summary["participant_ci_skipped"]


def test_run_compare_marks_unknown_categories_and_states_mode_origin_and_settings(six, tmp_path, capsys) -> None:
    clicks = simulate_clicks({n: s.pixels for n, s in six.items()}, n_observers=6, seed=3).drop(columns="participant")
    renamed = {n: f"{i}_0" for i, n in enumerate(six)}  # legacy names: no category in them
    clicks["stimulus"] = clicks["stimulus"].map(renamed)
    folder = tmp_path / "stimuli"
    folder.mkdir()
    for name in six:
        (folder / f"{renamed[name]}.png").write_bytes((EXAMPLES / "stimuli" / f"{name}.png").read_bytes())
    clicks.to_csv(tmp_path / "clicks.csv", index=False)
    table = pd.DataFrame({"stimulus": list(renamed.values()), "category": [six[n].category for n in renamed]})
    table.to_csv(tmp_path / "categories.csv", index=False)
    out = tmp_path / "out"
    summary = run_compare(tmp_path / "clicks.csv", folder, (28, 28), out, quick=True, sources="human,classifier",
                          categories=tmp_path / "categories.csv", simulated=True, progress=lambda m: None)
    err = capsys.readouterr().err
    assert "4 of 6 stimuli have a category the classifier does not know" in err
    assert "no participant ids" in err
    per_stimulus = pd.read_csv(out / "per_stimulus.csv")
    assert set(per_stimulus["category"]) == {six[n].category for n in six}  # from the table, not "0"
    assert (per_stimulus["classifier.target"] == compare_module.UNKNOWN_TARGET).sum() == 4
    assert len(summary["categories"]["classifier_unknown_category"]) == 4
    report = (out / "report.html").read_text()
    assert "Clicks: SIMULATED" in report and "quick" in report and "blur σ" in report
    assert "category the classifier does not know" in report and "Skipped: no participant ids" in report
    assert str(tmp_path) not in report and "clicks.csv" in report  # inputs by file name only
    assert "Data check" in report and "√R" in report and "Holm" in report
    assert json.loads((out / "data_check.json").read_text())["participant_ids"] is False
    # without the table the legacy names give no category at all, and that is said too
    run_compare(tmp_path / "clicks.csv", folder, (28, 28), tmp_path / "o2", quick=True, sources="human,classifier",
                progress=lambda m: None)
    assert "6 stimuli have no category" in capsys.readouterr().err


def test_the_alignment_legend_hides_no_point(six) -> None:
    import matplotlib.pyplot as plt

    from analysis.plots import alignment

    clicks = simulate_clicks({n: s.pixels for n, s in six.items()}, n_observers=6, seed=3)
    result = compare(clicks, six, 28, 28, ("human", "classifier"), CompareOptions.quick())
    result.table.loc[:, "classifier.spearman"] = np.linspace(-1, 1, len(result.table))  # points everywhere
    fig = alignment(result)
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    points = np.concatenate([ax.transData.transform(c.get_offsets()) for c in ax.collections])
    assert not any(box.contains(x, y) for x, y in points)
    assert fig.bbox.contains(box.x1 - 1, box.y0 + 1)  # and the legend is on the figure, not cut off
    plt.close(fig)
