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

from models.render import area_resize
from models.stimulus_files import IMAGE_SUFFIXES, read_drawings, read_image

_NUMBERED = re.compile(r"^(?P<category>.+?)[-_](?P<index>\d+)$")


@dataclass
class Stimulus:
    name: str
    pixels: np.ndarray  # uint8 [H, W], white strokes on black
    category: str | None  # None when neither the file nor the name says


def category_from_name(name: str) -> str | None:
    """``"alarm_clock-004000"`` -> ``"alarm clock"``; None when the name has no such pattern."""
    match = _NUMBERED.match(name)
    return match.group("category").replace("_", " ") if match else None


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
