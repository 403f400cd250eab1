"""The Fig-5-like figure: its panels and the rule that picks its drawings."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from analysis.confirm import select_figure_drawings
from analysis.figures import fig5


def test_the_figure_has_a_drawing_and_four_maps_per_drawing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = [f"{i}_1" for i in range(12)]
    drawings = {n: (rng.random((32, 32)) > 0.8).astype(np.uint8) * 255 for n in names}
    maps = {k: {n: rng.random((32, 32)) for n in names} for k in ("human", "cfgdm", "cfgdm_random", "ink")}
    fig = fig5(names, drawings, maps, {n: 3 for n in names}, {n: "cat" for n in names})
    assert len(fig.axes) == 12 * 5
    assert "cat" in fig.axes[0].get_title() and "3 rounds" in fig.axes[0].get_title()
    plt.close(fig)
    fig5(names, drawings, maps, {}, {}, tmp_path / "f.png")
    width, height = Image.open(tmp_path / "f.png").size
    assert width > height > 0


def test_drawings_are_the_ones_with_most_rounds_ties_by_id() -> None:
    rounds = {"b": 3, "a": 3, "c": 5, "d": 1, "e": 2}
    assert select_figure_drawings(rounds, 3) == ["c", "a", "b"]
    assert select_figure_drawings(rounds) == ["c", "a", "b", "e", "d"]
