"""static/js/geometry.js must reveal exactly the pixels models/render.py reveals.

The page shows the player (and the "what the AI sees" view) a mask computed in JS, while the
classifier sees a mask computed by the server in Python. These tests run geometry.js in real
Chromium on random and adversarial inputs and compare with render.py bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import render
from tests.browser.conftest import STATIC_ORIGIN

IMPORT = f"import('{STATIC_ORIGIN}/static/js/geometry.js')"


def js_masks(page, cases: list[dict]) -> list[str]:
    """brushMask for each case, evaluated in the page, as '0'/'1' strings."""
    return page.evaluate(
        f"""async (cases) => {{
            const g = await {IMPORT};
            return cases.map((c) => g.maskBits(g.brushMask(c.points, c.width, c.height, c.radius)));
        }}""",
        cases,
    )


def py_bits(case: dict) -> str:
    mask = render.brush_mask(np.asarray(case["points"], dtype=np.float64).reshape(-1, 2),
                             case["width"], case["height"], case["radius"])
    return "".join("1" if v else "0" for v in mask.ravel())


def boundary_cases() -> list[dict]:
    """Points whose discs pass exactly through pixel centres (distance == radius in float64),
    the bounding-box edges, points on and beyond the frame, and one-ulp nudges."""
    cases = []
    # Pythagorean triples: centres at exact distances 5, 13, 10 from a pixel centre.
    for r, (a, b) in [(5.0, (3, 4)), (13.0, (5, 12)), (10.0, (6, 8)), (3.0, (3, 0))]:
        x, y = 20.5, 20.5
        cases.append({"width": 48, "height": 48, "radius": r, "points": [[x, y], [x + a + 0.0, y - b]]})
    # Exactly representable fractional distances: 1.5^2 + 2^2 == 2.5^2.
    cases.append({"width": 9, "height": 7, "radius": 2.5, "points": [[4.0, 3.5], [1.0, 1.0]]})
    # One ulp inside and outside the boundary.
    for nudge in (math.nextafter(3.5, 0.0), math.nextafter(3.5, 10.0)):
        cases.append({"width": 12, "height": 12, "radius": 3.0, "points": [[nudge, 0.5]]})
    # The frame's corners and edges, points outside it, tiny and huge radii, a 1x1 image.
    cases.append({"width": 28, "height": 28, "radius": 1.96,
                  "points": [[0, 0], [28, 28], [0, 28], [28, 0], [14, 0], [0, 14]]})
    cases.append({"width": 28, "height": 28, "radius": 1.96, "points": [[-1.5, 3], [30.2, 27.9], [14, -2.5]]})
    cases.append({"width": 1, "height": 1, "radius": 0.5, "points": [[0.0, 0.5]]})
    cases.append({"width": 5, "height": 3, "radius": 0.01, "points": [[2.5, 1.5], [0.5001, 0.5]]})
    cases.append({"width": 6, "height": 4, "radius": 100.0, "points": [[3, 2]]})
    # Radii the game really uses: brush_radius_px of common stimulus sizes.
    for w, h in [(28, 28), (105, 105), (256, 256), (40, 17)]:
        r = render.brush_radius_px(w, h)
        cases.append({"width": w, "height": h, "radius": r,
                      "points": [[w / 2, h / 2], [0.5 + r, 0.5], [w - 0.5, h - 0.5 - r]]})
    return cases


def random_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        w, h = (int(v) for v in rng.integers(1, 80, size=2))
        r = float(rng.choice([rng.uniform(0.05, 12.0), render.brush_radius_px(w, h, rng.uniform(0.01, 0.3))]))
        k = int(rng.integers(1, 25))
        pts = np.stack([rng.uniform(-2, w + 2, k), rng.uniform(-2, h + 2, k)], axis=1)
        # Half the points snap to quarter pixels, where boundary ties are common.
        if rng.random() < 0.5:
            pts = np.round(pts * 4) / 4
        cases.append({"width": w, "height": h, "radius": r, "points": pts.tolist()})
    return cases


def test_boundary_cases_match_render_bit_for_bit(static_page) -> None:
    cases = boundary_cases()
    got = js_masks(static_page, cases)
    for case, bits in zip(cases, got):
        assert bits == py_bits(case), case
    # The exact-boundary cases really do reveal the boundary pixel (the test can fail).
    assert got[0][int(20 + -4) * 48 + int(20 + 3)] == "1"


def test_random_masks_match_render_bit_for_bit(static_page) -> None:
    cases = random_cases(400, seed=7)
    got = js_masks(static_page, cases)
    mismatches = [i for i, (c, bits) in enumerate(zip(cases, got)) if bits != py_bits(c)]
    assert mismatches == []
    assert sum(bits.count("1") for bits in got) > 1000  # the cases reveal something


def test_brush_radius_matches_render(static_page) -> None:
    sizes = [(28, 28, 0.07), (105, 105, 0.07), (256, 200, 0.05), (17, 40, 0.3), (3, 1, 1.0)]
    got = static_page.evaluate(
        f"async (s) => {{ const g = await {IMPORT}; return s.map(([w, h, f]) => g.brushRadiusPx(w, h, f)); }}",
        [list(s) for s in sizes])
    assert got == [render.brush_radius_px(w, h, f) for w, h, f in sizes]


def test_reveal_matches_render(static_page) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    points = rng.uniform(0, 28, size=(6, 2)).tolist()
    radius = render.brush_radius_px(28, 28)
    got = static_page.evaluate(
        f"""async ([img, pts, r]) => {{
            const g = await {IMPORT};
            return Array.from(g.reveal(Uint8Array.from(img), g.brushMask(pts, 28, 28, r)));
        }}""",
        [image.ravel().tolist(), points, radius])
    want = render.reveal(image, render.brush_mask(points, 28, 28, radius))
    assert got == want.ravel().tolist()
    assert 0 < np.count_nonzero(want) < want.size


@pytest.mark.parametrize("step", [0.98, 0.25, 5.0])
def test_densify_spacing_and_end_point(static_page, step: float) -> None:
    """Interpolated points are at most `step` apart, end exactly at the new sample and carry
    interpolated times, so a quick drag leaves a continuous trail of real brush points."""
    prev, nxt = [1.0, 2.0, 100.0], [20.3, 9.7, 116.0]
    pts = static_page.evaluate(
        f"async ([a, b, s]) => {{ const g = await {IMPORT}; return g.densify(a, b, s); }}",
        [prev, nxt, step])
    chain = np.asarray([prev] + pts)
    gaps = np.hypot(np.diff(chain[:, 0]), np.diff(chain[:, 1]))
    assert gaps.max() <= step + 1e-12
    assert len(pts) == math.ceil(math.hypot(19.3, 7.7) / step)
    assert pts[-1] == nxt
    assert np.all(np.diff(chain[:, 2]) > 0)
    # A pointer sample that did not move still becomes one point (a tap is a brush point).
    same = static_page.evaluate(
        f"async () => {{ const g = await {IMPORT}; return g.densify([3, 3, 0], [3, 3, 5], 1); }}")
    assert same == [[3, 3, 5]]
