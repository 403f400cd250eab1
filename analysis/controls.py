"""Sanity checks that every machine map is reported with (Adebayo et al. 2018-style).

A machine map is only evidence about the model if it depends on what the model learned, does not
hinge on one noise draw, and does not hinge on one attribution method. For each machine source
the comparison therefore also computes:

- **random weights**: the same maps from the same architecture re-initialised (`randomized`).
  Its alignment with the human maps is what the architecture and the ink alone give; a trained
  map that does no better carries no learned signal. Its similarity to the trained map should be
  low.
- **seed**: the same map with another seed (the CFGDM's sampling trajectories, SmoothGrad's
  noise); their agreement says how much of a map is one draw's noise. Deterministic methods
  are reported as such, not as a perfect 1.
- **methods**: the maps of Integrated Gradients, Saliency and Occlusion of the same model, and
  their pairwise agreement.

The controls cost several attribution passes each, so by default they run on a seeded random
subset of the stimuli (`CompareOptions.control_stimuli`, all when there are fewer); the summary
says how many.

Machine-vs-machine agreement is Spearman's rho of the maps' magnitudes at the model's 28x28
resolution over the drawing's ink pixels: no blur that would manufacture agreement, and not the
blank paper (where IG from a blank baseline is zero by construction for every model, which
would also manufacture agreement).
"""

from __future__ import annotations

import copy
from itertools import combinations
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import metrics
from .stats import bootstrap_ci

AGREEMENT_METHODS = ("integrated_gradients", "saliency", "occlusion")
SEEDED_METHODS = {"cfgdm": None, "classifier": ("smoothgrad",)}  # None: every method depends on the seed
RANDOM_WEIGHTS_SEED = 1234

#: (model, method, seed, rows) -> raw signed maps [len(rows), 28, 28] of those stimuli
Attributor = Callable[[Any, str, int, np.ndarray], np.ndarray]


def randomized(module: nn.Module, seed: int = RANDOM_WEIGHTS_SEED) -> nn.Module:
    """A copy of ``module`` with every layer re-initialised by its own ``reset_parameters``
    (PyTorch's default initialisation), seeded; the original and the global RNG are untouched."""
    clone = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in clone.modules():
            reset = getattr(layer, "reset_parameters", None)
            if callable(reset):
                reset()
    return clone.eval()


def random_weights(source: str, model: Any, seed: int = RANDOM_WEIGHTS_SEED) -> Any:
    """The CFGDM or classifier with the same architecture and re-initialised weights."""
    if source == "cfgdm":
        from models.cfgdm import OneShotCFGDM

        return OneShotCFGDM(randomized(model.unet, seed), model.scheduler.config.num_train_timesteps,
                            {**model.meta, "random_weights_seed": seed})
    from models.classifier import SketchClassifier

    return SketchClassifier(randomized(model.module, seed), model.categories, f"{model.version}+random-{seed}",
                            model.device, model.meta, model.input_size)


def ink_spearman(a: np.ndarray, b: np.ndarray, ink: np.ndarray) -> float:
    """Spearman's rho of |a| and |b| over the ink pixels (nan with fewer than 3 of them)."""
    if ink.sum() < 3:
        return float("nan")
    return float(metrics.spearman_rows(np.abs(a)[ink][None], np.abs(b)[ink][None])[0])


def machine_controls(source: str, model: Any, method: str, seed: int, rows: np.ndarray, raw: np.ndarray,
                     ink: np.ndarray, attribute: Attributor, prepare: Callable[[np.ndarray], np.ndarray],
                     human: list[np.ndarray]) -> dict[str, np.ndarray | str]:
    """Control values for one machine source, for the stimuli ``rows`` (indices into the
    comparison's stimuli, which ``attribute`` understands).

    ``raw`` are the source's own maps of those stimuli, ``ink`` boolean ``[n, 28, 28]``
    (the drawings' strokes, `analysis.ink.ink_mask`),
    ``prepare(raw_map)`` puts a raw map on the canvas like the compared maps, ``human`` their
    human maps.
    Returns arrays keyed ``random_weights.alignment`` (rho with the human map),
    ``random_weights.similarity`` (rho with the trained map), ``seed.agreement`` (or the string
    "deterministic"), and ``methods.A~B`` for each pair of methods.
    """
    n = len(raw)
    out: dict[str, np.ndarray | str] = {}
    rand = attribute(random_weights(source, model), method, seed, rows)
    out["random_weights.alignment"] = np.array([metrics.spearman(human[i], prepare(rand[i])) for i in range(n)])
    out["random_weights.similarity"] = np.array([ink_spearman(raw[i], rand[i], ink[i]) for i in range(n)])
    seeded = SEEDED_METHODS[source]
    if seeded is None or method in seeded:
        other = attribute(model, method, seed + 1, rows)
        out["seed.agreement"] = np.array([ink_spearman(raw[i], other[i], ink[i]) for i in range(n)])
    else:
        out["seed.agreement"] = "deterministic"
    by_method = {method: raw}
    for name in AGREEMENT_METHODS:
        if name not in by_method:
            by_method[name] = attribute(model, name, seed, rows)
    for a, b in combinations(sorted(by_method), 2):
        out[f"methods.{a}~{b}"] = np.array([ink_spearman(by_method[a][i], by_method[b][i], ink[i]) for i in range(n)])
    return out


def summarise_controls(values: dict[str, np.ndarray | str], n_boot: int, seed: int) -> dict[str, Any]:
    """Mean and stimulus-bootstrap 95% CI of every control value, nested by control."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        group, name = key.split(".", 1)
        out.setdefault(group, {})[name] = value if isinstance(value, str) else bootstrap_ci(value, None, n_boot,
                                                                                             seed=seed)
    return out
