"""Each metric on constructed maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import metrics


def blobs(centres, size=64, sigma=3.0):
    rows, cols = np.indices((size, size))
    return sum(np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * sigma ** 2)) for r, c in centres)


ONE = blobs([(32, 32)])
THREE = blobs([(12, 12), (12, 50), (50, 32)])
POINT = np.zeros((64, 64))
POINT[20, 40] = 1.0
UNIFORM = np.ones((64, 64))


def test_feature_count_one_vs_three_blobs():
    assert metrics.feature_count(ONE) == 1
    assert metrics.feature_count(THREE) == 3
    assert metrics.feature_count(THREE, p=0.9) == 3  # separated blobs stay separate
    assert metrics.feature_count(THREE, p=0.05) == 0  # 3 px per blob: specks below min_area
    assert metrics.feature_count(np.zeros((8, 8))) == 0


def test_feature_count_ignores_specks_below_min_area():
    m = ONE.copy()
    m[2, 2] = m.max()  # a one-pixel speck inside the mass set
    assert metrics.feature_count(m, p=0.9) == 1
    assert metrics.feature_count(m, p=0.9, min_area=1) == 2


def test_mass_mask_carries_the_requested_mass():
    mask = metrics.mass_mask(THREE, 0.5)
    share = THREE[mask].sum() / THREE.sum()
    threshold = THREE[mask].min()
    assert 0.5 <= share and THREE[THREE > threshold].sum() / THREE.sum() < 0.5  # only the tie at the cut is extra


def test_localisation_extremes_point_vs_uniform():
    assert metrics.area_fraction(POINT) == pytest.approx(1 / 4096)
    assert metrics.area_fraction(UNIFORM) == 1.0  # all pixels tie: no half of a uniform map is preferred
    assert metrics.gini(POINT) == pytest.approx(1, abs=1e-3) and metrics.gini(UNIFORM) == pytest.approx(0)
    assert metrics.entropy(POINT) == 0 and metrics.entropy(UNIFORM) == pytest.approx(1)
    assert metrics.spread(POINT) == 0
    assert metrics.spread(UNIFORM) == pytest.approx(np.sqrt(2 * (64 ** 2 - 1) / 12), rel=1e-6)
    assert metrics.spread(ONE) < metrics.spread(THREE)
    assert metrics.spread(UNIFORM, drawing=UNIFORM) == pytest.approx(1)


def test_alignment_identical_and_unrelated_maps():
    assert metrics.spearman(THREE, THREE) == pytest.approx(1)
    assert metrics.iou_auc(THREE, THREE) == pytest.approx(1, abs=0.01)  # symmetric blobs tie: expected share
    assert metrics.emd(THREE, THREE) == pytest.approx(0, abs=1e-9)
    far = blobs([(5, 5)])
    near = blobs([(10, 10)])
    assert metrics.emd(far, ONE) > metrics.emd(near, ONE) > 0
    assert metrics.spearman(far, ONE) < metrics.spearman(near, ONE)
    assert metrics.iou_auc(far, ONE) < metrics.iou_auc(near, ONE) < 1
    assert np.isnan(metrics.spearman(UNIFORM, ONE))


def test_emd_is_the_distance_moved_in_canvas_diagonals():
    a = np.zeros((16, 16))
    b = np.zeros((16, 16))
    a[2, 3] = 1
    b[2, 11] = 1  # the same mass moved 8 pixels right
    assert metrics.emd(a, b) == pytest.approx(8 / np.hypot(16, 16), rel=1e-6)
    big_a, big_b = np.kron(a, np.ones((4, 4))), np.kron(b, np.ones((4, 4)))
    assert metrics.emd(big_a, big_b) == pytest.approx(metrics.emd(a, b), rel=1e-6)  # scale free


def discs(centres, size=64, radius=5):
    rows, cols = np.indices((size, size))
    return sum(((rows - r) ** 2 + (cols - c) ** 2 <= radius ** 2).astype(float) for r, c in centres)


def test_feature_count_keeps_tied_pixels_together():
    four = discs([(12, 12), (12, 50), (50, 12), (50, 50)])
    assert metrics.feature_count(four, p=0.5) == 4  # no disc outranks another: all four hold the mass
    assert metrics.area_fraction(four, p=0.5) == pytest.approx(four.astype(bool).mean())
    assert metrics.feature_count(four + 0.01 * discs([(12, 12)]), p=0.2) == 1  # a brighter disc wins alone


def test_iou_auc_of_unrelated_sparse_maps_is_at_chance_and_ties_are_not_broken_by_position():
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(5):
        a, b = rng.random((48, 48)), rng.random((48, 48))
        a[a < 0.7], b[b < 0.7] = 0, 0  # 70% exact zeros, like a sparse attribution map
        scores.append(metrics.iou_auc(a, b))
    assert np.mean(scores) == pytest.approx(metrics.IOU_AUC_CHANCE, abs=0.01)
    assert metrics.IOU_AUC_CHANCE == pytest.approx(2 * np.log(2) - 1, abs=0.01)
    left, right = np.zeros((20, 20)), np.zeros((20, 20))
    left[:2, :2], right[-2:, -2:] = 1, 1  # disjoint spots; zeros everywhere else
    assert metrics.iou_auc(left, right) < metrics.IOU_AUC_CHANCE
