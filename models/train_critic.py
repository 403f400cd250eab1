"""Train the *critic* for one-shot generation studies: ``python -m models.train_critic``.

Boutin et al. (2022) judge one-shot generators with networks that never saw the test
categories: a feature space for *originality* (how far samples move from their exemplar) and a
one-shot classifier for *recognizability* (whether a sample is recognised as its exemplar's
category among others). This critic is a `SketchCNN` trained as an ordinary classifier on the
CFGDM's **training** categories only (the same seeded split: 40 categories held out); its pooled
penultimate features are the embedding, and nearest-prototype matching in that space is the
one-shot classifier. Weights and metadata are saved like the game's classifier, so
`models.load_classifier("models/weights/critic")` loads them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .classifier import SketchCNN, save_classifier
from .oneshot_data import DEFAULT_STROKES, load_strokes_folder, split_categories


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default=str(DEFAULT_STROKES))
    p.add_argument("--out", default="models/weights/critic")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--test-categories", type=int, default=40)
    p.add_argument("--val-per-category", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def _shift(x: torch.Tensor, generator: torch.Generator, max_px: int = 2) -> torch.Tensor:
    """Random translations (drawings are not always centred the same way)."""
    dx, dy = torch.randint(-max_px, max_px + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = load_strokes_folder(args.data)
    train_cats, test_cats = split_categories(data.categories, args.test_categories, args.seed)
    label_of = {data.categories.index(c): i for i, c in enumerate(train_cats)}
    keep = np.isin(data.labels, list(label_of))
    images = torch.from_numpy(data.images[keep]).float()[:, None] / 255.0
    labels = torch.tensor([label_of[int(lab)] for lab in data.labels[keep]])
    rng = np.random.default_rng(args.seed)
    val_mask = np.zeros(len(labels), bool)
    for lab in range(len(train_cats)):  # the last few drawings of each category, shuffled
        idx = np.flatnonzero(labels.numpy() == lab)
        val_mask[rng.permutation(idx)[:args.val_per_category]] = True
    x_train, y_train = images[~val_mask], labels[~val_mask]
    x_val, y_val = images[val_mask], labels[val_mask]
    module = SketchCNN(len(train_cats))
    optimizer = torch.optim.AdamW(module.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * int(np.ceil(len(x_train) / args.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps)
    generator = torch.Generator().manual_seed(args.seed)
    began = time.time()
    for _ in tqdm(range(args.epochs), desc="critic"):
        module.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            loss = F.cross_entropy(module(_shift(x_train[batch], generator)), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    module.eval()
    with torch.no_grad():
        val_acc = float((module(x_val).argmax(1) == y_val).float().mean())
    out = save_classifier(module, train_cats, args.out, meta={
        "purpose": "critic for one-shot generation studies (features + nearest-prototype classifier)",
        "data": "../shared/data/quickdraw/simplified_strokes", "train_categories": len(train_cats),
        "held_out_categories": test_cats, "epochs": args.epochs, "seed": args.seed,
        "val_top1_training_categories": round(val_acc, 4), "train_seconds": round(time.time() - began, 1)})
    print(f"validation top-1 on training categories: {val_acc:.3f}; saved to {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
