"""Train, evaluate and document the game's sketch classifier (one command, seeded).

    .venv/bin/python -m models.train_classifier --epochs 8 --seed 0 --out models/weights

Data: the 17-category Quick, Draw! bitmaps (``--data``, default
``../shared/data/quickdraw/quickdraw17_bitmaps.npz`` next to the repo), split once and for all
by `split_indices` (seed 0: 80/10/10 per category). Training shows the network the way the game
does: in every batch a random 50-70% of the drawings are replaced by simulated partial reveals
(`models.reveal_masks.random_reveals`), so the live guesses on half-brushed drawings mean
something. The test split is evaluated on full drawings and against the revealed share of ink
(same reveal generator, fixed evaluation seed); the numbers go into ``classifier.json``, the
model card ``CLASSIFIER_CARD.md`` and ``classifier_accuracy_vs_revealed.png``.

Given the seed (and thread count) runs are deterministic; outputs are replaced atomically, so
the command can be re-run safely. ``--eval-only`` re-evaluates an existing weights folder and
rewrites its card and plot without training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.classifier import (DEFAULT_CHANNELS, META_FILE, SketchCNN, load_classifier,
                               save_classifier, sha256_file)
from models.render import DEFAULT_BRUSH_FRACTION, brush_radius_px, to_model_input
from models.reveal_masks import random_reveals

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "quickdraw" / "quickdraw17_bitmaps.npz"
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
#: share of each training batch replaced by partial reveals, drawn per batch
REVEAL_SHARE = (0.5, 0.7)
#: evaluation reveals use their own fixed seed, so every model is scored on the same reveals
EVAL_SEED = 20240
EVAL_REVEALS_PER_IMAGE = 3
BIN_EDGES = np.linspace(0.0, 1.0, 11)
CARD_FILE = "CLASSIFIER_CARD.md"
PLOT_FILE = "classifier_accuracy_vs_revealed.png"


def split_indices(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The fixed train/val/test split: per category, 10% test, 10% val, the rest train.

    Each category's indices (ascending) are shuffled by one ``numpy.random.default_rng(seed)``
    in category order; the first ``round(0.1 n)`` go to test, the next ``round(0.1 n)`` to val.
    Returns sorted int64 index arrays under ``"train"``, ``"val"``, ``"test"``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(SPLIT_FRACTIONS["test"] * len(idx)))
        n_val = int(round(SPLIT_FRACTIONS["val"] * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        parts["train"].append(idx[n_test + n_val:])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}


def split_digest(split: dict[str, np.ndarray]) -> str:
    """sha256 of the split's index arrays, recorded so a recomputed split can be checked."""
    digest = hashlib.sha256()
    for name in ("train", "val", "test"):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(split[name], dtype="<i8").tobytes())
    return digest.hexdigest()


