"""Stimuli for the analysis: the drawings the clicks were made on, by stimulus name.

Reads what the game imports (`models.stimulus_files`: ``.npz`` sets, ``.npy`` bitmaps, stroke
``.ndjson``, folders with one subfolder per category) and also a flat folder of images named
``<stimulus>.<ext>``, the usual layout of older click-map studies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.render import area_resize
from models.stimulus_files import IMAGE_SUFFIXES, read_drawings, read_image

_NUMBERED = re.compile(r"^(?P<category>.+?)[-_](?P<index>\d+)$")


@dataclass
class Stimulus:
    name: str
    pixels: np.ndarray  # uint8 [H, W], white strokes on black
    category: str | None  # None when neither the file nor the name says


def category_from_name(name: str) -> str | None:
    """``"alarm_clock-004000"`` -> ``"alarm clock"``; None when the name has no such pattern or its
    "category" has no letter (``"0_0"`` is a numbered stimulus, not category "0")."""
    match = _NUMBERED.match(name)
    if not match or not any(ch.isalpha() for ch in match.group("category")):
        return None
    return match.group("category").replace("_", " ")


def read_categories(path: str | Path) -> dict[str, str]:
    """A ``stimulus, category`` CSV as ``{stimulus: category}`` (a clear error for a bad file)."""
    try:
        table = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{Path(path).name}: cannot read categories CSV ({exc})") from None
    if not {"stimulus", "category"} <= set(table.columns):
        raise ValueError(f"{Path(path).name}: categories CSV needs columns stimulus, category")
    table = table.dropna(subset=["stimulus", "category"])
    clashes = table.groupby("stimulus")["category"].nunique()
    if (clashes > 1).any():
        raise ValueError(f"{Path(path).name}: stimuli with two categories: {', '.join(clashes[clashes > 1].index[:5])}")
    return dict(zip(table["stimulus"].str.strip(), table["category"].str.strip()))


def apply_categories(stimuli: dict[str, Stimulus], categories: str | Path | None = None,
                     clicks: pd.DataFrame | None = None) -> dict[str, Stimulus]:
    """Stimuli with their categories from, in order of precedence: the ``categories`` CSV, the
    clicks' ``category`` column, the stimulus file or name."""
    from_clicks: dict[str, str] = {}
    if clicks is not None and "category" in clicks.columns:
        known = clicks.dropna(subset=["category"]).drop_duplicates("stimulus")
        from_clicks = {s: c for s, c in zip(known["stimulus"], known["category"]) if c and c != "nan"}
    table = read_categories(categories) if categories else {}
    return {name: Stimulus(name, st.pixels, table.get(name) or from_clicks.get(name) or st.category)
            for name, st in stimuli.items()}


def load_stimuli(path: str | Path) -> dict[str, Stimulus]:
    """``{name: Stimulus}`` from a file or folder (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        flat = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        # flat images: the category can only come from the name; else one subfolder per category
        drawings = [read_image(p, "") for p in flat] if flat else read_drawings(path, None)
    else:
        drawings = read_drawings(path)
    if not drawings:
        raise FileNotFoundError(f"{path}: no stimuli found")
    return {d.key: Stimulus(d.key, d.pixels, d.category or category_from_name(d.key)) for d in drawings}


def at_size(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """A drawing area-resized to ``width x height`` (uint8), e.g. onto the click canvas."""
    if pixels.shape == (height, width):
        return pixels
    out = area_resize(pixels[None].astype(np.float32), height, width)[0]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
