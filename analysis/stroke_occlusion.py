"""Stroke-level occlusion: remove one piece of a stroke at a time and measure what changes.

The stimuli are bitmaps (256x256 JPEG, white strokes on black), not stroke lists, so the strokes
are recovered from the ink (`stroke_segments`):

1. **ink** = the package's ink rule (`analysis.ink.ink_mask`, Otsu's threshold);
2. the ink is thinned to a one-pixel skeleton (Zhang & Suen 1984, `skeletonize`, in numpy: the
   recorded search, `analysis/plans/method_search.json`, was computed with it; scikit-image's
   `skeletonize` differs from it by a few pixels per drawing, which would move the pieces);
3. the skeleton is cut at its junctions (pixels with 3 or more skeleton neighbours) into
   branches, and each branch into pieces of about ``length`` pixels of skeleton (by geodesic
   distance from one end; a piece that falls apart, as on a closed loop, becomes several);
4. every ink pixel joins the piece of its nearest skeleton pixel; an ink blob the thinning left
   without a skeleton is a piece of its own.

`StrokeOcclusion` then sets one piece at a time to the baseline (the blank background) and paints
the change of the forward function on that piece's pixels, captum-style
(``attribute(inputs, baselines, target, ...)``): for a forward with one value per input the
importance is ``f(x) - f(x without the piece)`` (signed, captum's Occlusion convention); for a
forward with an output vector per input (``reduce="squared_change"``) it is the mean squared change
of that vector. Pixels outside every piece (the paper) get 0.

For the CFGDM the forward is the guidance signal of the exemplar *at canvas resolution*,
area-pooled to the model's 28x28 inside the forward (`CanvasExemplar`): the piece is removed where
it was drawn, and the model sees the removal as it sees any drawing.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from models.cfgdm import IMAGE_SIZE, PAD
from models.render import _area_matrix

from .ink import ink_mask

DEFAULT_SEGMENT_LENGTH = 32  # skeleton pixels per piece at the 256-px canvas (3.5 px at 28x28, about the 4-px occlusion patch)
EIGHT = np.ones((3, 3), dtype=bool)


# --- ink and strokes -------------------------------------------------------------------------

def _neighbours(mask: np.ndarray) -> list[np.ndarray]:
    """The 8 neighbours P2..P9 of Zhang & Suen (N, NE, E, SE, S, SW, W, NW) of every pixel."""
    p = np.pad(mask, 1)
    h, w = mask.shape
    return [p[0:h, 1:w + 1], p[0:h, 2:], p[1:h + 1, 2:], p[2:, 2:], p[2:, 1:w + 1], p[2:, 0:w], p[1:h + 1, 0:w],
            p[0:h, 0:w]]


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a bool mask to 8-connected one-pixel lines (vectorised numpy)."""
    sk = np.asarray(mask, dtype=bool).copy()
    while True:
        changed = False
        for step in (0, 1):
            n = [v.astype(np.int8) for v in _neighbours(sk)]
            count = sum(n)
            ring = n + [n[0]]
            transitions = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.int8) for i in range(8))
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            if step == 0:
                cut = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                cut = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = sk & (count >= 2) & (count <= 6) & (transitions == 1) & cut
            if remove.any():
                sk &= ~remove
                changed = True
        if not changed:
            return sk


def _geodesic_pieces(branch: np.ndarray, length: int) -> np.ndarray:
    """Piece index (distance from one end // length) of each pixel of one skeleton branch, -1 off it."""
    coords = np.argwhere(branch)
    index = {tuple(c): i for i, c in enumerate(coords)}
    degree = np.array([sum((c[0] + dy, c[1] + dx) in index for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                           if dy or dx) for c in coords])
    start = int(np.argmin(degree))  # an end of the branch when it has one
    dist = np.full(len(coords), -1)
    dist[start] = 0
    queue = deque([start])
    while queue:
        i = queue.popleft()
        y, x = coords[i]
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                j = index.get((y + dy, x + dx))
                if j is not None and dist[j] < 0:
                    dist[j] = dist[i] + 1
                    queue.append(j)
    out = np.full(branch.shape, -1, dtype=np.int64)
    out[tuple(coords.T)] = dist // max(1, length)
    return out