def load_bitmaps(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """images uint8 [N,28,28], labels int64 [N], categories from the Quick, Draw! npz."""
    with np.load(path) as data:
        return (data["images"], data["labels"].astype(np.int64),
                [str(c) for c in data["categories"]])


def partially_reveal(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Replace a random 50-70% of a uint8 batch [B,28,28] by simulated partial reveals."""
    n = len(batch)
    share = REVEAL_SHARE[0] + (REVEAL_SHARE[1] - REVEAL_SHARE[0]) * float(
        torch.rand(1, generator=generator))
    chosen = torch.randperm(n, generator=generator)[:int(round(share * n))]
    out = batch.clone()
    masks = random_reveals(batch[chosen], generator).masks
    out[chosen] = torch.where(masks, batch[chosen], torch.zeros_like(batch[chosen]))
    return out


def model_input(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [B,28,28] -> float [B,1,28,28] exactly as `SketchClassifier.preprocess` makes it."""
    return torch.from_numpy(to_model_input(batch.numpy()))[:, None]


@torch.no_grad()
def predict(module: torch.nn.Module, images: np.ndarray | torch.Tensor,
            batch_size: int = 1024) -> np.ndarray:
    """Top-1 class index per uint8 image [N,28,28] (module in eval mode, on CPU)."""
    module.eval()
    images = torch.as_tensor(np.asarray(images))
    preds = [module(model_input(images[i:i + batch_size])).argmax(1)
             for i in range(0, len(images), batch_size)]
    return torch.cat(preds).numpy()


def revealed_test_set(images: np.ndarray, per_image: int = EVAL_REVEALS_PER_IMAGE,
                      seed: int = EVAL_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_image`` seeded random reveals of each image: (revealed uint8, source index, ink
    fraction). Target fractions are uniform in 0..1, so every 10% bin gets similar counts."""
    generator = torch.Generator().manual_seed(seed)
    source = np.repeat(np.arange(len(images)), per_image)
    revealed, fractions = [], []
    for start in tqdm(range(0, len(source), 1024), desc="reveals", leave=False):
        batch = torch.from_numpy(images[source[start:start + 1024]])
        rv = random_reveals(batch, generator)
        revealed.append(torch.where(rv.masks, batch, torch.zeros_like(batch)).numpy())
        fractions.append(rv.ink_fraction.numpy())
    return np.concatenate(revealed), source, np.concatenate(fractions)


def accuracy_by_bin(correct: np.ndarray, fractions: np.ndarray) -> list[dict[str, Any]]:
    """Accuracy per revealed-ink bin [lo, hi) (the last bin includes 1.0)."""
    rows = []
    for i, (lo, hi) in enumerate(zip(BIN_EDGES[:-1], BIN_EDGES[1:])):
        last = i == len(BIN_EDGES) - 2
        inside = (fractions >= lo) & ((fractions <= hi) if last else (fractions < hi))
        n = int(inside.sum())
        rows.append({"lo": float(lo), "hi": float(hi), "n": n,
                     "top1": float(correct[inside].mean()) if n else None})
    return rows


def evaluate(module: torch.nn.Module, images: np.ndarray, labels: np.ndarray,
             categories: Sequence[str]) -> dict[str, Any]:
    """Test-split metrics: top-1 on full drawings (overall and per category) and vs revealed ink."""
    full_correct = predict(module, images) == labels
    revealed, source, fractions = revealed_test_set(images)
    rev_correct = predict(module, revealed) == labels[source]
    return {
        "n_test": int(len(labels)),
        "test_top1_full": float(full_correct.mean()),
        "test_top1_per_category": {c: float(full_correct[labels == k].mean())
                                   for k, c in enumerate(categories)},
        "revealed": {"reveals_per_image": EVAL_REVEALS_PER_IMAGE, "seed": EVAL_SEED,
                     "n": int(len(source)), "top1_all": float(rev_correct.mean()),
                     "bins": accuracy_by_bin(rev_correct, fractions)},
    }


def train(images: np.ndarray, labels: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray,
          n_classes: int, *, epochs: int, seed: int, batch_size: int = 256, lr: float = 3e-3,
          channels: Sequence[int] = DEFAULT_CHANNELS) -> tuple[SketchCNN, list[dict]]:
    """Train a SketchCNN with partial-reveal batches; returns it (eval mode) and per-epoch log.

    AdamW with a one-cycle learning rate, label smoothing 0.05. Initialisation, dropout
    (global torch seed) and batch order and reveals (a dedicated generator) all follow ``seed``.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    module = SketchCNN(n_classes, channels)
    steps_per_epoch = int(np.ceil(len(images) / batch_size))
    optimiser = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch)
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels)
    log = []
    for epoch in range(epochs):
        module.train()
        order = torch.randperm(len(images), generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}")
        seen, loss_sum, hits = 0, 0.0, 0
        for step in bar:
            idx = order[step * batch_size:(step + 1) * batch_size]
            x = model_input(partially_reveal(x_all[idx], generator))
            y = y_all[idx]
            logits = module(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.05)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            hits += int((logits.argmax(1) == y).sum())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{hits / seen:.3f}")
        val_top1 = float((predict(module, val_images) == val_labels).mean())
        log.append({"epoch": epoch + 1, "train_loss": loss_sum / seen,
                    "train_top1_mixed": hits / seen, "val_top1_full": val_top1})
        tqdm.write(f"epoch {epoch + 1}: train loss {loss_sum / seen:.4f}, "
                   f"train acc (mixed reveals) {hits / seen:.4f}, val top-1 (full) {val_top1:.4f}")
    module.eval()
    return module, log


def plot_accuracy(metrics: dict[str, Any], n_classes: int, path: Path) -> None:
    """Accuracy vs revealed share of ink, with full-drawing accuracy and chance for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [b for b in metrics["revealed"]["bins"] if b["n"]]
    centres = [100 * (b["lo"] + b["hi"]) / 2 for b in bins]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(centres, [100 * b["top1"] for b in bins], "o-", label="partial reveals (test split)")
    ax.axhline(100 * metrics["test_top1_full"], color="k", ls="--",
               label=f"full drawings ({100 * metrics['test_top1_full']:.1f}%)")
    ax.axhline(100 / n_classes, color="grey", ls=":", label=f"chance ({100 / n_classes:.1f}%)")
    ax.set_xlabel("revealed share of ink (%), 10% bins")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Sketch classifier: accuracy vs revealed ink")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def write_card(meta: dict[str, Any], path: Path) -> None:
    """The model card, generated from ``classifier.json`` so its numbers are the measured ones."""
    m = meta["metrics"]
    arch = meta["architecture"]
    tr = meta["training"]
    sp = meta["split"]
    rows = "\n".join(
        f"| {100 * b['lo']:.0f}–{100 * b['hi']:.0f}% | {b['n']} | "
        + (f"{100 * b['top1']:.1f}%" if b["top1"] is not None else "–") + " |"
        for b in m["revealed"]["bins"])
    per_cat = "\n".join(f"| {c} | {100 * a:.1f}% |" for c, a in m["test_top1_per_category"].items())
    epochs = "\n".join(f"| {e['epoch']} | {e['train_loss']:.4f} | {100 * e['train_top1_mixed']:.1f}% "
                       f"| {100 * e['val_top1_full']:.1f}% |" for e in tr["log"])
    text = f"""# Model card: sketch classifier `{meta['version']}`

*Generated by `models/train_classifier.py` from `classifier.json`; do not edit by hand.*

## What it is for
The classifier of the Drawing Attention game: it guesses, live, the category of a Quick, Draw!
sketch from the pixels a player has brushed so far, and its attributions are compared with
human importance maps in `analysis/`. It recognises 17 categories only:
{', '.join(meta['categories'])}.
It is not a general sketch recogniser and was not evaluated on anything but Quick, Draw!-style
28x28 bitmaps.

## Network
`SketchCNN` ({arch['name']} {arch['version']}): {len(arch['channels'])} conv3x3 + batchnorm + ReLU
blocks with {arch['channels']} channels, 2x2 max pooling after the first two (28→14→7), global
average pooling, dropout {arch['dropout']}, linear layer to {arch['n_classes']} logits;
{meta['n_parameters']:,} parameters, weights file {meta['weights_bytes'] / 1e6:.2f} MB.
Input float `[N,1,28,28]`, white strokes on black in 0..1 (`models.render.to_model_input`;
other sizes are area-averaged to 28x28). Load with `models.load_classifier()`.

## Data and split
Quick, Draw! official 28x28 bitmaps, 17 categories, {sp['n_total']:,} drawings
(Google Creative Lab, *The Quick, Draw! Dataset*, CC BY 4.0), file sha256
`{meta['data']['sha256'][:16]}…`. Fixed split `models.train_classifier.split_indices(labels,
seed={sp['seed']})`: per category 80% train / 10% val / 10% test →
{sp['n_train']:,} / {sp['n_val']:,} / {sp['n_test']:,} drawings (index sha256
`{sp['sha256'][:16]}…`). The default stimuli (`data/stimuli/quickdraw17_default.npz`) are
test-split drawings, never trained on.

## Training
`{tr['command']}`: {tr['epochs']} epochs, batch {tr['batch_size']}, AdamW (max lr {tr['lr']},
weight decay 1e-4), one-cycle schedule, label smoothing 0.05, seed {tr['seed']},
{tr['threads']} CPU thread(s), {tr['seconds'] / 60:.1f} min on {tr['machine']}
(torch {tr['torch']}). In each batch a random 50–70% of the drawings are replaced by simulated
partial reveals (`models.reveal_masks.random_reveals`): brush discs of radius
`brush_radius_px(28, 28)` = {meta['brush_radius_px']:.2f} px (brush fraction
{meta['brush_fraction']}) jittered x0.8–1.25, along random-walk strokes that mostly follow hidden
ink, stopped at a target share of ink drawn uniformly in 0..1; the mask rule is exactly
`models.render.brush_mask`.

| epoch | train loss | train top-1 (mixed reveals) | val top-1 (full) |
|---|---|---|---|
{epochs}

## Evaluation (test split, {m['n_test']:,} drawings)
**Top-1 on full drawings: {100 * m['test_top1_full']:.2f}%.**

Accuracy vs revealed share of ink: {m['revealed']['reveals_per_image']} seeded random reveals
per test drawing (evaluation seed {m['revealed']['seed']}, same generator as training,
{m['revealed']['n']:,} reveals, top-1 over all of them {100 * m['revealed']['top1_all']:.1f}%).
The revealed share is the revealed fraction of the drawing's total intensity.

| revealed ink | reveals | top-1 |
|---|---|---|
{rows}

![accuracy vs revealed ink]({PLOT_FILE})

Per category (full drawings):

| category | top-1 |
|---|---|
{per_cat}

## Limitations
- Trained and tested on official bitmaps; our renders of stroke drawings
  (`models.render.strokes_to_bitmap`) follow the same recipe and are tested against it, but no
  stroke data of these 17 categories was available to measure accuracy on renders directly.
- Simulated reveals approximate real players; accuracy on real game reveals may differ.
- With little ink revealed the task is ambiguous; low-bin accuracy is not a defect to fix.
- Quick, Draw! drawings reflect who played Quick, Draw! (countries, devices, drawing habits).
"""
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="quickdraw17_bitmaps.npz (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "weights")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="training seed (init, order, reveals)")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--channels", type=lambda s: [int(c) for c in s.split(",")],
                        default=list(DEFAULT_CHANNELS), help="conv widths, e.g. 32,64,128,128")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--eval-only", action="store_true",
                        help="re-evaluate the weights in --out, rewrite card and plot")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    images, labels, categories = load_bitmaps(args.data)
    split = split_indices(labels, seed=args.split_seed)
    test = split["test"]

    if args.eval_only:
        module = load_classifier(args.out, device="cpu").module
        meta = json.loads((args.out / META_FILE).read_text())
        if meta["split"]["sha256"] != split_digest(split):
            raise SystemExit("the split recomputed from --data differs from the one in the metadata")
        meta["metrics"] = evaluate(module, images[test], labels[test], categories)
        tmp = args.out / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        tmp.replace(args.out / META_FILE)
    else:
        started = time.time()
        module, log = train(images[split["train"]], labels[split["train"]], images[split["val"]],
                            labels[split["val"]], len(categories), epochs=args.epochs,
                            seed=args.seed, batch_size=args.batch_size, lr=args.lr,
                            channels=args.channels)
        seconds = time.time() - started
        meta = {
            "seed": args.seed,
            "data": {"path": str(args.data.name), "sha256": sha256_file(args.data),
                     "source": "Google Creative Lab, The Quick, Draw! Dataset (CC BY 4.0)"},
            "split": {"function": "models.train_classifier.split_indices", "seed": args.split_seed,
                      "fractions": SPLIT_FRACTIONS, "sha256": split_digest(split),
                      "n_total": int(len(labels)),
                      **{f"n_{k}": int(len(v)) for k, v in split.items()}},
            "brush_fraction": DEFAULT_BRUSH_FRACTION,
            "brush_radius_px": brush_radius_px(28, 28),
            "n_parameters": int(sum(p.numel() for p in module.parameters())),
            "training": {
                "command": " ".join(["python -m models.train_classifier", *argv]),
                "epochs": args.epochs, "seed": args.seed, "batch_size": args.batch_size,
                "lr": args.lr, "threads": args.threads, "seconds": round(seconds, 1),
                "machine": f"{platform.machine()} CPU", "torch": torch.__version__,
                "reveal_share": list(REVEAL_SHARE), "log": log},
            "metrics": evaluate(module, images[test], labels[test], categories),
        }
        save_classifier(module, categories, args.out, meta)
        meta = json.loads((args.out / META_FILE).read_text())
    plot_accuracy(meta["metrics"], len(categories), args.out / PLOT_FILE)
    write_card(meta, args.out / CARD_FILE)
    m = meta["metrics"]
    print(f"{meta['version']}: test top-1 full {m['test_top1_full']:.4f}, "
          f"partial reveals {m['revealed']['top1_all']:.4f} -> {args.out}")


if __name__ == "__main__":
    main()
