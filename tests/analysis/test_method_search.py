"""Method search (issue 19, deliver 4): stroke occlusion, the selection rule and the search, with
known answers on tiny models and drawings built here (no downloads)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from analysis import method_search as ms
from analysis.ink import ink_mask
from analysis.stroke_occlusion import StrokeOcclusion, paint, skeletonize, stroke_segments
from models.cfgdm import OneShotCFGDM, small_unet


def two_strokes(size: int = 64) -> np.ndarray:
    """A long horizontal stroke on the left half and a short vertical one on the right, JPEG-like
    paper (noise around 8) and ink (around 245)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 17, size=(size, size)).astype(np.uint8)
    image[10:14, 2:30] = rng.integers(235, 256, size=(4, 28))
    image[30:56, 45:48] = rng.integers(235, 256, size=(26, 3))
    return image


# --- ink and strokes -------------------------------------------------------------------------

def test_skeleton_is_one_pixel_wide_and_inside_the_ink() -> None:
    bar = np.zeros((30, 60), bool)
    bar[10:19, 5:55] = True
    sk = skeletonize(bar)
    assert sk.any() and not (sk & ~bar).any()
    assert (sk[:, 15:45].sum(0) == 1).all()  # away from the ends, one pixel per column


def test_segments_cover_the_ink_and_split_long_strokes() -> None:
    image = two_strokes()
    labels = stroke_segments(image, length=8)
    ink = ink_mask(image)
    assert np.array_equal(labels > 0, ink)
    left = set(np.unique(labels[:, :32])) - {0}
    right = set(np.unique(labels[:, 32:])) - {0}
    assert left and right and not left & right  # no piece spans both strokes
    assert len(left) >= 2  # a ~28 px stroke in pieces of ~8 skeleton px
    assert sorted(left | right) == list(range(1, labels.max() + 1))


# --- stroke occlusion: known answers ---------------------------------------------------------