def stroke_segments(image: np.ndarray, length: int = DEFAULT_SEGMENT_LENGTH,
                    ink: np.ndarray | None = None) -> np.ndarray:
    """int32 ``[H, W]`` labels: 0 = paper, 1..S = the pieces of stroke (module docstring).

    ``ink`` overrides the package's ink mask (`analysis.ink.ink_mask`).
    """
    ink = ink_mask(image) if ink is None else np.asarray(ink, dtype=bool)
    labels = np.zeros(ink.shape, dtype=np.int32)
    if not ink.any():
        return labels
    skeleton = skeletonize(ink)
    degree = ndimage.convolve(skeleton.astype(np.int32), EIGHT.astype(np.int32), mode="constant") - skeleton
    junction = skeleton & (degree >= 3)
    branches, n_branches = ndimage.label(skeleton & ~junction, structure=EIGHT)
    pieces = np.zeros(ink.shape, dtype=np.int32)
    next_label = 1
    for b in range(1, n_branches + 1):
        branch = branches == b
        piece_of = _geodesic_pieces(branch, length)
        for k in range(int(piece_of.max()) + 1):
            parts, n_parts = ndimage.label(piece_of == k, structure=EIGHT)
            for part in range(1, n_parts + 1):
                pieces[parts == part] = next_label
                next_label += 1
    # junction pixels (and everything else on the ink) join the piece of the nearest labelled skeleton pixel
    if next_label > 1:
        _, (iy, ix) = ndimage.distance_transform_edt(pieces == 0, return_indices=True)
        labels[ink] = pieces[iy[ink], ix[ink]]
    # ink the thinning left without a skeleton of its own: a piece per blob
    blobs, n_blobs = ndimage.label(ink, structure=EIGHT)
    for blob in range(1, n_blobs + 1):
        inside = blobs == blob
        if not skeleton[inside].any() or next_label == 1:
            labels[inside] = next_label
            next_label += 1
    return _compact(labels)


