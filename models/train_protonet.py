"""Train a critic's recognizer: a prototypical network (Snell et al. 2017) on N-way 1-shot episodes.

    nice -n 10 python -m models.train_protonet --dataset omniglot --out models/weights/critic/omniglot
    nice -n 10 python -m models.train_protonet --dataset quickdraw --out models/weights/critic/quickdraw

Each episode draws ``way`` training classes, one support drawing (the prototype) and
``queries`` query drawings per class; the loss is cross-entropy over negative squared Euclidean
distances from each query to the prototypes. Omniglot classes are multiplied by rotations of
90, 180 and 270 degrees (new classes, as usual since Santoro et al. 2016 / Snell et al.); every
drawing also gets the mild random jitter of `models.sketch_augment`. Adam, lr 1e-3 halved every
fifth of the run. Afterwards the network is validated on categories it never saw
(`models.critic_validation`) and saved with the numbers as ``<out>/protonet.{safetensors,json}``.
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
from .sketch_augment import MILD, augment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p)
    p.add_argument("--episodes", type=int, default=1500)
    p.add_argument("--way", type=int, default=20)
    p.add_argument("--queries", type=int, default=5)
    p.add_argument("--rotations", type=int, choices=(1, 4), default=None,
                   help="4 = add rotated copies as new classes (default: 4 for omniglot, 1 for quickdraw)")
    return parse_training_args(p, argv)


def with_rotations(classes: np.ndarray) -> np.ndarray:
    """``[C, K, H, W]`` -> ``[4C, K, H, W]``: each class rotated by 0, 90, 180, 270 degrees."""
    return np.concatenate([np.rot90(classes, k, axes=(2, 3)) for k in range(4)]).copy()


def prototypical_loss(module: ConvEncoder, batch: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Loss and accuracy of one episode ``[way, 1 + queries, 1, H, W]`` (first drawing = support)."""
    way, shots = batch.shape[:2]
    emb = module(batch.flatten(0, 1)).view(way, shots, -1)
    prototypes, queries = emb[:, 0], emb[:, 1:].reshape(way * (shots - 1), -1)
    logits = -torch.cdist(queries, prototypes).pow(2)
    target = torch.arange(way).repeat_interleave(shots - 1)
    return F.cross_entropy(logits, target), float((logits.argmax(1) == target).float().mean())


def train(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    began = time.time()
    classes, names = training_classes(args.dataset, args.data)
    rotations = args.rotations or (4 if args.dataset == "omniglot" else 1)
    if rotations == 4:
        classes = with_rotations(classes)
    data = torch.from_numpy(classes.astype(np.float32) / 255.0)[:, :, None]  # [C, K, 1, H, W]
    n_classes, per = data.shape[:2]
    module = ConvEncoder(args.width)
    optimizer = torch.optim.Adam(module.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, args.episodes // 5), gamma=0.5)
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    losses = []
    module.train()
    for episode in tqdm(range(args.episodes), desc=f"protonet {args.dataset}", mininterval=30):
        picked = rng.choice(n_classes, args.way, replace=False)
        draws = np.stack([rng.choice(per, args.queries + 1, replace=False) for _ in picked])
        batch = data[torch.from_numpy(picked)[:, None], torch.from_numpy(draws)]
        batch = augment(batch.flatten(0, 1), generator, MILD).view_as(batch)
        loss, acc = prototypical_loss(module, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append((loss.item(), acc))
        if (episode + 1) % 500 == 0:
            recent = np.asarray(losses[-500:])
            print(f"episode {episode + 1}: loss {recent[:, 0].mean():.3f}, train accuracy {recent[:, 1].mean():.3f}",
                  flush=True)
    recent = np.asarray(losses[-500:])
    return validate_and_save(module, args, "protonet", "euclidean", began, {
        "role": "recognizer: prototypical network, one-shot classification by nearest exemplar (squared Euclidean)",
        "training_classes": len(names), "rotations": rotations, "drawings_per_class": int(per),
        "episodes": args.episodes, "way": args.way, "shots": 1, "queries": args.queries,
        "augmentation": "models.sketch_augment.MILD", "final_train_loss": round(float(recent[:, 0].mean()), 4),
        "final_train_accuracy": round(float(recent[:, 1].mean()), 4)})


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
