"""Validation of a critic network on categories it never saw, with 95% bootstrap CIs.

* `omniglot_runs`: Lake et al.'s 20 runs of 20-way 1-shot classification — each test image is
  assigned to the nearest of its run's 20 training images; error rate over the 400 trials, CI by
  resampling whole runs.
* `heldout_episodes`: random N-way 1-shot episodes over held-out categories (default 1000
  episodes of 20-way with 5 queries per class); accuracy, CI by resampling whole categories
  (the queries of one category are not independent, and new categories are what we generalise to).

``python -m models.critic_validation FOLDER`` re-runs the validation of a critic folder and
rewrites the numbers in its records (the weights and their sha256 are untouched).

``metric`` is ``"euclidean"`` (squared distance, the prototypical network's rule) or
``"cosine"`` (for SimCLR features).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from analysis.stats import bootstrap_ci

from .critic import ConvEncoder, Encoder, save_encoder, squared_distances
from .critic_data import DATASETS
from .omniglot import Runs

Embed = Callable[[np.ndarray], np.ndarray]


def _distances(queries: np.ndarray, support: np.ndarray, metric: str) -> np.ndarray:
    if metric == "euclidean":
        return squared_distances(queries, support)
    if metric == "cosine":
        q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        s = support / np.maximum(np.linalg.norm(support, axis=1, keepdims=True), 1e-12)
        return 1.0 - q @ s.T
    raise ValueError(f"unknown metric {metric!r}")


def omniglot_runs(embed: Embed, runs: Runs, metric: str = "euclidean", n_boot: int = 2000) -> dict:
    """``{"error", "lo", "hi", "per_run_error", "trials"}`` on the 20-run benchmark."""
    correct = []
    for training, test, answers in zip(runs.training, runs.test, runs.answers):
        guess = _distances(embed(test), embed(training), metric).argmin(1)
        correct.append(guess == answers)
    correct = np.asarray(correct, np.float64)  # [runs, 20]
    groups = np.repeat(np.arange(len(correct)), correct.shape[1])
    ci = bootstrap_ci(1.0 - correct.ravel(), groups=groups, n_boot=n_boot)
    return {"error": ci["mean"], "lo": ci["lo"], "hi": ci["hi"], "trials": int(correct.size),
            "per_run_error": [round(float(e), 4) for e in 1.0 - correct.mean(1)]}


def heldout_episodes(embed: Embed, images: np.ndarray, way: int = 20, episodes: int = 1000, queries: int = 5,
                     metric: str = "euclidean", seed: int = 0, n_boot: int = 2000) -> dict:
    """``{"accuracy", "lo", "hi", "way", "episodes", "chance"}`` of N-way 1-shot episodes."""
    n_classes, per = images.shape[:2]
    if way > n_classes or queries + 1 > per:
        raise ValueError(f"{way}-way episodes with {queries} queries need {way} classes of {queries + 1} drawings")
    emb = embed(images.reshape(-1, *images.shape[2:])).reshape(n_classes, per, -1)
    rng = np.random.default_rng(seed)
    correct, category = [], []
    for _ in range(episodes):
        classes = rng.choice(n_classes, way, replace=False)
        picks = np.stack([rng.choice(per, queries + 1, replace=False) for _ in classes])
        support = emb[classes, picks[:, 0]]
        query = emb[classes[:, None], picks[:, 1:]].reshape(way * queries, -1)
        guess = _distances(query, support, metric).argmin(1)
        correct.append(guess == np.repeat(np.arange(way), queries))
        category.append(np.repeat(classes, queries))
    ci = bootstrap_ci(np.concatenate(correct).astype(float), groups=np.concatenate(category), n_boot=n_boot,
                      seed=seed)
    return {"accuracy": ci["mean"], "lo": ci["lo"], "hi": ci["hi"], "way": way, "episodes": episodes,
            "queries": queries, "chance": 1.0 / way}


def validate(dataset: str, embed: Embed, metric: str = "euclidean", quick: bool = False) -> dict:
    """The validation numbers a critic's card reports for its data set."""
    from .critic_data import load_heldout_quickdraw
    from .omniglot import load_runs

    episodes = 100 if quick else 1000
    if dataset == "omniglot":
        return {"omniglot_20_runs_20way_1shot": omniglot_runs(embed, load_runs(), metric)}
    images, _ = load_heldout_quickdraw()
    return {"quickdraw_heldout40_20way_1shot": heldout_episodes(embed, images, 20, episodes, metric=metric),
            "quickdraw_heldout40_40way_1shot": heldout_episodes(embed, images, 40, episodes, metric=metric)}


def add_training_args(p: argparse.ArgumentParser) -> None:
    """The options both critic trainers share."""
    p.add_argument("--dataset", choices=DATASETS, required=True)
    p.add_argument("--data", default=None, help="training data (default: ../shared/data/<dataset>)")
    p.add_argument("--out", required=True)
    p.add_argument("--width", type=int, default=32, help="channels of the conv encoder (= embedding size)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick-validation", action="store_true", help="100 instead of 1000 validation episodes")


def parse_training_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded as the command that made the weights
    return args


def validate_and_save(module: ConvEncoder, args: argparse.Namespace, role: str, metric: str, began: float,
                      meta: dict[str, Any]) -> Path:
    """Validate the trained encoder on unseen categories and save it as ``<out>/<role>`` with its record."""
    module.eval()
    train_seconds = time.time() - began
    validation = validate(args.dataset, Encoder(module).embed, metric, args.quick_validation)
    key = "validation" if metric == "euclidean" else "validation_nearest_exemplar_cosine"
    record = {**meta, "dataset": args.dataset, "lr": args.lr, "seed": args.seed, "threads": args.threads,
              "train_seconds": round(train_seconds, 1), key: validation,
              "command": f"python -m models.train_{role} " + " ".join(args.argv)}
    out = save_encoder(module, Path(args.out) / role, record)
    print(f"validation: {validation}; saved {out}", flush=True)
    return out


def revalidate(folder: str | Path) -> dict:
    """Recompute the validation of ``folder``'s protonet and simclr and store it in their records."""
    import json

    from .critic import load_encoder

    results = {}
    for role, metric, key in (("protonet", "euclidean", "validation"),
                              ("simclr", "cosine", "validation_nearest_exemplar_cosine")):
        encoder = load_encoder(Path(folder) / role, device="cpu")
        record_path = Path(folder) / f"{role}.json"
        record = json.loads(record_path.read_text())
        record[key] = results[role] = validate(record["dataset"], encoder.embed, metric)
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    return results


if __name__ == "__main__":
    print(revalidate(sys.argv[1]))