def _compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1..S in order of first appearance (0 stays 0)."""
    values = np.unique(labels[labels > 0])
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lookup[values] = np.arange(1, len(values) + 1, dtype=np.int32)
    return lookup[labels]


# --- occlusion -------------------------------------------------------------------------------

def _pick(out: torch.Tensor, target: int | Sequence[int] | torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
    if target is None:
        return out
    t = torch.as_tensor(target, device=out.device)
    return out[torch.arange(len(out), device=out.device), t[rows] if t.ndim else t.expand(len(out))]


class StrokeOcclusion:
    """Occlusion by pieces of stroke (the module docstring): captum-style ``attribute``.

    ``forward_func(inputs, *additional_forward_args)`` returns ``[N]`` (one value per input) or
    ``[N, ...]`` (a vector per input; with ``target`` the class column is taken first, as in captum).
    """

    def __init__(self, forward_func: nn.Module | callable) -> None:
        self.forward_func = forward_func

    @torch.no_grad()
    def segment_changes(self, inputs: torch.Tensor, segments: np.ndarray | torch.Tensor,
                        baselines: float | torch.Tensor = 0.0, target=None,
                        additional_forward_args: tuple | None = None,
                        perturbations_per_eval: int = 16) -> list[dict[str, np.ndarray]]:
        """Per input: ``{"difference": f(x) - f(x - piece), "squared_change": mean (f(x) - f(x - piece))^2}``
        per piece (arrays of length S; index s-1 is label s; a vector output is averaged), plus the raw
        outputs ``"output"`` ``[D]`` and ``"occluded"`` ``[S, D]`` for other read-outs."""
        inputs = torch.as_tensor(inputs)
        labels = torch.as_tensor(np.asarray(segments), device=inputs.device).long()
        if labels.ndim == 2:
            labels = labels.expand(len(inputs), *labels.shape)
        if labels.shape[0] != len(inputs) or labels.shape[-2:] != inputs.shape[-2:]:
            raise ValueError(f"segments {tuple(labels.shape)} do not match inputs {tuple(inputs.shape)}")
        extra = tuple(additional_forward_args or ())
        base = torch.as_tensor(baselines, dtype=inputs.dtype, device=inputs.device)
        out = []
        for i in range(len(inputs)):
            x = inputs[i:i + 1]
            n = int(labels[i].max())
            mine = tuple(a[i:i + 1] if torch.is_tensor(a) and a.ndim and len(a) == len(inputs) else a for a in extra)
            row = torch.zeros(1, dtype=torch.long, device=inputs.device) + i
            full = _pick(self.forward_func(x, *mine), target, row).reshape(1, -1)
            diffs, sq, parts = [], [], []
            for first in range(1, n + 1, max(1, perturbations_per_eval)):
                ids = torch.arange(first, min(n, first + perturbations_per_eval - 1) + 1, device=inputs.device)
                holes = (labels[i][None] == ids[:, None, None])[:, None]  # [P, 1, H, W]
                holes = holes.expand(-1, *x.shape[1:])
                fill = base if base.ndim == 0 else base[i:i + 1].expand_as(x) if base.shape[0] == len(inputs) else base
                occluded = torch.where(holes, fill, x.expand(len(ids), *x.shape[1:]))
                args = tuple(a.expand(len(ids), *a.shape[1:]) if torch.is_tensor(a) and a.ndim else a for a in mine)
                part = _pick(self.forward_func(occluded, *args), target, row.expand(len(ids))).reshape(len(ids), -1)
                change = full - part
                parts.append(part)
                diffs.append(change.mean(1))
                sq.append(change.pow(2).mean(1))
            out.append({"difference": torch.cat(diffs).cpu().numpy() if diffs else np.zeros(0),
                        "squared_change": torch.cat(sq).cpu().numpy() if sq else np.zeros(0),
                        "output": full[0].cpu().numpy(),
                        "occluded": torch.cat(parts).cpu().numpy() if parts else np.zeros((0, full.shape[1]))})
        return out

    def attribute(self, inputs: torch.Tensor, baselines: float | torch.Tensor = 0.0, target=None, *,
                  segments: np.ndarray | torch.Tensor, additional_forward_args: tuple | None = None,
                  reduce: str = "difference", perturbations_per_eval: int = 16) -> torch.Tensor:
        """Attributions shaped like ``inputs``: each piece's importance on its pixels (0 elsewhere).

        ``reduce``: "difference" (``f(x) - f(x - piece)``, averaged over a vector output) or
        "squared_change" (mean squared change of the output vector).
        """
        if reduce not in ("difference", "squared_change"):
            raise ValueError("reduce must be 'difference' or 'squared_change'")
        changes = self.segment_changes(inputs, segments, baselines, target, additional_forward_args,
                                       perturbations_per_eval)
        labels = np.asarray(segments)
        labels = np.broadcast_to(labels, (len(inputs), *labels.shape[-2:]))
        return torch.as_tensor(np.stack([paint(labels[i], c[reduce]) for i, c in enumerate(changes)])[:, None]
                               .repeat(inputs.shape[1], axis=1), dtype=torch.float32)


def paint(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """float32 ``[H, W]``: ``values[s - 1]`` on the pixels of piece ``s``, 0 on the paper."""
    lookup = np.concatenate([[0.0], np.asarray(values, np.float64)])
    return lookup[np.asarray(labels)].astype(np.float32)


# --- the CFGDM's guidance at canvas resolution -----------------------------------------------

class CanvasExemplar(nn.Module):
    """A guidance forward (`analysis.attribution.GuidanceSignal` or `GuidanceVector`) fed an
    exemplar at canvas resolution ``[M, 1, H, W]`` (0..255, white on black): area-pooled to 28x28
    (the same averaging as `models.render.area_resize`), put in model space and padded inside the
    forward, so gradients and occlusions live at canvas resolution."""

    def __init__(self, guidance: nn.Module, height: int, width: int) -> None:
        super().__init__()
        self.guidance = guidance
        self.register_buffer("rows", torch.from_numpy(_area_matrix(height, IMAGE_SIZE)))
        self.register_buffer("cols", torch.from_numpy(_area_matrix(width, IMAGE_SIZE)))

    def forward(self, images: torch.Tensor, *extra) -> torch.Tensor:
        small = torch.einsum("oh,nchw,pw->ncop", self.rows.to(images), images, self.cols.to(images))
        exemplar = nn.functional.pad(small / 127.5 - 1.0, (PAD, PAD, PAD, PAD), value=-1.0)
        return self.guidance(exemplar, *extra)


class GuidanceVector(nn.Module):
    """The guidance direction ``eps(x_k, t_k | e) - eps(x_k, t_k | null)`` over all states, flattened
    ``[M, K * P]``: `GuidanceSignal` is the mean of its square."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, exemplar: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                eps_uncond: torch.Tensor) -> torch.Tensor:
        m, k = t.shape
        cond = self.model.eps(x_t.reshape(m * k, *x_t.shape[2:]), t.reshape(-1), exemplar.repeat_interleave(k, dim=0))
        return (cond.reshape(m, k, -1) - eps_uncond.reshape(m, k, -1)).reshape(m, -1)
