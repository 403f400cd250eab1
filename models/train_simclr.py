"""Train a critic's feature extractor self-supervised: SimCLR (Chen et al. 2020) on sketches.

    nice -n 10 python -m models.train_simclr --dataset omniglot --out models/weights/critic/omniglot
    nice -n 10 python -m models.train_simclr --dataset quickdraw --out models/weights/critic/quickdraw

No labels are used. Each step takes ``batch`` training drawings, makes two random views of each
with `models.sketch_augment.STRONG` (random affine with shear, random crops by zooming, stroke
thinning/thickening, elastic noise), and minimises the NT-Xent loss of the projection head's
outputs: each view must pick its twin among the other 2·batch − 1 views (temperature τ).
Originality uses the encoder's features *before* the head, as SimCLR prescribes. The encoder
has the prototypical network's architecture but its own weights. Adam, lr 1e-3, cosine decay.
The features are validated like the recognizer (nearest exemplar by cosine distance on unseen
categories) and saved as ``<out>/simclr.{safetensors,json}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .critic import ConvEncoder
from .critic_data import training_classes
from .critic_validation import add_training_args, parse_training_args, validate_and_save
from .sketch_augment import STRONG, augment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--projection", type=int, default=32)
    return parse_training_args(p, argv)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy over the 2N views of N pairs."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))  # a view is not its own positive
    twin = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(similarity, twin)


def train(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    began = time.time()
    classes, names = training_classes(args.dataset, args.data)
    images = torch.from_numpy(classes.reshape(-1, *classes.shape[2:]).astype(np.float32) / 255.0)[:, None]
    module = ConvEncoder(args.width, args.projection)
    optimizer = torch.optim.Adam(module.parameters(), lr=args.lr, weight_decay=1e-6)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    generator = torch.Generator().manual_seed(args.seed)
    losses = []
    module.train()
    for step in tqdm(range(args.steps), desc=f"simclr {args.dataset}", mininterval=30):
        batch = images[torch.randint(len(images), (args.batch,), generator=generator)]
        views = augment(torch.cat([batch, batch]), generator, STRONG)
        z = module.project(views)
        loss = nt_xent(z[:args.batch], z[args.batch:], args.temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 250 == 0:
            print(f"step {step + 1}: NT-Xent {np.mean(losses[-250:]):.3f}", flush=True)
    return validate_and_save(module, args, "simclr", "cosine", began, {
        "role": "feature extractor for originality: SimCLR encoder features (before the projection head), "
                "compared by cosine distance",
        "training_images": int(len(images)), "labels_used": False, "steps": args.steps, "batch": args.batch,
        "temperature": args.temperature, "augmentation": "models.sketch_augment.STRONG",
        "final_loss": round(float(np.mean(losses[-250:])), 4)})


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
