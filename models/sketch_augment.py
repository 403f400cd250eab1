"""Random sketch transformations, batched in torch: affine jitter, crops, stroke thickness, elastic noise.

One module serves three jobs so they cannot drift apart: SimCLR's views (`STRONG`), the mild
jitter of the prototypical network's training episodes and the study's baseline generator
(`MILD`: "the exemplar under random affine jitter and stroke noise"). Input and output are float
``[N, 1, H, W]`` drawings, white strokes on black in 0..1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Ranges the random transformations are drawn from (uniformly)."""

    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)  # > 1 zooms in: a random crop resized to full size
    shear: float = 0.15
    translate: float = 0.1  # fraction of the half-width (affine_grid's coordinates)
    thickness: tuple[float, float] = (-0.5, 0.5)  # < 0 blends toward erosion, > 0 toward dilation
    elastic: float = 0.0  # displacement amplitude of a smooth random field (grid units)
    elastic_cells: int = 4  # the field is random on a cells x cells grid, upsampled smoothly


MILD = Augment(rotate_deg=10.0, scale=(0.9, 1.1), shear=0.1, translate=0.08, thickness=(-0.3, 0.5),
               elastic=0.04)
STRONG = Augment(rotate_deg=20.0, scale=(0.8, 1.35), shear=0.25, translate=0.15, thickness=(-0.6, 1.0),
                 elastic=0.08)


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def augment(x: torch.Tensor, generator: torch.Generator, spec: Augment = STRONG) -> torch.Tensor:
    """Each drawing of ``x [N,1,H,W]`` under its own random transformation drawn from ``spec``."""
    n = x.shape[0]
    angle = _uniform(n, -spec.rotate_deg, spec.rotate_deg, generator) * math.pi / 180
    zoom = _uniform(n, *spec.scale, generator)
    shear = _uniform(n, -spec.shear, spec.shear, generator)
    shift = _uniform(2 * n, -spec.translate, spec.translate, generator).view(n, 2)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin + shear * cos, shift[:, 0]], 1),
                         torch.stack([sin, cos + shear * sin, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if spec.elastic > 0:
        field = torch.randn(n, 2, spec.elastic_cells, spec.elastic_cells, generator=generator) * spec.elastic
        field = F.interpolate(field, size=x.shape[-2:], mode="bicubic", align_corners=False)
        grid = grid + field.permute(0, 2, 3, 1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    amount = _uniform(n, *spec.thickness, generator).view(n, 1, 1, 1)
    dilated = F.max_pool2d(out, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-out, 3, stride=1, padding=1)
    out = torch.where(amount >= 0, out + amount * (dilated - out), out + (-amount) * (eroded - out))
    return out.clamp(0.0, 1.0)


def jitter_generator(spec: Augment = MILD):
    """The baseline one-shot "generator": each sample is its exemplar under `augment(spec)`.

    Returns ``generate(exemplars uint8 [C,H,W], gamma, seed) -> uint8 [C,H,W]`` (``gamma`` is
    ignored), the signature `analysis.studies.originality` expects of every generator.
    """

    def generate(exemplars: np.ndarray, gamma: float, seed: int) -> np.ndarray:
        x = torch.from_numpy(np.asarray(exemplars, np.float32) / 255.0)[:, None]
        out = augment(x, torch.Generator().manual_seed(int(seed)), spec)[:, 0].numpy()
        return np.round(out * 255).astype(np.uint8)

    return generate
