"""Omniglot (Lake, Salakhutdinov & Tenenbaum 2015) read straight from its distribution zips.

* ``images_background_small1.zip`` / ``..._small2.zip``: ``alphabet/characterNN/ID_drawer.png``,
  105x105, black strokes on white, 20 drawers per character — the critics' only training data.
* ``all_runs.zip``: the 20-run, 20-way one-shot benchmark; ``runNN/class_labels.txt`` pairs each
  test image with the training image of its class.

Images are returned as the rest of the project expects drawings: uint8, white strokes on black,
area-averaged to 28x28 (`render.to_model_input`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .render import to_model_input

REPO = Path(__file__).resolve().parent.parent
SHIPPED_RUNS = REPO / "data" / "omniglot" / "all_runs.zip"
SHIPPED_BACKGROUND = REPO / "data" / "omniglot" / "background_slice.npz"
BACKGROUND_ZIPS = ("images_background_small1.zip", "images_background_small2.zip")


def _read_png(archive: zipfile.ZipFile, name: str, size: int) -> np.ndarray:
    """One Omniglot PNG as uint8 white-on-black ``[size, size]``."""
    ink = 1.0 - np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("L"), np.float32) / 255.0
    return np.round(to_model_input((ink * 255).astype(np.uint8), size)[0] * 255).astype(np.uint8)


@dataclass
class Characters:
    images: np.ndarray  # uint8 [C, drawers, size, size]
    names: list[str]  # "alphabet/characterNN"


def load_background(zips: list[str | Path], size: int = 28) -> Characters:
    """Every character of the background zips, each with the drawings it has (20 in Omniglot)."""
    paths = [Path(p) for p in zips]
    by_char: dict[str, list[np.ndarray]] = {}
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"Omniglot background zip {path} is missing")
        with zipfile.ZipFile(path) as archive:
            for name in sorted(n for n in archive.namelist() if n.endswith(".png")):
                parts = name.split("/")
                by_char.setdefault(f"{parts[-3]}/{parts[-2]}", []).append(_read_png(archive, name, size))
    drawers = min(len(v) for v in by_char.values())
    names = sorted(by_char)
    return Characters(np.stack([np.stack(by_char[n][:drawers]) for n in names]), names)


def load_shipped_background(path: str | Path | None = None) -> Characters:
    """The small background slice kept in the repository for tests (see ``data/README.md``)."""
    with np.load(path or SHIPPED_BACKGROUND, allow_pickle=False) as data:
        return Characters(data["images"], [str(n) for n in data["names"]])


@dataclass
class Runs:
    """The one-shot benchmark: per run, 20 training images (one per class) and 20 test images."""

    training: np.ndarray  # uint8 [runs, 20, size, size]
    test: np.ndarray  # uint8 [runs, 20, size, size]
    answers: np.ndarray  # int [runs, 20]: the training index each test image belongs to


def load_runs(path: str | Path | None = None, size: int = 28) -> Runs:
    """Parse ``all_runs.zip`` (default: the copy shipped in ``data/omniglot``)."""
    with zipfile.ZipFile(path or SHIPPED_RUNS) as archive:
        runs = sorted({n.split("/")[0] for n in archive.namelist() if n.startswith("run")})
        training, test, answers = [], [], []
        for run in runs:
            pairs = [line.split() for line in archive.read(f"{run}/class_labels.txt").decode().splitlines()
                     if line.strip()]
            train_names = sorted({p[1] for p in pairs})
            test_names = [p[0] for p in pairs]
            training.append([_read_png(archive, n, size) for n in train_names])
            test.append([_read_png(archive, n, size) for n in test_names])
            answers.append([train_names.index(p[1]) for p in pairs])
    return Runs(np.asarray(training, np.uint8), np.asarray(test, np.uint8), np.asarray(answers))
