"""The critics of the one-shot studies: networks that judge drawings of categories they never saw.

Boutin et al. (2022) place a one-shot generator's samples in a plane judged by two separate
networks, both trained only on categories the generator is *not* tested on:

* a **recognizer** — a prototypical network (Snell et al. 2017) trained with N-way 1-shot
  episodes (`models.train_protonet`): a sample is *recognised* when it lies closer (squared
  Euclidean distance in its embedding) to its own exemplar than to the other exemplars;
* a **feature extractor** — the same small conv encoder trained self-supervised with SimCLR's
  NT-Xent loss on sketch augmentations (`models.train_simclr`): *originality* is the cosine
  distance between a sample's and its exemplar's features (0 = a copy).

Each network is one folder ``<name>.safetensors`` + ``<name>.json`` (architecture, training
provenance, validation numbers and the weights' sha256, checked on load). The shipped critics
live in ``models/weights/critic/<dataset>/`` (``quickdraw``, ``omniglot``), each with a card.

Use ``load_critic("quickdraw")`` (or ``"omniglot"``, or a folder path): ``critic.embed(images)``
is the recognizer's embedding, ``critic.identify(queries, candidates)`` its one-shot decision,
``critic.features(images)`` the SimCLR features and ``critic.originality(samples, exemplars)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .classifier import choose_device, sha256_file
from .render import to_model_input

CRITIC_DIR = Path(__file__).resolve().parent / "weights" / "critic"
ARCHITECTURE = "conv4"
INPUT_SIZE = 28


class ConvEncoder(nn.Module):
    """Snell et al.'s 4-block encoder: (conv3x3, batchnorm, ReLU, maxpool 2) x 4 -> flatten.

    On 28x28 input the map shrinks 28 -> 14 -> 7 -> 3 -> 1, so the embedding has ``width``
    dimensions. An optional projection head (used only by SimCLR's loss, never for features)
    maps it to ``projection`` dimensions.
    """

    def __init__(self, width: int = 64, projection: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for _ in range(4):
            layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.width, self.projection = int(width), int(projection)
        self.head = (nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, projection))
                     if projection else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise ValueError("this encoder has no projection head")
        return self.head(self.body(x))

    def config(self) -> dict[str, Any]:
        return {"name": ARCHITECTURE, "width": self.width, "projection": self.projection}


def images_to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N,H,W]`` white-on-black drawings (any size) -> float ``[N,1,28,28]`` in 0..1."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (white strokes on black), got {arr.dtype}")
    return torch.from_numpy(to_model_input(arr, INPUT_SIZE))[:, None]


@dataclass
class Encoder:
    """One trained encoder on its device, with what it was trained on (``meta``)."""

    module: ConvEncoder
    meta: dict[str, Any] = field(default_factory=dict)
    device: torch.device = torch.device("cpu")

    @torch.no_grad()
    def embed(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Float32 ``[N, D]`` embeddings of uint8 drawings ``[N, H, W]``."""
        x = images_to_input(images)
        if len(x) == 0:
            return np.zeros((0, self.module.width), np.float32)
        self.module.eval()
        out = [self.module(x[i:i + batch_size].to(self.device)).float().cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out).numpy()


def save_encoder(module: ConvEncoder, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json`` (temporary names, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights, record = path.with_suffix(".safetensors"), path.with_suffix(".json")
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp = weights.with_suffix(".safetensors.tmp")
    save_file(state, str(tmp))
    os.chmod(tmp, 0o644)
    full = dict(meta)
    full.update({"architecture": module.config(), "input_size": INPUT_SIZE, "weights_file": weights.name,
                 "weights_sha256": sha256_file(tmp),
                 "input": "uint8 [N,H,W] white strokes on black, area-averaged to 28x28, /255"})
    tmp_meta = record.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(full, indent=2) + "\n")
    os.replace(tmp, weights)
    os.replace(tmp_meta, record)
    return weights


def load_encoder(path: str | Path, device: str | None = None) -> Encoder:
    """Load ``<path>.json`` + its weights; refuses weights whose sha256 differs from the record."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        raise FileNotFoundError(f"no critic network at {path} ({meta_path.name} missing)")
    meta = json.loads(meta_path.read_text())
    weights = path.parent / meta["weights_file"]
    digest = sha256_file(weights)
    if digest != meta["weights_sha256"]:
        raise ValueError(f"{weights} has sha256 {digest[:12]}..., but {meta_path.name} expects "
                         f"{meta['weights_sha256'][:12]}...: weights and metadata do not match")
    arch = meta["architecture"]
    if arch.get("name") != ARCHITECTURE:
        raise ValueError(f"unknown critic architecture {arch.get('name')!r}")
    module = ConvEncoder(int(arch["width"]), int(arch["projection"]))
    module.load_state_dict(load_file(str(weights)))
    dev = choose_device(device)
    return Encoder(module.to(dev).eval(), meta, dev)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` squared Euclidean distances (the prototypical network's metric)."""
    return ((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]).clip(min=0)


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``1 - cos(a_i, b_i)`` of two equally long feature arrays."""
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return 1.0 - (an * bn).sum(1)


@dataclass
class Critic:
    """A recognizer (prototypical network) and a feature extractor (SimCLR) for one data set."""

    name: str
    recognizer: Encoder
    extractor: Encoder

    def embed(self, images: np.ndarray) -> np.ndarray:
        """The recognizer's embedding ``[N, D]``: compare with squared Euclidean distance."""
        return self.recognizer.embed(images)

    def identify(self, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """For each query drawing, the index of the candidate (one exemplar each) it matches best."""
        return squared_distances(self.embed(queries), self.embed(candidates)).argmin(1)

    def features(self, images: np.ndarray) -> np.ndarray:
        """SimCLR features ``[N, D]`` (not normalised)."""
        return self.extractor.embed(images)

    def originality(self, samples: np.ndarray, exemplars: np.ndarray) -> np.ndarray:
        """Cosine distance in SimCLR features between each sample and its exemplar (same length)."""
        return cosine_distances(self.features(samples), self.features(exemplars))


def load_critic(name: str | Path = "quickdraw", device: str | None = None) -> Critic:
    """The shipped critic for ``"quickdraw"`` or ``"omniglot"``, or one in a folder holding
    ``protonet.*`` and ``simclr.*``."""
    folder = Path(name) if Path(name).is_dir() else CRITIC_DIR / str(name)
    if not folder.is_dir():
        shipped = sorted(p.name for p in CRITIC_DIR.iterdir() if p.is_dir()) if CRITIC_DIR.is_dir() else []
        raise FileNotFoundError(f"no critic {name!r}: expected a folder or one of {shipped}")
    return Critic(folder.name, load_encoder(folder / "protonet", device), load_encoder(folder / "simclr", device))
