"""Train the one-shot CFGDM: ``python -m models.train_cfgdm`` (or ``accelerate launch -m ...``).

Accelerate places the model on one CPU, one GPU or several. Training draws random one-shot
episodes (exemplar and target: different drawings of one training category), checkpoints every
``--checkpoint-every`` steps into ``OUT/checkpoints`` and resumes from the latest one when
re-run, logs the loss to ``OUT/loss.csv``, and finally saves the UNet (safetensors) with a JSON
naming the held-out categories, steps and seed, plus a loss curve and a samples grid.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm import tqdm

from .cfgdm import OneShotCFGDM, small_unet, to_model_space, training_loss
from .oneshot_data import DEFAULT_STROKES, EpisodeSampler, load_strokes_folder, split_categories


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default=str(DEFAULT_STROKES), help="folder of <category>.ndjson stroke files")
    p.add_argument("--out", default="models/weights/cfgdm")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", default="16,32,64")
    p.add_argument("--test-categories", type=int, default=40)
    p.add_argument("--max-per-category", type=int, default=None)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (ignored on GPU)")
    return p.parse_args(argv)


def _latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def train(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    accelerator = Accelerator()
    out = Path(args.out)
    ckpt_dir = out / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)

    data = load_strokes_folder(args.data, args.max_per_category)
    train_cats, test_cats = split_categories(data.categories, args.test_categories, args.seed)
    sampler = EpisodeSampler(data, train_cats, seed=args.seed)
    channels = tuple(int(c) for c in args.channels.split(","))
    model = OneShotCFGDM(small_unet(channels))
    optimizer = torch.optim.AdamW(model.unet.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps,
                                                   pct_start=0.05)
    model.unet, optimizer, schedule = accelerator.prepare(model.unet, optimizer, schedule)
    accelerator.register_for_checkpointing(schedule)

    start = 0
    latest = _latest_checkpoint(ckpt_dir)
    if latest is not None:
        accelerator.load_state(str(latest))
        state = json.loads((latest / "progress.json").read_text())
        start = state["step"]
        sampler.rng = np.random.default_rng([args.seed, start])
        accelerator.print(f"resuming from {latest} (step {start})")
    generator = torch.Generator().manual_seed(args.seed + start)
    log_path = out / "loss.csv"
    log = log_path.open("a", newline="")
    writer = csv.writer(log)
    if start == 0:
        log.truncate(0)
        writer.writerow(["step", "loss"])
    began = time.time()
    model.unet.train()
    for step in tqdm(range(start, args.steps), initial=start, total=args.steps, desc="cfgdm",
                     disable=not accelerator.is_local_main_process):
        targets, exemplars, _ = sampler.batch(args.batch_size)
        loss = training_loss(model, to_model_space(targets).to(accelerator.device),
                             to_model_space(exemplars).to(accelerator.device), generator)
        accelerator.backward(loss)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        writer.writerow([step + 1, f"{loss.item():.5f}"])
        if (step + 1) % args.checkpoint_every == 0 and step + 1 < args.steps:
            log.flush()
            path = ckpt_dir / f"step-{step + 1}"
            accelerator.save_state(str(path))
            (path / "progress.json").write_text(json.dumps({"step": step + 1}))
    log.close()

    model.unet = accelerator.unwrap_model(model.unet).eval()
    if accelerator.is_main_process:
        losses = np.loadtxt(log_path, delimiter=",", skiprows=1, ndmin=2)
        model.save_pretrained(out, meta={
            "data": str(args.data), "categories_total": len(data.categories), "n_drawings": int(len(data.images)),
            "train_categories": train_cats, "test_categories": test_cats, "steps": args.steps,
            "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "channels": list(channels),
            "final_loss_mean_last_100": float(losses[-100:, 1].mean()),
            "train_seconds_this_run": round(time.time() - began, 1), "device": str(accelerator.device),
        })
        write_figures(model, data, test_cats, out, losses, args.seed)
        for old in sorted(ckpt_dir.glob("step-*")):
            shutil.rmtree(old)
    return out


def write_figures(model: OneShotCFGDM, data, test_cats: list[str], out: Path, losses: np.ndarray, seed: int) -> None:
    """Loss curve and a samples grid (held-out exemplars x guidance scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses[:, 1], np.ones(window) / window, mode="valid")
    ax.plot(losses[:, 0], losses[:, 1], alpha=0.25, lw=0.5, label="loss")
    ax.plot(losses[window - 1:, 0], smooth, lw=1.5, label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("noise MSE")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss_curve.png", dpi=120)
    plt.close(fig)

    rng = np.random.default_rng(seed)
    picks = [int(rng.choice(np.flatnonzero(data.labels == data.categories.index(c)))) for c in test_cats[:6]]
    exemplars = data.images[picks]
    gammas = [0.0, 1.0, 2.0, 4.0]
    samples = [model.sample(exemplars, gamma=g, steps=25, seed=seed) for g in gammas]
    fig, axes = plt.subplots(len(picks), len(gammas) + 1, figsize=(1.3 * (len(gammas) + 1), 1.3 * len(picks)))
    for r in range(len(picks)):
        axes[r, 0].imshow(exemplars[r], cmap="gray")
        axes[r, 0].set_ylabel(test_cats[r][:12], fontsize=7)
        for c, g in enumerate(gammas):
            axes[r, c + 1].imshow(samples[c][r], cmap="gray")
            if r == 0:
                axes[r, c + 1].set_title(f"γ={g:g}", fontsize=8)
        axes[0, 0].set_title("exemplar", fontsize=8)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "samples_grid.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    print(f"saved to {train(parse_args(argv))}")


if __name__ == "__main__":
    main()
