"""Image (and text) encoders that judge generated images: one small protocol, two implementations.

A study that asks "which source does this image imitate?" needs only embeddings it can compare
by distance, so every encoder here answers `embed_images` (and, for zero-shot identification by
name, `embed_texts`) with rows ``[N, D]`` compared by squared Euclidean distance (CLIP's rows are
L2-normalised, so there it ranks like cosine similarity; the critic's prototypical-network
embedding is not normalised, and squared Euclidean distance is the metric it was trained with):

- `CriticEncoder`: this project's one-shot drawing critic (`models.critic.load_critic`, the
  prototypical network validated on Omniglot),
  for white-on-black sketches. It has no text side. The critic is reached through
  `load_drawing_critic` only, so replacing it with a better-validated one is a one-line change.
- `ClipEncoder`: CLIP through transformers (`CLIPModel` + `CLIPProcessor.from_pretrained`) from
  a local folder or a hub id, e.g. ``openai/clip-vit-base-patch32``.

Images are uint8 numpy arrays, grayscale ``[H, W]`` or RGB ``[H, W, 3]``; each encoder converts
what it is given to what its network expects (sizes may differ within a call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from models.render import image_to_strokes_on_black

from .stimuli import at_size


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds images as rows ``[N, D]`` compared by squared Euclidean distance."""

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


@runtime_checkable
class TextEncoder(Encoder, Protocol):
    """An encoder that also embeds texts into the same space (zero-shot identification by name)."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(features: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(features.float(), dim=1).cpu().numpy()


def as_gray(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W]`` from grayscale or RGB(A) (ITU-R 601 luma, as PIL's ``convert("L")``)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        luma = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
        return np.clip(np.round(luma), 0, 255).astype(np.uint8)
    raise ValueError(f"images must be [H, W] or [H, W, 3], got shape {arr.shape}")


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]`` from grayscale or RGB(A)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return arr[..., :3]
    raise ValueError(f"images must be [H, W] or [H, W, 3], got shape {arr.shape}")


class CriticEncoder:
    """A drawing critic's features; images become 28x28 white-on-black drawings first."""

    name = "critic"

    def __init__(self, critic, size: int = 28) -> None:
        self.critic = critic  # anything with ``embed(uint8 [N, size, size]) -> [N, D]``
        self.size = size

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        drawings = [at_size(image_to_strokes_on_black(as_gray(im)), self.size, self.size) for im in images]
        if not drawings:
            raise ValueError("no images to embed")
        return np.asarray(self.critic.embed(np.stack(drawings)), dtype=np.float32)


def load_drawing_critic(weights_dir: str | Path | None = None, device: str | None = None) -> CriticEncoder:
    """The project's drawing critic as an `Encoder` (the one place that names which critic)."""
    from models.critic import load_critic

    return CriticEncoder(load_critic(weights_dir or "quickdraw", device))


def _features(output) -> torch.Tensor:
    """transformers < 5 returns the projected features; 5.x wraps them as ``pooler_output``."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipEncoder:
    """CLIP image and text embeddings (the projected, L2-normalised ones CLIP compares)."""

    name = "clip"

    def __init__(self, name_or_path: str | Path, device: str | None = None, batch_size: int = 32) -> None:
        from transformers import CLIPModel, CLIPProcessor

        from models.classifier import choose_device

        self.device = choose_device(device)
        self.model = CLIPModel.from_pretrained(str(name_or_path)).to(self.device).eval()
        self.processor = CLIPProcessor.from_pretrained(str(name_or_path))
        self.batch_size = batch_size

    @torch.no_grad()
    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        rgb = [as_rgb(im) for im in images]
        if not rgb:
            raise ValueError("no images to embed")
        out = []
        for start in range(0, len(rgb), self.batch_size):
            inputs = self.processor(images=rgb[start:start + self.batch_size], return_tensors="pt")
            out.append(_features(self.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.device))))
        return _normalise(torch.cat(out))

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        inputs = self.processor(text=list(texts), return_tensors="pt", padding=True, truncation=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        return _normalise(_features(self.model.get_text_features(**inputs)))
