"""Drawing geometry shared by the game server, the page, the analysis and the tests.

This module is the single owner of three pieces of geometry:

1. **Rasterising strokes** (`strokes_to_bitmap`): Quick, Draw! simplified strokes are drawn the
   way the official 28x28 bitmaps were made (centred in the 256x256 frame, round caps and joins,
   a 16 px line, 16 px padding per side plus half the line width, anti-aliased down-scaling), so a
   classifier trained on the official bitmaps also works on our renders.
2. **The brush** (`brush_radius_px`, `brush_mask`): a brush point ``(x, y)`` in the stimulus' own
   pixel frame reveals every pixel whose *centre* ``(col + 0.5, row + 0.5)`` lies within
   ``radius`` of it. The mask is the union of those discs. The browser mirrors exactly this rule
   in ``static/js/geometry.js`` (tests hold the two equal), so the server reveals the very pixels
   the player saw.
3. **Reveal and scaling** (`reveal`, `to_model_input`): the classifier sees ``image * mask``,
   area-averaged to its input size.

Images are uint8 arrays, white strokes (255) on black (0), shape ``[H, W]``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

# --- Official Quick, Draw! rendering constants (public description of the dataset) ---------
ORIGINAL_SIDE = 256.0
LINE_DIAMETER = 16.0
PADDING = 16.0
#: supersampling factor per axis used to approximate exact-area anti-aliasing
SUPERSAMPLE = 16

#: default brush radius as a fraction of the stimulus' longer side (ClickMe used ~5% of 256 px)
DEFAULT_BRUSH_FRACTION = 0.07
#: points `paint` tests at once (bounds its temporary arrays: 1024 x (2r+4)^2 values)
PAINT_CHUNK = 1024

Drawing = Sequence[Sequence[Sequence[float]]]  # [[xs, ys], [xs, ys], ...]


def _segments(drawing: Drawing, scale: float, shift_x: float, shift_y: float) -> np.ndarray:
    """All stroke segments as an ``[S, 4]`` array ``x0, y0, x1, y1`` in output pixels."""
    segs = []
    for stroke in drawing:
        xs = np.asarray(stroke[0], dtype=np.float64)
        ys = np.asarray(stroke[1], dtype=np.float64)
        if xs.size == 0:
            continue
        xs = (xs + shift_x) * scale
        ys = (ys + shift_y) * scale
        if xs.size == 1:  # a dot: a zero-length segment still gets round caps
            xs = np.repeat(xs, 2)
            ys = np.repeat(ys, 2)
        segs.append(np.stack([xs[:-1], ys[:-1], xs[1:], ys[1:]], axis=1))
    if not segs:
        return np.zeros((0, 4))
    return np.concatenate(segs, axis=0)


def _coverage(segs: np.ndarray, size: int, half_width: float, supersample: int) -> np.ndarray:
    """Fraction of each output pixel covered by the union of round-capped thick segments."""
    n = size * supersample
    centres = (np.arange(n, dtype=np.float64) + 0.5) / supersample
    inside = np.zeros((n, n), dtype=bool)
    if len(segs):
        px = centres[None, :]  # columns
        py = centres[:, None]  # rows
        r2 = half_width * half_width
        for x0, y0, x1, y1 in segs:
            # Only the bounding box of this capsule can be inside it.
            c0 = max(int((min(x0, x1) - half_width) * supersample), 0)
            c1 = min(int((max(x0, x1) + half_width) * supersample) + 2, n)
            r0 = max(int((min(y0, y1) - half_width) * supersample), 0)
            r1 = min(int((max(y0, y1) + half_width) * supersample) + 2, n)
            if c0 >= c1 or r0 >= r1:
                continue
            sx, sy = px[:, c0:c1], py[r0:r1, :]
            dx, dy = x1 - x0, y1 - y0
            len2 = dx * dx + dy * dy
            if len2 > 0:
                t = np.clip(((sx - x0) * dx + (sy - y0) * dy) / len2, 0.0, 1.0)
            else:
                t = 0.0
            ex = sx - (x0 + t * dx)
            ey = sy - (y0 + t * dy)
            inside[r0:r1, c0:c1] |= ex * ex + ey * ey <= r2
    return inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))


def strokes_to_bitmap(drawing: Drawing, size: int = 28) -> np.ndarray:
    """Render a simplified-format drawing like the official Quick, Draw! bitmaps.

    ``drawing`` is a list of strokes ``[[x0, x1, ...], [y0, y1, ...]]`` in the 0-255 frame. The
    drawing is centred (shifted by half the space its bounding box leaves in the 256 frame),
    padded by ``PADDING`` px on each side plus half the line width, drawn with a
    ``LINE_DIAMETER`` px round-capped line and scaled to ``size`` x ``size`` with anti-aliasing.
    Returns uint8 ``[size, size]``, white strokes on black.
    """
    if size < 1:
        raise ValueError("size must be a positive integer")
    pts = [np.asarray(s[0], float) for s in drawing if len(s[0])], [
        np.asarray(s[1], float) for s in drawing if len(s[1])
    ]
    if not pts[0]:
        return np.zeros((size, size), dtype=np.uint8)
    max_x = max(float(a.max()) for a in pts[0])
    max_y = max(float(a.max()) for a in pts[1])
    total_padding = 2.0 * PADDING + LINE_DIAMETER
    scale = size / (ORIGINAL_SIDE + total_padding)
    shift_x = total_padding / 2.0 + (ORIGINAL_SIDE - max_x) / 2.0
    shift_y = total_padding / 2.0 + (ORIGINAL_SIDE - max_y) / 2.0
    segs = _segments(drawing, scale, shift_x, shift_y)
    cov = _coverage(segs, size, LINE_DIAMETER * scale / 2.0, SUPERSAMPLE)
    return np.clip(np.rint(cov * 255.0), 0, 255).astype(np.uint8)


# --- The brush ------------------------------------------------------------------------------


def brush_radius_px(width: int, height: int, brush_fraction: float = DEFAULT_BRUSH_FRACTION) -> float:
    """Brush radius in stimulus pixels: a fraction of the stimulus' longer side.

    Expressing the brush relative to the stimulus keeps the revealed area comparable across
    stimulus sets of different resolutions (28x28 bitmaps, 256x256 renders, photos).
    """
    if not (0 < brush_fraction <= 1):
        raise ValueError("brush_fraction must be in (0, 1]")
    return float(brush_fraction) * float(max(width, height))


def brush_mask(points: Iterable[Sequence[float]] | np.ndarray, width: int, height: int,
               radius: float) -> np.ndarray:
    """Boolean ``[height, width]`` mask of the pixels revealed by brush points.

    Pixel ``(row, col)`` is revealed when ``(col + 0.5 - x)**2 + (row + 0.5 - y)**2 <= radius**2``
    for any point ``(x, y)``. ``points`` is ``[N, >=2]`` (extra columns such as ``t_ms`` are
    ignored). Work is bounded per point to the disc's bounding box, so cost grows with
    ``N * radius**2``, not ``N * width * height``.
    """
    return paint(np.zeros((height, width), dtype=bool), points, radius)


def paint(mask: np.ndarray, points: Iterable[Sequence[float]] | np.ndarray, radius: float) -> np.ndarray:
    """Add the discs of ``points`` to ``mask`` in place (the `brush_mask` rule) and return it.

    The mask is a union, so a round's mask can be extended batch by batch: painting the new
    points onto the mask of the earlier ones equals `brush_mask` of all of them. The game
    server relies on this to avoid redrawing every stored point on every batch.

    Each point is tested against the pixels of one square window around it, all points of a
    chunk at once (a handful of array operations per batch, not per point: the game server
    paints every batch of every player). The window is wider than the disc, and the test is the
    rule itself, computed in the same order, so the pixels are exactly the rule's.
    """
    height, width = mask.shape
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return mask
    pts = np.atleast_2d(pts)[:, :2]
    if not np.isfinite(pts).all():  # NaN or inf has no pixel (and no integer window)
        raise ValueError("brush points must be finite numbers")
    r2 = radius * radius
    span = np.arange(int(np.ceil(2 * radius)) + 4)
    for chunk in range(0, len(pts), PAINT_CHUNK):
        x, y = pts[chunk:chunk + PAINT_CHUNK].T
        cols = np.floor(x - radius - 0.5).astype(np.int64)[:, None] + span  # [n, k]
        rows = np.floor(y - radius - 0.5).astype(np.int64)[:, None] + span
        dx = cols.astype(np.float64) + 0.5 - x[:, None]
        dy = rows.astype(np.float64) + 0.5 - y[:, None]
        inside = (dy[:, :, None] ** 2 + dx[:, None, :] ** 2) <= r2  # [n, k rows, k cols]
        inside &= ((rows >= 0) & (rows < height))[:, :, None]
        inside &= ((cols >= 0) & (cols < width))[:, None, :]
        n, r, c = np.nonzero(inside)
        mask[rows[n, r], cols[n, c]] = True
    return mask


def reveal(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image as the classifier sees it: unbrushed pixels are blank (black)."""
    if image.shape != mask.shape:
        raise ValueError(f"image {image.shape} and mask {mask.shape} differ in shape")
    return np.where(mask, image, 0).astype(np.uint8)


