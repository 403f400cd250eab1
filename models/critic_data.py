"""What the critics train on, and what they are validated on, for each data set.

* ``omniglot``: trains on the background zips only (``images_background_small1/2``, 242
  characters x 20 drawers); validated on the 20-run, 20-way one-shot benchmark (``all_runs.zip``,
  characters of the evaluation alphabets, never seen in training).
* ``quickdraw``: trains on the CFGDM's 263 training categories (25 drawings each, simplified
  strokes rendered by `render.strokes_to_bitmap`); validated on its 40 held-out categories
  (``data/oneshot/heldout40.npz``), which neither the CFGDM nor the critics saw.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .oneshot_data import load_strokes_folder, split_categories

DATASETS = ("omniglot", "quickdraw")
REPO = Path(__file__).resolve().parent.parent
HELDOUT_QUICKDRAW = REPO / "data" / "oneshot" / "heldout40.npz"


def shared_data() -> Path:
    """``../shared/data`` beside the repository, or ``$DA_SHARED_DATA``."""
    return Path(os.environ.get("DA_SHARED_DATA", REPO.parent / "shared" / "data"))


def training_classes(dataset: str, data: str | Path | None = None, test_categories: int = 40,
                     seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``(images uint8 [classes, drawings, 28, 28], class names)`` a critic may train on.

    ``data``: for omniglot a folder with the background zips or a slice ``.npz``
    (``data/omniglot/background_slice.npz``); for quickdraw a folder of ``.ndjson`` strokes.
    """
    if dataset == "omniglot":
        from .omniglot import BACKGROUND_ZIPS, load_background, load_shipped_background

        if data is not None and Path(data).suffix == ".npz":  # the shipped test slice
            chars = load_shipped_background(data)
        else:
            folder = Path(data) if data else shared_data() / "omniglot"
            chars = load_background([folder / z for z in BACKGROUND_ZIPS])
        return chars.images, chars.names
    if dataset == "quickdraw":
        drawings = load_strokes_folder(Path(data) if data else shared_data() / "quickdraw" / "simplified_strokes")
        train, _ = split_categories(drawings.categories, test_categories, seed)
        per = min(int((drawings.labels == drawings.categories.index(c)).sum()) for c in train)
        images = np.stack([drawings.images[drawings.labels == drawings.categories.index(c)][:per] for c in train])
        return images, train
    raise ValueError(f"unknown data set {dataset!r} (expected one of {', '.join(DATASETS)})")


def load_heldout_quickdraw(path: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """``(images uint8 [40, 25, 28, 28], categories)``: the CFGDM's held-out categories."""
    with np.load(path or HELDOUT_QUICKDRAW, allow_pickle=False) as data:
        return data["images"], [str(c) for c in data["categories"]]
