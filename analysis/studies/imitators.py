"""Generators under audit: things that make images "in the manner of" an identity.

An `Imitator` knows its identities (artist names, categories, exemplars) and, given a list of
identity indices, returns one image for each: an imitation of that identity. Three kinds:

- `TextToImageImitator`: any diffusers text-to-image pipeline (``DiffusionPipeline.from_pretrained``
  on a local folder or a hub id, e.g. a Stable Diffusion repository), prompted with a template such
  as ``"Artwork from {identity}"`` (Casper et al., 2023).
- `CFGDMImitator`: this project's one-shot CFGDM conditioned on each identity's exemplar drawing.
- `FolderImitator`: images that already exist, one subfolder per identity (`ExistingImitator`
  for images already in memory, e.g. other people's drawings as the human reference).

Images are uint8 numpy arrays (``[H, W]`` drawings or ``[H, W, 3]`` colour images).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from models.stimulus_files import IMAGE_SUFFIXES

DEFAULT_TEMPLATE = "Artwork from {identity}"


class Imitator(Protocol):
    identities: list[str]

    def generate(self, sources: Sequence[int], seed: int) -> list[np.ndarray]:
        """One image per entry of ``sources``, imitating ``identities[source]``."""
        ...


def prompts_for(identities: Sequence[str], template: str) -> list[str]:
    """The template filled in with each identity; a template without ``{identity}`` is refused."""
    if "{identity}" not in template:
        raise ValueError(f"prompt template {template!r} must contain {{identity}}")
    return [template.replace("{identity}", name) for name in identities]


class TextToImageImitator:
    """A diffusers text-to-image pipeline prompted with ``template`` filled in per identity."""

    def __init__(self, pipeline, identities: Sequence[str], template: str = DEFAULT_TEMPLATE, steps: int = 25,
                 guidance_scale: float | None = None, height: int | None = None, width: int | None = None,
                 batch_size: int = 8) -> None:
        self.pipeline = pipeline
        self.identities = list(identities)
        self.prompts = prompts_for(self.identities, template)
        self.options = {"num_inference_steps": steps, "guidance_scale": guidance_scale, "height": height,
                        "width": width}
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, identities: Sequence[str], device: str | None = None,
                        **options) -> "TextToImageImitator":
        from diffusers import DiffusionPipeline

        from models.classifier import choose_device

        pipeline = DiffusionPipeline.from_pretrained(str(name_or_path)).to(choose_device(device))
        pipeline.set_progress_bar_config(disable=True)
        return cls(pipeline, identities, **options)

    def generate(self, sources: Sequence[int], seed: int) -> list[np.ndarray]:
        options = {k: v for k, v in self.options.items() if v is not None}
        generator = torch.Generator(device="cpu").manual_seed(seed)
        images: list[np.ndarray] = []
        for start in range(0, len(sources), self.batch_size):
            prompts = [self.prompts[s] for s in sources[start:start + self.batch_size]]
            out = self.pipeline(prompt=prompts, generator=generator, output_type="np", **options).images
            images += [np.clip(np.round(np.asarray(im) * 255), 0, 255).astype(np.uint8) for im in out]
        return images


class CFGDMImitator:
    """The one-shot CFGDM: each identity is an exemplar drawing it is conditioned on."""

    def __init__(self, model, exemplars: np.ndarray, identities: Sequence[str], gamma: float = 1.0,
                 steps: int | None = None, sampler: str = "ddpm", batch_size: int = 256) -> None:
        if len(exemplars) != len(identities):
            raise ValueError("need one exemplar per identity")
        self.model, self.exemplars, self.identities = model, np.asarray(exemplars), list(identities)
        self.gamma, self.steps, self.sampler, self.batch_size = gamma, steps, sampler, batch_size

    def generate(self, sources: Sequence[int], seed: int) -> list[np.ndarray]:
        """Batches of `batch_size` (bounded memory), batch b seeded from ``(seed, b)``, so calls with
        nearby seeds never share noise."""
        chosen = self.exemplars[np.asarray(sources, dtype=int)]
        images: list[np.ndarray] = []
        for b, start in enumerate(range(0, len(chosen), self.batch_size)):
            images += list(self.model.sample(chosen[start:start + self.batch_size], gamma=self.gamma,
                                             steps=self.steps, sampler=self.sampler,
                                             seed=int(np.random.default_rng([seed, b]).integers(2**31))))
        return images


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB ``[H, W, 3]`` (a clear `ValueError` when it is not an image)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None


def read_identity_folders(folder: str | Path) -> dict[str, list[Path]]:
    """``{identity: [image paths, sorted]}`` from one subfolder per identity (empty ones refused)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected one subfolder of images per identity)")
    found = {sub.name: sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
             for sub in sorted(root.iterdir()) if sub.is_dir()}
    if not found:
        raise ValueError(f"{root}: no subfolders (expected one subfolder of images per identity)")
    empty = [name for name, files in found.items() if not files]
    if empty:
        raise ValueError(f"{root}: no PNG/JPG images for identities {empty}")
    return found


class ExistingImitator:
    """Images that already exist (``items[s]``: identity s's images, or handles `load` reads).

    The k-th request for identity s (within one `generate` call) gets item ``order[k mod n]`` of
    its n items, ``order`` being a permutation seeded by ``(seed, s)``: requests up to n never
    repeat an image, more cycle through them again.
    """

    def __init__(self, identities: Sequence[str], items: Sequence[Sequence], load=np.asarray) -> None:
        if len(items) != len(identities) or not all(len(i) for i in items):
            raise ValueError("need at least one image for every identity")
        self.identities, self.items, self.load = list(identities), [list(i) for i in items], load

    def count(self, source: int) -> int:
        return len(self.items[source])

    def generate(self, sources: Sequence[int], seed: int) -> list[np.ndarray]:
        taken: dict[int, int] = defaultdict(int)
        images = []
        for s in sources:
            items = self.items[s]
            order = np.random.default_rng([seed, s]).permutation(len(items))
            images.append(self.load(items[order[taken[s] % len(items)]]))
            taken[s] += 1
        return images


class FolderImitator(ExistingImitator):
    """Existing images, one subfolder per identity, read when requested."""

    def __init__(self, folder: str | Path, identities: Sequence[str] | None = None) -> None:
        found = read_identity_folders(folder)
        names = list(identities) if identities is not None else list(found)
        missing = [name for name in names if name not in found]
        if missing:
            raise ValueError(f"{folder}: no subfolder for identities {missing}")
        super().__init__(names, [found[name] for name in names], read_rgb)
