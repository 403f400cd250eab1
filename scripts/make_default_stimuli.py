"""Write the game's default stimulus set: held-out Quick, Draw! drawings, 12 per category.

    .venv/bin/python scripts/make_default_stimuli.py [--data PATH] [--out PATH]

The drawings come from the TEST split of `models.train_classifier.split_indices` (seed 0), so
the classifier never trained on what players brush. Within each category the test indices are
shuffled with ``numpy.random.default_rng(seed)`` (categories in order) and the first
``--per-category`` that can be won are taken, then sorted by source index. A drawing can be won
when the shipped classifier (``--weights``) recognises it fully revealed by the game's rule:
top-1 = its category with p >= ``--min-prob`` (`webapp.services.recognition`); the others are
passed over and counted, so every round on a default drawing can end recognised. Output keys:

* ``images``: uint8 ``[N, 28, 28]``, white strokes on black, exactly the source bitmaps;
* ``categories``: category name per image;
* ``keys``: stimulus ids ``<category>-<index>``, the category with spaces replaced by ``_``
  and the 6-digit index of the drawing in the source npz (e.g. ``alarm_clock-004012``);
* ``source_index``: that index as an integer.

Re-running with the same data and options rewrites the same arrays.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from models.train_classifier import DEFAULT_DATA, load_bitmaps, split_indices  # noqa: E402

DEFAULT_OUT = REPO / "data" / "stimuli" / "quickdraw17_default.npz"


def stimulus_key(category: str, index: int) -> str:
    """Stimulus id: category (spaces -> underscores) and the 6-digit source index."""
    return f"{category.replace(' ', '_')}-{index:06d}"


def choose_stimuli(labels: np.ndarray, per_category: int = 12, seed: int = 0,
                   split_seed: int = 0, winnable: np.ndarray | None = None) -> np.ndarray:
    """Sorted source indices of the default stimuli: ``per_category`` test-split drawings each,
    the first of each category's shuffled test drawings for which ``winnable`` (a boolean per
    source index; None = all) holds."""
    test = split_indices(labels, seed=split_seed)["test"]
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        pool = test[labels[test] == c]
        if len(pool) < per_category:
            raise ValueError(f"category {c} has only {len(pool)} test drawings")
        pool = rng.permutation(pool)
        if winnable is not None:
            pool = pool[winnable[pool]]
            if len(pool) < per_category:
                raise ValueError(f"category {c} has only {len(pool)} test drawings that can be won")
        chosen.append(pool[:per_category])
    return np.sort(np.concatenate(chosen))


def winnable_mask(images: np.ndarray, labels: np.ndarray, categories: list[str], weights: Path | None,
                  min_prob: float, split_seed: int = 0) -> np.ndarray:
    """True for each test-split drawing the classifier recognises fully revealed (the game's
    rule); False elsewhere (the other splits are never chosen anyway)."""
    from models.classifier import load_classifier
    from webapp.services.recognition import full_reveal_guesses

    classifier = load_classifier(weights, device="cpu")
    test = split_indices(labels, seed=split_seed)["test"]
    guesses = full_reveal_guesses(classifier, list(images[test]), [categories[k] for k in labels[test]],
                                  min_prob)
    mask = np.zeros(len(labels), dtype=bool)
    mask[test] = [g.recognised for g in guesses]
    return mask


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-category", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=Path, default=None,
                        help="classifier weights folder (default: the shipped models/weights)")
    parser.add_argument("--min-prob", type=float, default=0.5,
                        help="the game's DA_RECOGNITION_MIN_PROB (default 0.5)")
    args = parser.parse_args(argv)

    images, labels, categories = load_bitmaps(args.data)
    winnable = winnable_mask(images, labels, list(categories), args.weights, args.min_prob)
    unfiltered = choose_stimuli(labels, args.per_category, args.seed)
    index = choose_stimuli(labels, args.per_category, args.seed, winnable=winnable)
    print(f"{int((~winnable[unfiltered]).sum())} of the {len(unfiltered)} drawings chosen without the "
          f"rule cannot be won fully revealed; {len(set(index) - set(unfiltered))} replacements")
    names = np.array([categories[k] for k in labels[index]])
    keys = np.array([stimulus_key(categories[k], int(i)) for k, i in zip(labels[index], index)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.stem + ".tmp.npz")
    np.savez_compressed(tmp, images=images[index].astype(np.uint8), categories=names, keys=keys,
                        source_index=index.astype(np.int64))
    tmp.replace(args.out)
    print(f"{len(index)} stimuli ({args.per_category} x {len(categories)} categories) -> {args.out}")


if __name__ == "__main__":
    main()
