"""Which pixels of a drawing are ink: one stated threshold, used by every ink-based number.

Real stimuli are JPEG: the black paper of the ClickMe-QuickDraw drawings is never exactly 0
(noise around 8 of 255, up to ~40 near strokes), so "ink = pixel > 0" makes the whole canvas
ink. The rule here (`INK_RULE`):

1. the image is taken as grayscale (the mean of its channels when it has several);
2. Otsu's threshold (`skimage.filters.threshold_otsu`, the split that maximises the
   between-class variance of the grey levels) divides the pixels into a bright and a dark class;
3. the paper is the class that holds most of the image's outer one-pixel border (when the border
   is split exactly in half, the larger class), the ink is the other one — so white strokes on
   black and black strokes on white are both read correctly, uint8 or float;
4. an image whose grey levels span less than `MIN_CONTRAST` of its scale (255 for integer images
   and for float images with values above 1, else 1) has no ink: Otsu would otherwise split pure
   paper noise in two.

`ink_region` is the ink dilated by the brush: every pixel within ``radius`` pixels (Euclidean,
a disc) of an ink pixel — where a brush centred there touches the drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.filters import threshold_otsu

if TYPE_CHECKING:
    from .stimuli import Stimulus

#: grey-level span (share of the image's scale) below which an image is blank paper
MIN_CONTRAST = 0.25

INK_RULE = ("ink = the pixels on the drawing's side of Otsu's threshold of the grayscale image "
            "(the paper is the class holding most of the image border, so white-on-black and "
            f"black-on-white both work; an image spanning less than {MIN_CONTRAST:.0%} of its grey "
            "scale has no ink), and the ink region = the ink dilated by a disc of the brush radius")


def _gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.astype(np.float64).mean(axis=-1)
    if img.ndim != 2:
        raise ValueError(f"an image must be [H, W] or [H, W, C] (got shape {np.shape(image)})")
    return img.astype(np.float64)


def _scale(image: np.ndarray, gray: np.ndarray) -> float:
    dtype = np.asarray(image).dtype
    if dtype == bool:
        return 1.0
    if np.issubdtype(dtype, np.integer):
        return 255.0
    return 1.0 if gray.max() <= 1.0 else 255.0


def ink_mask(image: np.ndarray) -> np.ndarray:
    """Boolean ``[H, W]``: the drawing's strokes by `INK_RULE` (Otsu's threshold, polarity from
    the border)."""
    gray = _gray(image)
    if gray.size == 0 or not np.isfinite(gray).all():
        raise ValueError("an image must be non-empty and finite")
    span = float(gray.max() - gray.min())
    if span < MIN_CONTRAST * _scale(image, gray):
        return np.zeros(gray.shape, bool)
    bright = gray > threshold_otsu(gray)
    border = np.concatenate([bright[0], bright[-1], bright[1:-1, 0], bright[1:-1, -1]])
    share = float(border.mean())
    paper_is_bright = share > 0.5 if share != 0.5 else bright.mean() > 0.5
    return ~bright if paper_is_bright else bright


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask grown by a disc: every pixel within ``radius`` pixels of a True pixel."""
    mask = np.asarray(mask, bool)
    if radius < 0:
        raise ValueError(f"the radius must be at least 0 (got {radius})")
    if not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask) <= radius


def ink_region(image: np.ndarray, radius: float) -> np.ndarray:
    """Boolean ``[H, W]``: the ink (`ink_mask`) dilated by a disc of ``radius`` pixels of the
    image — where a brush of that radius touches the drawing."""
    return dilate(ink_mask(image), radius)


def stimulus_ink(stimuli: dict[str, "Stimulus"], raw: pd.DataFrame, width: int, height: int,
                 radius: float | None = None, rounds_path: str | Path | None = None) -> dict[str, np.ndarray]:
    """``{stimulus: the drawing's ink dilated by the brush}`` on the ``width x height`` canvas
    (`analysis.ink.ink_region`), for `analysis.clicks.ingest`'s non-brushing rule. The brush
    radius is resolved as the comparison resolves it (`analysis.brush.resolve_radius`)."""
    from .brush import resolve_radius
    from .clicks import normalised_columns
    from .stimuli import at_size

    r, _ = resolve_radius(normalised_columns(raw), width, height, radius, rounds_path)
    return {n: ink_region(at_size(st.pixels, width, height), r) for n, st in stimuli.items()}
