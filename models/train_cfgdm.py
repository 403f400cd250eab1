"""Train the one-shot CFGDM: ``python -m models.train_cfgdm`` (or ``accelerate launch -m ...``).

Accelerate places the model on one CPU, one GPU or several. Training draws random one-shot
episodes from a pool of stroke-augmented views of every training drawing
(`stroke_augment.render_views`; the exemplar and target are different drawings of one training
category, or with ``--p-same`` two views of one drawing), weights the loss by Min-SNR-γ and
keeps an exponential moving average (EMA) of the weights, which is what gets saved. It
checkpoints every ``--checkpoint-every`` steps into ``OUT/checkpoints`` (with the EMA weights
as a loadable folder ``ema/``, so a run can be evaluated while it trains) and resumes from the
latest one when re-run, stops cleanly at ``--max-minutes``, logs the loss to ``OUT/loss.csv``,
and finally saves the EMA UNet (safetensors) with a JSON naming the held-out categories, the
settings and the seed, plus a loss curve and a samples grid.

Under ``accelerate launch`` with N processes every step trains on N × ``--batch-size`` episodes:
each process draws its own (process 0 exactly what a one-process run draws), the learning-rate
schedule advances once per step however many processes there are, process 0 alone writes the
log (the loss averaged over processes) and decides when the time budget is spent.
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

from diffusers.training_utils import EMAModel

from .cfgdm import DEFAULT_SAMPLER, SAMPLER_STEPS, OneShotCFGDM, small_unet, to_model_space, training_loss
from .oneshot_data import DEFAULT_STROKES, EpisodeSampler, load_strokes_folder, split_categories
from .stroke_augment import render_views


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default=str(DEFAULT_STROKES), help="folder of <category>.ndjson stroke files")
    p.add_argument("--out", default="models/weights/cfgdm")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", default="16,32,64")
    p.add_argument("--layers-per-block", type=int, default=1)
    p.add_argument("--attention-levels", type=int, default=0,
                   help="self-attention in this many lowest-resolution levels (the middle block always has it)")
    p.add_argument("--beta-schedule", default="linear", choices=["linear", "squaredcos_cap_v2"])
    p.add_argument("--views", type=int, default=1,
                   help="renderings per drawing: the drawing itself plus views-1 stroke-augmented ones")
    p.add_argument("--p-same", type=float, default=0.0,
                   help="chance that the target is another view of the exemplar's own drawing")
    p.add_argument("--snr-gamma", type=float, default=None, help="Min-SNR-γ loss weighting (e.g. 5)")
    p.add_argument("--ema-decay", type=float, default=None, help="keep and save an EMA of the weights (e.g. 0.999)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop (and save) after this much training time, even before --steps")
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
    # The schedule counts optimizer steps: accelerate would otherwise step it once per process.
    accelerator = Accelerator(step_scheduler_with_optimizer=False)
    main = accelerator.is_main_process
    episode_seed = process_seed(args.seed, accelerator.process_index)
    out = Path(args.out)
    ckpt_dir = out / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)

    data = load_strokes_folder(args.data, args.max_per_category)
    train_cats, test_cats = split_categories(data.categories, args.test_categories, args.seed)
    views = None
    if args.views > 1:
        train_idx = np.flatnonzero(np.isin(data.labels, [data.categories.index(c) for c in train_cats]))
        views = np.repeat(data.images[:, None], args.views, axis=1)  # held-out drawings: never used
        views[train_idx] = render_views([data.strokes[i] for i in train_idx], args.views, args.seed,
                                        progress=accelerator.is_local_main_process)
    sampler = EpisodeSampler(data, train_cats, seed=episode_seed, views=views, p_same=args.p_same)
    channels = tuple(int(c) for c in args.channels.split(","))
    model = OneShotCFGDM(small_unet(channels, args.layers_per_block, args.attention_levels),
                         beta_schedule=args.beta_schedule)
    optimizer = torch.optim.AdamW(model.unet.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps,
                                                   pct_start=0.05)
    model.unet, optimizer, schedule = accelerator.prepare(model.unet, optimizer, schedule)
    accelerator.register_for_checkpointing(schedule)
    ema = None
    if args.ema_decay is not None:
        ema = EMAModel(accelerator.unwrap_model(model.unet).parameters(), decay=args.ema_decay,
                       use_ema_warmup=True, power=0.75)
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)

    start = 0
    latest = _latest_checkpoint(ckpt_dir)
    if latest is not None:
        accelerator.load_state(str(latest))
        state = json.loads((latest / "progress.json").read_text())
        start = state["step"]
        sampler.rng = np.random.default_rng([episode_seed, start])
        accelerator.print(f"resuming from {latest} (step {start})")
    generator = torch.Generator().manual_seed(episode_seed + start)
    log_path = out / "loss.csv"
    log = log_path.open("a", newline="") if main else None
    writer = csv.writer(log) if log is not None else None
    if writer is not None and start == 0:
        log.truncate(0)
        writer.writerow(["step", "loss", "lr"])
    settings = {"data": str(args.data), "categories_total": len(data.categories), "n_drawings": int(len(data.images)),
                "train_categories": train_cats, "test_categories": test_cats, "steps": args.steps,
                "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "channels": list(channels),
                "layers_per_block": args.layers_per_block, "attention_levels": args.attention_levels,
                "views": args.views, "p_same": args.p_same, "snr_gamma": args.snr_gamma,
                "ema_decay": args.ema_decay, "device": str(accelerator.device),
                "num_processes": accelerator.num_processes,
                "episodes_per_step": args.batch_size * accelerator.num_processes}
    began = time.time()
    done = start
    model.unet.train()
    for step in tqdm(range(start, args.steps), initial=start, total=args.steps, desc="cfgdm",
                     disable=not accelerator.is_local_main_process):
        targets, exemplars, _ = sampler.batch(args.batch_size)
        loss = training_loss(model, to_model_space(targets).to(accelerator.device),
                             to_model_space(exemplars).to(accelerator.device), generator, args.snr_gamma)
        accelerator.backward(loss)
        lr = schedule.get_last_lr()[0]
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if ema is not None:
            ema.step(accelerator.unwrap_model(model.unet).parameters())
        mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
        if writer is not None:
            writer.writerow([step + 1, f"{mean_loss:.5f}", f"{lr:.6g}"])
        done = step + 1
        out_of_time = _shared_decision(accelerator, main and args.max_minutes is not None
                                       and time.time() - began > 60 * args.max_minutes)
        if (done % args.checkpoint_every == 0 or out_of_time) and done < args.steps:
            if log is not None:
                log.flush()
            path = ckpt_dir / f"step-{done}"
            accelerator.save_state(str(path))
            if main:
                (path / "progress.json").write_text(json.dumps({"step": done}))
                _save_ema(model, accelerator, ema, path / "ema", {**settings, "steps_done": done})
        if out_of_time:
            accelerator.print(f"--max-minutes reached: stopping at step {done} of {args.steps}")
            break
    if log is not None:
        log.close()
    accelerator.wait_for_everyone()
    if main:
        losses = np.loadtxt(log_path, delimiter=",", skiprows=1, ndmin=2)
        _save_ema(model, accelerator, ema, out, {
            **settings, "steps_done": done,
            "final_loss_mean_last_100": float(losses[-100:, 1].mean()),
            "train_seconds_this_run": round(time.time() - began, 1)})
        model.unet = accelerator.unwrap_model(model.unet).eval()
        if ema is not None:
            ema.copy_to(model.unet.parameters())
        write_figures(model, data, test_cats, out, losses, args.seed)
        if done >= args.steps:
            for old in sorted(ckpt_dir.glob("step-*")):
                shutil.rmtree(old)
    return out


def process_seed(seed: int, process_index: int) -> int:
    """The seed of one training process's episodes and noise: process 0 keeps ``seed``, so a
    one-process run is unchanged, and every other process gets a stream of its own."""
    return seed + 100_003 * process_index


def _shared_decision(accelerator: Accelerator, main_says: bool) -> bool:
    """Process 0's yes/no, seen by every process, so all stop at the same step (a process that
    stopped alone would leave the others waiting in the next gradient all-reduce)."""
    flag = torch.tensor([1.0 if main_says else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def _save_ema(model: OneShotCFGDM, accelerator: Accelerator, ema: EMAModel | None, folder: Path,
              meta: dict) -> None:
    """Save the EMA weights (or the raw ones without EMA) as a loadable folder; training weights
    are left as they were."""
    unet = accelerator.unwrap_model(model.unet)
    if ema is not None:
        ema.store(unet.parameters())
        ema.copy_to(unet.parameters())
    OneShotCFGDM(unet, model.scheduler.config.num_train_timesteps, model.meta,
                 model.scheduler.config.beta_schedule).save_pretrained(folder, meta={**meta, "ema": ema is not None})
    if ema is not None:
        ema.restore(unet.parameters())


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
    samples = [model.sample(exemplars, gamma=g, seed=seed) for g in gammas]  # the default sampler (DDPM)
    fig, axes = plt.subplots(len(picks), len(gammas) + 1, figsize=(1.3 * (len(gammas) + 1), 1.3 * len(picks)),
                             squeeze=False)
    for r in range(len(picks)):
        axes[r, 0].imshow(exemplars[r], cmap="gray")
        axes[r, 0].set_ylabel(test_cats[r][:12], fontsize=7)
        for c, g in enumerate(gammas):
            axes[r, c + 1].imshow(samples[c][r], cmap="gray")
            if r == 0:
                axes[r, c + 1].set_title(f"γ={g:g}", fontsize=8)
        axes[0, 0].set_title("exemplar", fontsize=8)
    fig.suptitle(f"held-out exemplars, {DEFAULT_SAMPLER.upper()} {SAMPLER_STEPS[DEFAULT_SAMPLER]} steps, seed {seed}",
                 fontsize=8)
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