class Weighted(nn.Module):
    """f(x) = sum of x weighted 3 on rows 0..9, 1 on rows 10..19, 0 below (the forward ignores it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.zeros(x.shape[-2:])
        w[:10] = 3.0
        w[10:20] = 1.0
        return (x * w).sum((1, 2, 3))


def planted() -> tuple[torch.Tensor, np.ndarray]:
    image = torch.zeros(1, 1, 30, 30)
    labels = np.zeros((30, 30), np.int32)
    for label, rows in ((1, slice(2, 5)), (2, slice(12, 15)), (3, slice(22, 25))):
        image[0, 0, rows, 5:25] = 1.0
        labels[rows, 5:25] = label
    return image, labels


def test_stroke_occlusion_ignores_what_the_forward_ignores_and_ranks_what_it_uses() -> None:
    image, labels = planted()
    attr = StrokeOcclusion(Weighted()).attribute(image, 0.0, segments=labels)[0, 0].numpy()
    assert attr.shape == (30, 30)
    assert np.all(attr[labels == 3] == 0)  # rows the forward never reads
    assert np.allclose(attr[labels == 1], 3 * 60) and np.allclose(attr[labels == 2], 60)  # f(x) - f(x - piece)
    assert attr.max() == attr[labels == 1].max() and np.all(attr[labels == 0] == 0)


def test_stroke_occlusion_vector_and_target_read_outs() -> None:
    image, labels = planted()

    class Two(nn.Module):  # column 0 = Weighted, column 1 = the ignored rows only
        def forward(self, x):
            return torch.stack([Weighted()(x), x[:, 0, 20:].sum((1, 2))], 1)

    on_target = StrokeOcclusion(Two()).attribute(image, 0.0, target=1, segments=labels)[0, 0].numpy()
    assert np.allclose(on_target[labels == 3], 60) and np.all(on_target[labels != 3] == 0)
    squared = StrokeOcclusion(Two()).attribute(image, 0.0, segments=labels, reduce="squared_change")[0, 0].numpy()
    assert np.allclose(squared[labels == 1], (180 ** 2) / 2) and np.allclose(squared[labels == 3], (60 ** 2) / 2)
    # batching the perturbations does not change the answer
    again = StrokeOcclusion(Two()).attribute(image, 0.0, segments=labels, reduce="squared_change",
                                             perturbations_per_eval=1)[0, 0].numpy()
    assert np.allclose(squared, again)


def test_paint_puts_each_value_on_its_piece() -> None:
    labels = np.array([[0, 1], [2, 2]])
    assert np.array_equal(paint(labels, [5.0, -1.0]), np.array([[0, 5], [-1, -1]], np.float32))


# --- statistics and the rule -----------------------------------------------------------------

def test_search_brush_is_the_original_square_scaled() -> None:
    from analysis.brush import LEGACY_CLICKME_SQUARE, Brush

    assert ms.search_brush(ms.SearchSettings(), (256, 256)) == LEGACY_CLICKME_SQUARE
    small = ms.search_brush(ms.SearchSettings(), (64, 64))
    assert small == Brush("square", 3.5) and small.side == 4 and small.reach == 2.0
    counts = small.footprints([np.array([[10.0, 10.0], [10.5, 10.0]])], 32, 32).sum(0)
    assert counts.max() == 1  # overlapping points of one round count once
    assert np.array_equal(np.argwhere(counts[10] > 0).ravel(), np.arange(8, 13))  # cols 8..11, and 12 for x=10.5
    assert np.array_equal(np.argwhere(counts[:, 9] > 0).ravel(), np.arange(8, 12))  # rows 8..11 (4 px)


def test_median_ci() -> None:
    out = ms.median_ci([1.0, 2.0, 3.0, np.nan], 500, 0)
    assert out["median"] == 2.0 and out["n"] == 3 and 1.0 <= out["lo"] <= 2.0 <= out["hi"] <= 3.0


def summary(seed: float, margin: float, lo: float) -> dict:
    return {"seed_agreement": {"median": seed}, "margin": {"median": margin, "lo": lo}}


def test_rule_picks_the_planted_best_candidate() -> None:
    phase1 = {"noisy_but_big": summary(0.3, 0.6, 0.4), "best": summary(0.8, 0.4, 0.2),
              "reliable_small": summary(0.9, 0.1, 0.05), "like_random": summary(0.95, -0.1, -0.2)}
    choice = ms.choose(phase1, 0.5)
    assert choice["method"] == "best" and choice["passes_controls"]
    assert set(choice["seed_reliable"]) == {"best", "reliable_small", "like_random"}
    only_random = ms.choose({"like_random": summary(0.95, -0.1, -0.2), "noisy": summary(0.2, 0.5, 0.3)}, 0.5)
    assert only_random["method"] == "like_random" and not only_random["passes_controls"]
    none = ms.choose({"a": summary(0.2, 0.5, 0.3), "b": summary(0.4, 0.1, 0.0), "c": summary(None, None, None)}, 0.5)
    assert none["method"] == "b" and not none["passes_controls"] and "NO METHOD PASSES" in none["reason"]


def test_seed_agreement_of_a_deterministic_method_is_one() -> None:
    image = two_strokes()
    labels = stroke_segments(image, length=8)
    x = torch.as_tensor(image, dtype=torch.float32)[None, None]
    maps = []
    for seed in (0, 1):  # a seedless forward: another seed changes nothing
        torch.manual_seed(seed)
        maps.append({"m": StrokeOcclusion(Weighted()).attribute(x, 0.0, segments=labels)[0, 0].numpy() + 1e-3 * labels})
    rng = np.random.default_rng(0)
    random = {"d": {"m": rng.random((64, 64))}}
    table = ms.phase1_values({"d": maps[0]}, {"d": maps[1]}, random, {"d": ink_mask(image)}, (64, 64),
                             ms.SearchSettings())
    assert table.loc[0, "seed_agreement"] == pytest.approx(1.0)


# --- the search, end to end ------------------------------------------------------------------

def tiny_study(size: int = 64) -> tuple[pd.DataFrame, dict]:
    from analysis.stimuli import Stimulus

    images = {"a_1": two_strokes(size), "b_1": two_strokes(size)[::-1].copy(), "c_1": two_strokes(size).T.copy(),
              "d_1": two_strokes(size)}
    rows = []

    def round_(stim, trial, points):
        for i, (x, y) in enumerate(points):
            rows.append({"stimulus": stim, "round": trial, "category": stim[0], "point": i, "x": x, "y": y})

    # each drawing's rounds follow its own strokes (b_1 is a_1 flipped upside down, c_1 transposed):
    # straight rounds on the ink are brushing, by the package's non-brushing rule
    along = {"a_1": lambda x, y: (x, y), "b_1": lambda x, y: (x, size - 1 - y), "c_1": lambda x, y: (y, x)}
    for stim, moved in along.items():
        round_(stim, f"{stim}:1", [moved(x, y) for x, y in [(5, 11), (12, 12), (20, 12), (28, 11)]])
        round_(stim, f"{stim}:2", [moved(x, y) for x, y in [(46, 32), (46, 40), (46, 50)]])
        round_(stim, f"{stim}:3", [(30, 30), (31, 31)])  # 2 points: the artefact, dropped
    round_("d_1", "d_1:1", [(5, 11), (12, 12), (20, 12)])  # one genuine round only: excluded
    round_("d_1", "d_1:2", [(3, 3), (4, 4)])
    stimuli = {k: Stimulus(k, v, k[0]) for k, v in images.items()}
    return pd.DataFrame(rows), stimuli


def tiny_model() -> OneShotCFGDM:
    torch.manual_seed(0)
    return OneShotCFGDM(small_unet((8, 16)), num_train_timesteps=50)


def test_search_runs_end_to_end_writes_the_rule_first_and_resumes(tmp_path, monkeypatch) -> None:
    clicks, stimuli = tiny_study()
    settings = ms.SearchSettings.quick()
    plan = tmp_path / "plan" / "method_search.json"

    def no_humans(*args, **kwargs):  # the choice must be on disk before any human map is built
        raise RuntimeError("phase 2 reached")

    monkeypatch.setattr(ms, "phase2_values", no_humans)
    with pytest.raises(RuntimeError, match="phase 2 reached"):
        ms.run_search(clicks, stimuli, tmp_path / "out", (64, 64), settings, model=tiny_model(), plan_path=plan,
                      progress=lambda _: None)
    early = json.loads(plan.read_text())
    assert early["rule"].startswith("Chosen before any alignment") and early["choice"]["method"] in ms.CANDIDATES
    assert "alignment" not in next(iter(early["candidates"].values()))
    monkeypatch.undo()

    def no_recompute(*args, **kwargs):  # every map is cached by the first run
        raise AssertionError("recomputed a cached map")

    monkeypatch.setattr(ms, "drawing_maps", no_recompute)
    record = ms.run_search(clicks, stimuli, tmp_path / "out", (64, 64), settings, model=tiny_model(),
                           plan_path=plan, progress=lambda _: None)
    assert record["n_drawings"] == 3 and record["drawings"] == ["a_1", "b_1", "c_1"]
    assert record["data"]["non_brushing_dropped"] == 4 and record["data"]["genuine_rounds_used"] == 6
    assert set(record["candidates"]) == set(ms.CANDIDATES)
    for c in record["candidates"].values():
        gap = c["alignment"]["trained_minus_random"]
        assert gap["n_drawings"] == 3 and len(gap["ci_stimulus"]) == 2
        assert c["seed_agreement"]["n"] == 3
    assert (record["choice"]["method"], record["choice"]["reason"]) == (early["choice"]["method"],
                                                                        early["choice"]["reason"])
    assert json.loads(plan.read_text())["status"] == "done"
    assert (tmp_path / "out" / "method_search.md").read_text().startswith("n = 3 drawings")


def test_native_resolution_check_reports_each_scale() -> None:
    out = ms.native_resolution_check(tiny_model(), [two_strokes(), two_strokes()[::-1].copy()], steps=3)
    assert out["1x"]["input"] == "32x32" and out["2x"]["input"] == "64x64"
    assert np.isfinite(out["2x"]["follows"])