def to_model_input(images: np.ndarray, size: int = 28) -> np.ndarray:
    """Scale uint8 images ``[N, H, W]`` (or ``[H, W]``) to float32 ``[N, size, size]`` in 0..1.

    Scaling is area averaging (each output pixel is the mean of the input area it covers), the
    same anti-aliased down-scaling that made the official bitmaps, computed exactly for any
    input size with two separable averaging matrices.
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError("images must be [N, H, W] or [H, W]")
    return area_resize(arr.astype(np.float32) / 255.0, size, size)


def area_resize(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Area-average float arrays ``[N, H, W]`` to ``[N, out_h, out_w]`` (exact for any sizes)."""
    _, h, w = x.shape
    if (h, w) == (out_h, out_w):
        return x.astype(np.float32)
    rows = _area_matrix(h, out_h)  # [out_h, h]
    cols = _area_matrix(w, out_w)  # [out_w, w]
    return np.einsum("oh,nhw,pw->nop", rows, x, cols, optimize=True).astype(np.float32)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Matrix that averages ``n_in`` samples into ``n_out`` bins by overlap length."""
    edges_in = np.arange(n_in + 1, dtype=np.float64)
    edges_out = np.linspace(0.0, n_in, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    overlap = np.clip(hi - lo, 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def image_to_strokes_on_black(gray: np.ndarray) -> np.ndarray:
    """Normalise a grayscale photo/scan so strokes are white on black.

    Imported PNG/JPG drawings are usually dark ink on a light page; the classifier and the
    reveal expect white-on-black. The border's median decides which one the image is.
    """
    g = np.asarray(gray, dtype=np.uint8)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    return (255 - g) if np.median(border) > 127 else g.copy()
