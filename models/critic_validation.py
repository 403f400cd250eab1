"""Validation of a critic network on categories it never saw, with 95% bootstrap CIs.

* `omniglot_runs`: Lake et al.'s 20 runs of 20-way 1-shot classification — each test image is
  assigned to the nearest of its run's 20 training images; error rate over the 400 trials, CI by
  resampling whole runs.
* `heldout_episodes`: random N-way 1-shot episodes over held-out categories (default 1000
  episodes of 20-way with 5 queries per class); accuracy, CI by resampling episodes.

``metric`` is ``"euclidean"`` (squared distance, the prototypical network's rule) or
``"cosine"`` (for SimCLR features).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from analysis.stats import bootstrap_ci

from .critic import squared_distances
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
    accuracy = np.empty(episodes)
    for e in range(episodes):
        classes = rng.choice(n_classes, way, replace=False)
        picks = np.stack([rng.choice(per, queries + 1, replace=False) for _ in classes])
        support = emb[classes, picks[:, 0]]
        query = emb[classes[:, None], picks[:, 1:]].reshape(way * queries, -1)
        guess = _distances(query, support, metric).argmin(1)
        accuracy[e] = (guess == np.repeat(np.arange(way), queries)).mean()
    ci = bootstrap_ci(accuracy, n_boot=n_boot, seed=seed)
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
