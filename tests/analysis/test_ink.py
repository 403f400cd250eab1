"""Ink is the drawing's strokes by Otsu's threshold (`analysis.ink`), not every pixel above 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.attribution import ink_share
from analysis.ink import INK_RULE, dilate, ink_mask, ink_region
from analysis.stimuli import at_size, load_stimuli

REAL = Path(__file__).resolve().parents[2] / "data" / "clickme_quickdraw" / "images"


def strokes() -> tuple[np.ndarray, np.ndarray]:
    """``(image, truth)``: a 40x40 uint8 drawing, a box outline and a diagonal bar (one of them
    touching the right border) in white on black paper with JPEG-like noise up to 15 of 255."""
    truth = np.zeros((40, 40), bool)
    truth[5:8, 5:30] = truth[5:30, 5:8] = truth[27:30, 5:30] = truth[5:30, 27:30] = True
    truth[18:21, 20:40] = True  # runs off the right edge
    rng = np.random.default_rng(1)
    image = rng.integers(0, 16, truth.shape).astype(np.uint8)
    image[truth] = rng.integers(200, 256, int(truth.sum()))
    return image, truth


def test_a_drawing_with_known_strokes_gives_exactly_its_strokes() -> None:
    image, truth = strokes()
    np.testing.assert_array_equal(ink_mask(image), truth)
    # black on white, float in [0, 1], float in [0, 255] and RGB are read the same way
    np.testing.assert_array_equal(ink_mask(255 - image), truth)
    np.testing.assert_array_equal(ink_mask(image / 255.0), truth)
    np.testing.assert_array_equal(ink_mask((255 - image).astype(np.float32)), truth)
    np.testing.assert_array_equal(ink_mask(np.repeat(image[..., None], 3, axis=-1)), truth)
    assert (image > 0).mean() > 0.9  # the old rule: nearly every pixel was "ink"


def test_paper_noise_alone_is_no_ink() -> None:
    noise = np.random.default_rng(2).integers(0, 40, (32, 32)).astype(np.uint8)
    assert not ink_mask(noise).any()
    assert not ink_mask(np.zeros((8, 8))).any() and not ink_mask(np.full((8, 8), 255, np.uint8)).any()
    with pytest.raises(ValueError):
        ink_mask(np.zeros((2, 2, 2, 2)))


def test_ink_region_is_the_ink_dilated_by_a_disc() -> None:
    image = np.zeros((9, 9), np.uint8)
    image[4, 4] = 255
    assert ink_region(image, 0).sum() == 1
    region = ink_region(image, 2)
    assert region.sum() == 13  # the pixels within 2 px: 1 + 4 + 4 (diagonals at 1.41) + 4
    assert region[4, 2] and region[2, 4] and region[3, 3] and not region[2, 3]
    assert not dilate(np.zeros((5, 5), bool), 3).any()
    with pytest.raises(ValueError):
        dilate(region, -1)
    assert "Otsu" in INK_RULE


def test_real_jpeg_stimuli_have_a_small_ink_share_and_their_noise_is_paper() -> None:
    """All 125 ClickMe-QuickDraw stimuli: JPEG paper is noisy (never exactly 0), yet ink is a
    small share of the canvas and no dark pixel counts."""
    stimuli = load_stimuli(REAL)
    assert len(stimuli) == 125
    for name, st in stimuli.items():
        pixels = st.pixels
        mask = ink_mask(pixels)
        assert (pixels > 0).mean() > 0.9, name  # what "pixel > 0" made of it
        assert 0.03 <= mask.mean() <= 0.30, name
        assert not mask[pixels <= 20].any(), name  # paper noise is never ink
        assert mask[pixels >= 128].all(), name  # the strokes' core always is
        assert 0.03 <= ink_mask(at_size(pixels, 28, 28)).mean() <= 0.35, name


def test_ink_share_uses_the_strokes_of_real_jpeg_stimuli() -> None:
    stimuli = load_stimuli(REAL)
    images = np.stack([stimuli[n].pixels for n in ("6_4", "0_1")])
    # a uniform map credits ink exactly in proportion to its area
    on_ink, area = ink_share(np.ones((2, 28, 28)), images)
    assert on_ink == pytest.approx(area) and 0.03 < area < 0.35
    # a map that is the ink itself puts all of its mass on ink
    own = np.stack([ink_mask(at_size(im, 28, 28)) for im in images]).astype(float)
    assert ink_share(own, images)[0] == pytest.approx(1.0)
