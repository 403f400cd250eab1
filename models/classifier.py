"""The game's sketch classifier: network, saving, and the one loading path everyone uses.

The game server, the analysis (captum attributions) and the tests all load weights through
`load_classifier`, so what is tested is what runs in production. A weights folder holds

* ``classifier.safetensors``: the network's state dict (tensors only, safe to load), and
* ``classifier.json``: what is needed to rebuild and trust it: architecture, categories in
  output order, input size, and the weights file's sha256 (checked on load, so a stale or
  mixed-up folder fails loudly instead of guessing with the wrong network), plus training
  provenance (seed, split, metrics) written by `models.train_classifier`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from models.render import to_model_input

ARCHITECTURE = "sketchcnn"
ARCHITECTURE_VERSION = "1.0"
WEIGHTS_FILE = "classifier.safetensors"
META_FILE = "classifier.json"
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHANNELS = (32, 64, 128, 128)


class SketchCNN(nn.Module):
    """Compact CNN for 28x28 sketches (white strokes on black, values 0..1) -> logits.

    Blocks are conv3x3 + batchnorm + ReLU; the first two are followed by 2x2 max pooling
    (28 -> 14 -> 7), the rest work at 7x7; global average pooling and one linear layer give the
    logits. Every ReLU is its own module (not in-place) so captum's layer and DeepLift-style
    attributions can hook each one.
    """

    def __init__(self, n_classes: int, channels: Sequence[int] = DEFAULT_CHANNELS,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError("SketchCNN needs at least two conv blocks")
        layers: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU()]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, n_classes)
        self.channels = tuple(int(c) for c in channels)
        self.dropout_p = float(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pool(self.features(x)).flatten(1)
        return self.head(self.dropout(z))

    def config(self) -> dict[str, Any]:
        """What `build_module` needs to rebuild this network."""
        return {"name": ARCHITECTURE, "version": ARCHITECTURE_VERSION,
                "channels": list(self.channels), "dropout": self.dropout_p,
                "n_classes": self.head.out_features}


def fold_batchnorm(module: SketchCNN) -> SketchCNN:
    """An inference-only copy of ``module`` (in eval mode) whose batch norms are folded into the
    convolutions before them (`torch.nn.utils.fusion.fuse_conv_bn_eval`; each norm becomes an
    identity). Same function, one pass over each feature map less: its outputs match the
    original's to float rounding. Not for training, nor for attributions that hook the norms."""
    folded = copy.deepcopy(module).eval()
    layers = list(folded.features)
    for i, (layer, after) in enumerate(zip(layers, layers[1:])):
        if isinstance(layer, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
            layers[i], layers[i + 1] = fuse_conv_bn_eval(layer, after), nn.Identity()
    folded.features = nn.Sequential(*layers)
    return folded


def build_module(config: dict[str, Any]) -> SketchCNN:
    """Rebuild an (untrained) network from its saved architecture config."""
    if config.get("name") != ARCHITECTURE:
        raise ValueError(f"unknown classifier architecture {config.get('name')!r}")
    return SketchCNN(int(config["n_classes"]), config["channels"], float(config["dropout"]))


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_classifier(module: SketchCNN, categories: Sequence[str], out_dir: str | Path,
                    meta: dict[str, Any] | None = None) -> Path:
    """Write ``classifier.safetensors`` and ``classifier.json`` into ``out_dir``.

    ``meta`` (training provenance, metrics) is stored alongside the fields loading relies on;
    it cannot override them. Files are written to temporary names and renamed, so an
    interrupted run never leaves a half-written folder. Returns ``out_dir``.
    """
    categories = [str(c) for c in categories]
    if len(categories) != module.head.out_features:
        raise ValueError(f"{len(categories)} categories for {module.head.out_features} outputs")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp_weights = out / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp_weights))
    os.chmod(tmp_weights, 0o644)  # safetensors creates it owner-only; the web server must read it
    digest = sha256_file(tmp_weights)
    record = dict(meta or {})
    record.update({
        "architecture": module.config(),
        "categories": categories,
        "input_size": 28,
        "input": "float [N,1,28,28], white strokes on black in 0..1 (models.render.to_model_input)",
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": digest,
        "weights_bytes": tmp_weights.stat().st_size,
        "version": f"{ARCHITECTURE}-{ARCHITECTURE_VERSION}+{digest[:12]}",
    })
    tmp_meta = out / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp_weights, out / WEIGHTS_FILE)
    os.replace(tmp_meta, out / META_FILE)
    return out


