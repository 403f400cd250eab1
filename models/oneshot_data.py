"""One-shot episodes from many categories with few drawings each.

Quick, Draw! simplified strokes (one ``<category>.ndjson`` per category) are rendered like the
official bitmaps (`render.strokes_to_bitmap`, 28x28). A seeded split holds out whole categories
for testing: the model never sees a test category in training, so samples from a test exemplar
show one-shot generalisation. An episode pairs an exemplar with a *different* drawing of the
same category as the target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .render import strokes_to_bitmap

DEFAULT_STROKES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "quickdraw" / "simplified_strokes"


@dataclass
class DrawingSet:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int [N]
    categories: list[str]


def load_strokes_folder(folder: str | Path, max_per_category: int | None = None) -> DrawingSet:
    """Render every ``*.ndjson`` file of a folder (category = file stem), sorted by name."""
    files = sorted(Path(folder).glob("*.ndjson"))
    if not files:
        raise FileNotFoundError(f"no .ndjson stroke files in {folder}")
    images, labels, categories = [], [], []
    for label, path in enumerate(files):
        categories.append(path.stem)
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for line in lines[:max_per_category]:
            images.append(strokes_to_bitmap(json.loads(line)["drawing"]))
            labels.append(label)
    return DrawingSet(np.stack(images), np.asarray(labels), categories)


def split_categories(categories: list[str], n_test: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, test) category names; the test ones are never used in training."""
    order = np.random.default_rng(seed).permutation(len(categories))
    test = sorted(categories[i] for i in order[:n_test])
    return sorted(set(categories) - set(test)), test


class EpisodeSampler:
    """Random (target, exemplar) pairs of the same category, never the same drawing twice."""

    def __init__(self, data: DrawingSet, categories: list[str], seed: int = 0) -> None:
        wanted = {data.categories.index(c) for c in categories}
        self.by_label = {lab: np.flatnonzero(data.labels == lab) for lab in sorted(wanted)}
        self.by_label = {lab: idx for lab, idx in self.by_label.items() if len(idx) >= 2}
        if not self.by_label:
            raise ValueError("episodes need categories with at least two drawings")
        self.labels = np.array(sorted(self.by_label))
        self.data = data
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(targets, exemplars, labels)`` uint8 arrays of ``size`` episodes."""
        labels = self.rng.choice(self.labels, size=size)
        targets, exemplars = [], []
        for lab in labels:
            i, j = self.rng.choice(self.by_label[lab], size=2, replace=False)
            targets.append(i)
            exemplars.append(j)
        return self.data.images[targets], self.data.images[exemplars], labels
