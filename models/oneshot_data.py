"""One-shot episodes from many categories with few drawings each.

Quick, Draw! simplified strokes (one ``<category>.ndjson`` per category) are rendered like the
official bitmaps (`render.strokes_to_bitmap`, 28x28). A seeded split holds out whole categories
for testing: the model never sees a test category in training, so samples from a test exemplar
show one-shot generalisation. An episode pairs an exemplar with a target of the same category:
a *different* drawing, or (with probability ``p_same``) another stroke-augmented view of the
exemplar's own drawing (`stroke_augment`), which teaches the model to keep an exemplar's parts
while varying how they are drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .render import strokes_to_bitmap

DEFAULT_STROKES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "quickdraw" / "simplified_strokes"


@dataclass
class DrawingSet:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int [N]
    categories: list[str]
    strokes: list = field(default_factory=list)  # simplified-format drawings, when loaded from strokes


def load_strokes_folder(folder: str | Path, max_per_category: int | None = None) -> DrawingSet:
    """Render every ``*.ndjson`` file of a folder (category = file stem), sorted by name."""
    files = sorted(Path(folder).glob("*.ndjson"))
    if not files:
        raise FileNotFoundError(f"no .ndjson stroke files in {folder}")
    images, labels, categories, strokes = [], [], [], []
    for label, path in enumerate(files):
        categories.append(path.stem)
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for line in lines[:max_per_category]:
            strokes.append(json.loads(line)["drawing"])
            images.append(strokes_to_bitmap(strokes[-1]))
            labels.append(label)
    return DrawingSet(np.stack(images), np.asarray(labels), categories, strokes)


def split_categories(categories: list[str], n_test: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, test) category names; the test ones are never used in training."""
    order = np.random.default_rng(seed).permutation(len(categories))
    test = sorted(categories[i] for i in order[:n_test])
    return sorted(set(categories) - set(test)), test


class EpisodeSampler:
    """Random (target, exemplar) pairs of the same category.

    Without ``views`` (the drawings as rendered) the target is always a different drawing from
    the exemplar. With ``views`` (uint8 ``[N, V, H, W]``, e.g. `stroke_augment.render_views`)
    both are random views of their drawings, and with probability ``p_same`` the target is
    another view of the exemplar's own drawing (a different view when ``V > 1``).
    """

    def __init__(self, data: DrawingSet, categories: list[str], seed: int = 0, views: np.ndarray | None = None,
                 p_same: float = 0.0) -> None:
        if not 0.0 <= p_same <= 1.0:
            raise ValueError("p_same must lie in [0, 1]")
        if views is not None and (views.ndim != 4 or len(views) != len(data.images)):
            raise ValueError("views must be [N drawings, V, H, W] for the N drawings of the set")
        if p_same > 0 and (views is None or views.shape[1] < 2):
            raise ValueError("p_same > 0 needs at least two views per drawing (else target = exemplar)")
        wanted = {data.categories.index(c) for c in categories}
        self.by_label = {lab: np.flatnonzero(data.labels == lab) for lab in sorted(wanted)}
        self.by_label = {lab: idx for lab, idx in self.by_label.items() if len(idx) >= 2}
        if not self.by_label:
            raise ValueError("episodes need categories with at least two drawings")
        self.labels = np.array(sorted(self.by_label))
        self.data = data
        self.views = views if views is not None else data.images[:, None]
        self.p_same = p_same
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(targets, exemplars, labels)`` uint8 arrays of ``size`` episodes."""
        labels = self.rng.choice(self.labels, size=size)
        n_views = self.views.shape[1]
        targets, exemplars = [], []
        for lab in labels:
            i, j = self.rng.choice(self.by_label[lab], size=2, replace=False)
            if self.rng.random() < self.p_same:
                vi, vj = self.rng.choice(n_views, size=2, replace=False)
                j = i
            else:
                vi, vj = self.rng.integers(n_views, size=2)
            targets.append(self.views[i, vi])
            exemplars.append(self.views[j, vj])
        return np.stack(targets), np.stack(exemplars), labels