def choose_device(device: str | None = None) -> torch.device:
    """The argument, else env ``DA_DEVICE``, else CUDA when available, else CPU."""
    name = device or os.environ.get("DA_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class SketchClassifier:
    """A loaded classifier: the network on its device plus what its outputs mean.

    ``module`` is the plain ``nn.Module`` (float ``[N,1,28,28]`` in 0..1 -> logits) in eval
    mode, for attribution methods; `predict_proba` is what the game calls, on the copy that
    `for_serving` makes.
    """

    def __init__(self, module: nn.Module, categories: Sequence[str], version: str,
                 device: torch.device, meta: dict[str, Any], input_size: int = 28,
                 channels_last: bool = False) -> None:
        self.module = module
        self.categories = list(categories)
        self.version = version
        self.device = device
        self.meta = meta
        self.input_size = input_size
        #: feed the network NHWC tensors (the layout `for_serving` stores its weights in)
        self.channels_last = channels_last

    def for_serving(self) -> "SketchClassifier":
        """A copy for the game server's guesses on the CPU: batch norms folded into the
        convolutions (`fold_batchnorm`) and weights and inputs in the channels-last layout that
        PyTorch's CPU convolutions run fastest on. About a third less CPU per image than the
        module as trained (docs/load.md, *Cost model*); the probabilities differ from ``self``'s by
        float rounding only (< 1e-6, tested), the version is the same (the same weights). On
        another device, or for a network that is not a `SketchCNN`, it is ``self``."""
        if self.device.type != "cpu" or not isinstance(self.module, SketchCNN):
            return self
        module = fold_batchnorm(self.module).to(memory_format=torch.channels_last)
        return SketchClassifier(module, self.categories, self.version, self.device, self.meta,
                                self.input_size, channels_last=True)

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 ``[N,H,W]`` (or ``[H,W]``) images -> float ``[N,1,28,28]`` on the device.

        Any size is area-averaged to 28x28 (`render.to_model_input`). Float input is refused:
        an image already in 0..1 would be divided by 255 again and look blank.
        """
        arr = np.asarray(images)
        if arr.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (white strokes on black), got {arr.dtype}")
        x = to_model_input(arr, self.input_size)
        return torch.from_numpy(x)[:, None].to(self.device)

    @torch.no_grad()
    def predict_proba(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities, float32 ``[N, len(categories)]``, columns in `categories` order."""
        x = self.preprocess(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = [torch.softmax(self.module(x[i:i + batch_size]).float(), dim=1)
               for i in range(0, len(x), batch_size)]
        if not out:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        return torch.cat(out).cpu().numpy().astype(np.float32)

    def __repr__(self) -> str:
        return (f"SketchClassifier(version={self.version!r}, {len(self.categories)} categories, "
                f"device={self.device})")


def load_classifier(weights_dir: str | Path | None = None,
                    device: str | None = None) -> SketchClassifier:
    """Load a weights folder (default: the shipped ``models/weights``) onto a device.

    The device is the argument, else env ``DA_DEVICE``, else CUDA when available, else CPU.
    The weights file must match the sha256 recorded in ``classifier.json``; the version string
    ``sketchcnn-1.0+<first 12 hex of that sha256>`` therefore names exactly these weights.
    """
    folder = Path(weights_dir) if weights_dir is not None else DEFAULT_WEIGHTS_DIR
    meta = json.loads((folder / META_FILE).read_text())
    weights = folder / meta.get("weights_file", WEIGHTS_FILE)
    digest = sha256_file(weights)
    if digest != meta["weights_sha256"]:
        raise ValueError(f"{weights} has sha256 {digest[:12]}..., but {META_FILE} expects "
                         f"{meta['weights_sha256'][:12]}...: weights and metadata do not match")
    dev = choose_device(device)
    module = build_module(meta["architecture"])
    module.load_state_dict(load_file(str(weights)))
    module.to(dev).eval()
    version = f"{ARCHITECTURE}-{meta['architecture']['version']}+{digest[:12]}"
    return SketchClassifier(module, meta["categories"], version, dev, meta,
                            int(meta["input_size"]))
