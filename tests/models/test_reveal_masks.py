"""Batched brush masks must equal `render.brush_mask`, and simulated reveals must look like play.

The classifier is trained and evaluated on `random_reveals`; if those masks followed a different
rule than the game's server, training would teach the wrong inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import render
from models.reveal_masks import brush_masks, ink_fraction, random_reveals

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "strokes_sample.ndjson"


def fixture_bitmaps() -> torch.Tensor:
    lines = FIXTURE.read_text().splitlines()
    return torch.from_numpy(np.stack([render.strokes_to_bitmap(json.loads(l)["drawing"])
                                      for l in lines]))


@pytest.mark.parametrize("width,height", [(28, 28), (17, 9), (40, 64)])
def test_brush_masks_equal_render_brush_mask(width: int, height: int) -> None:
    rng = np.random.default_rng(width * height)
    n_batch, n_points = 12, 9
    # Points inside, on the border and beyond the frame; pixel centres and corners exactly.
    points = rng.uniform(-3, max(width, height) + 3, size=(n_batch, n_points, 2))
    points[:, :3] = rng.integers(0, min(width, height), size=(n_batch, 3, 2)) + 0.5
    points[:, 3:5] = rng.integers(0, min(width, height), size=(n_batch, 2, 2)).astype(float)
    radius = rng.uniform(0.3, 4.0, size=n_batch)
    radius[:3] = [0.5, 1.0, np.sqrt(0.5)]  # discs through pixel centres at exactly the radius
    valid = rng.random((n_batch, n_points)) < 0.7
    got = brush_masks(torch.from_numpy(points), width, height, torch.from_numpy(radius),
                      torch.from_numpy(valid), chunk=4).numpy()
    for b in range(n_batch):
        want = render.brush_mask(points[b][valid[b]], width, height, float(radius[b]))
        np.testing.assert_array_equal(got[b], want)


def test_brush_masks_scalar_radius_and_no_valid() -> None:
    points = torch.tensor([[[3.5, 5.5], [10.0, 10.0]]], dtype=torch.float64)
    got = brush_masks(points, 28, 28, 1.0)[0].numpy()
    np.testing.assert_array_equal(got, render.brush_mask(points[0].numpy(), 28, 28, 1.0))
    assert got.sum() == 5 + 4  # a plus around a pixel centre, 4 pixels around a corner


def test_random_reveal_masks_are_the_union_of_their_points() -> None:
    images = fixture_bitmaps()
    rv = random_reveals(images, torch.Generator().manual_seed(1))
    for b in range(len(images)):
        pts = rv.points[b][rv.valid[b]].numpy()
        want = render.brush_mask(pts, 28, 28, float(rv.radius[b]))
        np.testing.assert_array_equal(rv.masks[b].numpy(), want)
    np.testing.assert_allclose(rv.ink_fraction.numpy(),
                               ink_fraction(images, rv.masks).numpy(), rtol=1e-6)


def test_random_reveals_are_seeded() -> None:
    images = fixture_bitmaps()
    a = random_reveals(images, torch.Generator().manual_seed(7))
    b = random_reveals(images, torch.Generator().manual_seed(7))
    c = random_reveals(images, torch.Generator().manual_seed(8))
    assert torch.equal(a.masks, b.masks) and torch.equal(a.points, b.points)
    assert not torch.equal(a.masks, c.masks)


def test_reveals_stop_at_their_target_and_span_all_fractions() -> None:
    images = fixture_bitmaps().repeat(40, 1, 1)  # 360 reveals of 9 drawings
    rv = random_reveals(images, torch.Generator().manual_seed(0))
    frac, target = rv.ink_fraction.numpy(), rv.target_fraction.numpy()
    n_points = rv.valid.sum(1).numpy()
    assert (n_points >= 1).all()
    reached = frac >= target
    assert reached.mean() > 0.95  # the walk almost always reveals enough ink in 96 points
    # Brushing stops at the first point that reaches the target: one point fewer would not.
    for b in np.flatnonzero(reached & (n_points > 1))[:50]:
        pts = rv.points[b][rv.valid[b]].numpy()[:-1]
        fewer = render.brush_mask(pts, 28, 28, float(rv.radius[b]))
        assert ink_fraction(images[b:b + 1], torch.from_numpy(fewer)[None]).item() < target[b]
    counts = np.histogram(frac, bins=10, range=(0, 1.0 + 1e-9))[0]
    assert counts.min() >= 15, counts  # every 10% bin of revealed ink is populated


def test_reveal_points_mostly_lie_on_ink() -> None:
    images = fixture_bitmaps().repeat(20, 1, 1)
    rv = random_reveals(images, torch.Generator().manual_seed(3))
    b, p = torch.nonzero(rv.valid, as_tuple=True)
    xy = rv.points[b, p]
    col = xy[:, 0].floor().long().clamp(0, 27)
    row = xy[:, 1].floor().long().clamp(0, 27)
    on_ink = (images[b, row, col] > 0).double().mean().item()
    assert on_ink > 0.8
    assert on_ink < 1.0  # some points are off the drawing, as with real players


def test_brush_radius_follows_the_game_default_with_jitter() -> None:
    images = fixture_bitmaps()
    rv = random_reveals(images, torch.Generator().manual_seed(0), radius_jitter=(1.0, 1.0))
    assert torch.allclose(rv.radius, torch.full_like(rv.radius, render.brush_radius_px(28, 28)))
    rv = random_reveals(images.repeat(10, 1, 1), torch.Generator().manual_seed(0))
    base = render.brush_radius_px(28, 28)
    assert rv.radius.min() >= 0.8 * base and rv.radius.max() <= 1.25 * base
    assert rv.radius.std() > 0


def test_blank_images_reveal_nothing_and_do_not_crash() -> None:
    images = torch.zeros((4, 28, 28), dtype=torch.uint8)
    rv = random_reveals(images, torch.Generator().manual_seed(0), max_points=10)
    assert (rv.ink_fraction == 0).all()
    assert rv.valid.all()  # never reaches a positive target, so it brushes every point
