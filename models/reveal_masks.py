"""Random brush reveals for a whole batch at once: how the classifier learns partial drawings.

In the game the classifier never sees a whole drawing, only the pixels a player has brushed so
far (`models.render.reveal` under `models.render.brush_mask`). A classifier trained only on full
drawings is badly calibrated on such partial inputs, so training replaces part of every batch
with simulated reveals, and evaluation measures accuracy against how much ink was revealed.

The simulated player brushes the way people do: strokes that start on the drawing (mostly) and
walk along the ink that is not yet revealed, lifting the brush to jump to another part of the
drawing when the current one is done. Each image gets its own target share of ink, drawn
uniformly in 0..1, and stops brushing once it is reached, so revealed fractions span 0..1.

Masks follow exactly the rule of `render.brush_mask` (pixel centre ``(col + 0.5, row + 0.5)``
within ``radius`` of a point, computed in float64), so a mask built here from a set of points is
bit-for-bit the mask the game server would build from the same points.

The walk is sequential in its points (each step depends on what is already revealed) but every
step works on the whole batch in a few tensor operations; nothing loops over images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.render import brush_radius_px

#: how many candidate directions the walk weighs at each step (spread over +-90 degrees)
N_DIRECTIONS = 7


def brush_masks(points: torch.Tensor, width: int, height: int, radius: float | torch.Tensor,
                valid: torch.Tensor | None = None, chunk: int = 8) -> torch.Tensor:
    """Boolean ``[B, height, width]`` masks: the union of brush discs per batch item.

    ``points`` is ``[B, P, >=2]`` (x, y in the stimulus' pixel frame; extra columns ignored),
    ``radius`` a float or ``[B]`` tensor, ``valid`` an optional ``[B, P]`` bool tensor saying
    which points count. The test ``dy**2 + dx**2 <= radius**2`` is evaluated in float64 like
    `render.brush_mask`, so both give identical masks for identical points. Points are
    processed ``chunk`` at a time to bound memory at ``B * chunk * H * W``.
    """
    pts = points[..., :2].to(torch.float64)
    n_batch, n_points = pts.shape[:2]
    device = pts.device
    r = torch.as_tensor(radius, dtype=torch.float64, device=device).reshape(-1)
    r2 = (r * r).expand(n_batch)[:, None, None, None]
    cols = torch.arange(width, dtype=torch.float64, device=device) + 0.5
    rows = torch.arange(height, dtype=torch.float64, device=device) + 0.5
    mask = torch.zeros((n_batch, height, width), dtype=torch.bool, device=device)
    for start in range(0, n_points, chunk):
        part = pts[:, start:start + chunk]
        dx2 = (cols[None, None, :] - part[..., 0:1]) ** 2  # [B, c, W]
        dy2 = (rows[None, None, :] - part[..., 1:2]) ** 2  # [B, c, H]
        inside = (dy2[..., :, None] + dx2[..., None, :]) <= r2
        if valid is not None:
            inside &= valid[:, start:start + chunk, None, None]
        mask |= inside.any(dim=1)
    return mask


@dataclass
class Reveals:
    """A batch of simulated reveals.

    ``masks`` bool ``[B, H, W]`` is exactly ``brush_masks(points, W, H, radius, valid)``;
    ``ink_fraction`` ``[B]`` is the revealed share of the image's total intensity (0 for blank
    images).
    """

    masks: torch.Tensor
    points: torch.Tensor
    valid: torch.Tensor
    radius: torch.Tensor
    ink_fraction: torch.Tensor
    target_fraction: torch.Tensor


def random_reveals(images: torch.Tensor, generator: torch.Generator, *, max_points: int = 96,
                   radius: float | None = None, radius_jitter: tuple[float, float] = (0.8, 1.25),
                   on_ink: float = 0.9, step: tuple[float, float] = (0.5, 1.0),
                   lift: tuple[float, float] = (0.03, 0.2),
                   target_fraction: torch.Tensor | None = None) -> Reveals:
    """Simulate players brushing ``images`` (uint8 or 0..1 float ``[B, H, W]``) until each has
    revealed its target share of ink (or used ``max_points``).

    Per image: brush radius = ``radius`` (default `brush_radius_px(W, H)`) times a factor drawn
    from ``radius_jitter``; step length a fraction of the radius drawn from ``step``; the chance
    of lifting the brush after a point drawn from ``lift``; target share drawn uniformly in 0..1
    unless ``target_fraction`` is given. A stroke starts on a still hidden ink pixel (chosen
    with probability proportional to its intensity) with probability ``on_ink``, elsewhere
    uniformly in the frame. Each step goes in the one of `N_DIRECTIONS` headings within 90
    degrees of the current one that reaches the most hidden ink; with none in reach, the brush
    lifts. All randomness comes from ``generator``, so a seed fixes the result.
    """
    if images.ndim != 3:
        raise ValueError("images must be [B, H, W]")
    device = images.device
    ink = images.to(torch.float32)
    if images.dtype == torch.uint8:
        ink = ink / 255.0
    n_batch, height, width = ink.shape
    f64 = dict(dtype=torch.float64, device=device)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator, **f64)

    base = brush_radius_px(width, height) if radius is None else float(radius)
    r = base * uniform(*radius_jitter, n_batch)
    step_len = r * uniform(*step, n_batch)
    lift_p = uniform(*lift, n_batch)
    target = uniform(0.0, 1.0, n_batch) if target_fraction is None else (
        target_fraction.to(**f64).expand(n_batch))
    total = ink.sum(dim=(1, 2)).to(torch.float64)

    cols = torch.arange(width, **f64) + 0.5
    rows = torch.arange(height, **f64) + 0.5
    offsets = torch.linspace(-math.pi / 2, math.pi / 2, N_DIRECTIONS, **f64)
    points = torch.zeros((n_batch, max_points, 2), **f64)
    valid = torch.zeros((n_batch, max_points), dtype=torch.bool, device=device)
    revealed = torch.zeros((n_batch, height, width), dtype=torch.bool, device=device)
    fraction = torch.zeros(n_batch, **f64)
    active = fraction < target
    pos = torch.zeros((n_batch, 2), **f64)
    heading = torch.zeros(n_batch, **f64)
    max_xy = torch.tensor([width, height], **f64)

    for p in range(max_points):
        rows_on = active.nonzero()[:, 0]  # only images still brushing do any work
        if rows_on.numel() == 0:
            break
        n_on = rows_on.numel()
        hidden = ink[rows_on] * (~revealed[rows_on])
        here, head, rad = pos[rows_on], heading[rows_on], r[rows_on]
        # Continue the stroke: the heading whose landing point sees the most hidden ink nearby.
        angles = head[:, None] + offsets[None, :]
        cand = here[:, None, :] + (step_len[rows_on])[:, None, None] * torch.stack(
            [torch.cos(angles), torch.sin(angles)], dim=-1)
        cand = torch.minimum(torch.clamp(cand, min=0.0), max_xy)
        score = _sample(_box3(hidden), cand) + 1e-3 * torch.rand(
            n_on, N_DIRECTIONS, generator=generator, **f64)
        best = score.argmax(dim=1, keepdim=True)
        cont = torch.gather(cand, 1, best[:, :, None].expand(-1, 1, 2))[:, 0]
        dead_end = torch.gather(score, 1, best)[:, 0] < 1e-2
        lifted = torch.rand(n_on, generator=generator, **f64) < lift_p[rows_on]
        jump = (p == 0) | dead_end | lifted
        # Or lift the brush and start a new stroke on hidden ink (sometimes anywhere).
        start = _stroke_starts(hidden, ink[rows_on], on_ink, generator)
        pos[rows_on] = torch.where(jump[:, None], start, cont)
        heading[rows_on] = torch.where(jump, uniform(-math.pi, math.pi, n_on),
                                       torch.gather(angles, 1, best)[:, 0])

        points[rows_on, p] = pos[rows_on]
        valid[rows_on, p] = True
        dx2 = (cols[None, :] - pos[rows_on, 0:1]) ** 2
        dy2 = (rows[None, :] - pos[rows_on, 1:2]) ** 2
        disc = (dy2[:, :, None] + dx2[:, None, :]) <= (rad * rad)[:, None, None]
        now = revealed[rows_on] | disc
        revealed[rows_on] = now
        fraction[rows_on] = _ink_fraction(ink[rows_on], now, total[rows_on])
        active[rows_on] = fraction[rows_on] < target[rows_on]

    return Reveals(masks=revealed, points=points, valid=valid, radius=r, ink_fraction=fraction,
                   target_fraction=target)


def _stroke_starts(hidden: torch.Tensor, ink: torch.Tensor, on_ink: float,
                   generator: torch.Generator) -> torch.Tensor:
    """One stroke start per image ``[n, 2]``: with probability ``on_ink`` inside a hidden ink
    pixel picked with probability proportional to its intensity (any ink pixel once all is
    revealed, any pixel for blank images), otherwise uniformly in the frame."""
    n, height, width = hidden.shape
    f64 = dict(dtype=torch.float64, device=hidden.device)
    weights = hidden.reshape(n, -1).to(torch.float64)
    weights = torch.where(weights.sum(1, keepdim=True) > 0, weights,
                          ink.reshape(n, -1).to(torch.float64)) + 1e-9
    cdf = torch.cumsum(weights, dim=1)
    u = torch.rand((n, 1), generator=generator, **f64) * cdf[:, -1:]
    pixel = torch.searchsorted(cdf, u)[:, 0].clamp(max=height * width - 1)
    in_pixel = torch.stack([pixel % width, pixel // width], dim=1).to(torch.float64)
    on_ink_start = in_pixel + torch.rand((n, 2), generator=generator, **f64)
    size = torch.tensor([width, height], **f64)
    anywhere = torch.rand((n, 2), generator=generator, **f64) * size
    use_ink = torch.rand(n, generator=generator, **f64) < on_ink
    return torch.where(use_ink[:, None], on_ink_start, anywhere)


def _box3(maps: torch.Tensor) -> torch.Tensor:
    """3x3 box sum of ``maps`` ``[B, H, W]`` (zero outside): ink within reach of a point."""
    padded = F.pad(maps, (1, 1, 1, 1))
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]


def _sample(maps: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Value of ``maps`` ``[B, H, W]`` at the pixel containing each point ``xy`` ``[B, K, 2]``."""
    n_batch, height, width = maps.shape
    col = xy[..., 0].floor().long().clamp(0, width - 1)
    row = xy[..., 1].floor().long().clamp(0, height - 1)
    flat = maps.reshape(n_batch, -1).to(torch.float64)
    return torch.gather(flat, 1, row * width + col)


def _ink_fraction(ink: torch.Tensor, mask: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Share of each image's total intensity that ``mask`` reveals (0 for blank images)."""
    shown = (ink * mask).sum(dim=(1, 2)).to(torch.float64)
    return torch.where(total > 0, shown / total.clamp(min=1e-12), torch.zeros_like(total))


def ink_fraction(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Revealed share of ink per image: the x axis of accuracy-vs-revealed curves."""
    ink = images.to(torch.float32)
    return _ink_fraction(ink, masks, ink.sum(dim=(1, 2)).to(torch.float64))
