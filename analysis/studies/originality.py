"""Originality vs recognizability of one-shot generators (Boutin et al., 2022).

A one-shot generator sees one exemplar of a new category and draws variations. Two questions
pull against each other: are the samples *recognizable* as the category, and are they
*original* rather than copies of the exemplar? Both are judged by a critic that never saw the
test categories (`models.train_critic`):

- **originality** of a sample: cosine distance between its critic embedding and its exemplar's
  (0 = a copy, larger = further away);
- **recognizability**: the share of samples a one-shot nearest-prototype classifier assigns to
  their exemplar's category, the prototypes being the exemplars of all test categories
  (chance = 1 / number of categories).

Sweeping the CFGDM's guidance scale γ traces a curve through this plane; other real drawings of
the same categories (by other people) give the human reference point. Means come with bootstrap
95% CIs over categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ..stats import bootstrap_ci

REPO = Path(__file__).resolve().parents[2]
DEFAULT_HELDOUT = REPO / "data" / "oneshot" / "heldout40.npz"
DEFAULT_CRITIC = REPO / "models" / "weights" / "critic"

#: ``generate(exemplars [C, 28, 28] uint8, gamma, seed) -> samples [C, 28, 28] uint8``
Generator = Callable[[np.ndarray, float, int], np.ndarray]


@dataclass
class Critic:
    """A trained classifier used only for its pooled penultimate features."""

    module: torch.nn.Module
    preprocess: Callable[[np.ndarray], torch.Tensor]

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> np.ndarray:
        """L2-normalised features ``[N, D]`` of uint8 drawings ``[N, H, W]``."""
        x = self.preprocess(np.asarray(images, dtype=np.uint8))
        features = self.module.pool(self.module.features(x)).flatten(1)
        return torch.nn.functional.normalize(features, dim=1).cpu().numpy()


def load_critic(weights_dir: str | Path | None = None, device: str | None = None) -> Critic:
    from models.classifier import load_classifier

    loaded = load_classifier(weights_dir or DEFAULT_CRITIC, device)
    return Critic(loaded.module, loaded.preprocess)


def load_heldout(path: str | Path | None = None, n_categories: int | None = None) -> tuple[np.ndarray, list[str]]:
    """``(images [C, K, 28, 28] uint8, categories)`` of the held-out categories."""
    with np.load(path or DEFAULT_HELDOUT, allow_pickle=False) as data:
        images, categories = data["images"], [str(c) for c in data["categories"]]
    if images.ndim != 4 or images.shape[0] != len(categories) or images.shape[1] < 2:
        raise ValueError("held-out set must hold images [categories, drawings >= 2, H, W] and one name per category")
    return images[:n_categories], categories[:n_categories]


def score(critic: Critic, exemplars: np.ndarray, samples: np.ndarray) -> pd.DataFrame:
    """Per category: mean originality and recognizability of its ``samples [C, S, H, W]``."""
    c, s = samples.shape[:2]
    prototypes = critic.embed(exemplars)  # [C, D]
    emb = critic.embed(samples.reshape(c * s, *samples.shape[2:])).reshape(c, s, -1)
    similarity = emb @ prototypes.T  # [C, S, C]
    own = similarity[np.arange(c), :, np.arange(c)]  # [C, S]
    recognised = similarity.argmax(axis=2) == np.arange(c)[:, None]
    return pd.DataFrame({"category_index": np.arange(c), "originality": (1.0 - own).mean(1),
                         "recognizability": recognised.mean(1)})


def sweep(generate: Generator, critic: Critic, drawings: np.ndarray, categories: Sequence[str],
          gammas: Sequence[float], samples_per: int = 5, seed: int = 0,
          n_boot: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, per_category)`` for the generator at each gamma and for the human reference.

    The exemplar of each category is its first drawing; the human reference is drawings
    ``1..samples_per`` of the same category (other people's drawings of it).
    """
    if drawings.shape[1] < samples_per + 1:
        raise ValueError(f"need {samples_per + 1} drawings per category for {samples_per} human references")
    exemplars = drawings[:, 0]
    rows, per_category = [], []

    def add(source: str, gamma: float | None, samples: np.ndarray) -> None:
        table = score(critic, exemplars, samples)
        table.insert(0, "category", list(categories))
        table.insert(0, "gamma", gamma)
        table.insert(0, "source", source)
        per_category.append(table)
        row: dict = {"source": source, "gamma": gamma, "n_categories": len(table), "samples_per": samples.shape[1]}
        for key in ("originality", "recognizability"):
            ci = bootstrap_ci(table[key], n_boot=n_boot, seed=seed)
            row.update({key: ci["mean"], f"{key}_lo": ci["lo"], f"{key}_hi": ci["hi"]})
        rows.append(row)

    add("human", None, drawings[:, 1:samples_per + 1])
    for gamma in gammas:
        samples = np.stack([generate(exemplars, gamma, seed + k) for k in range(samples_per)], axis=1)
        add("cfgdm", float(gamma), samples)
    summary = pd.DataFrame(rows)
    summary.attrs["chance"] = 1.0 / len(categories)
    return summary, pd.concat(per_category, ignore_index=True)


def cfgdm_generator(model, steps: int = 25, sampler: str = "ddim") -> Generator:
    """`OneShotCFGDM.sample` as a `Generator`."""
    def generate(exemplars: np.ndarray, gamma: float, seed: int) -> np.ndarray:
        return model.sample(exemplars, gamma=gamma, steps=steps, sampler=sampler, seed=seed)

    return generate


def plot(summary: pd.DataFrame, path: Path) -> None:
    """Recognizability against originality: the CFGDM's gamma curve and the human point."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    model = summary[summary.source == "cfgdm"]
    ax.errorbar(model.originality, model.recognizability,
                xerr=[model.originality - model.originality_lo, model.originality_hi - model.originality],
                yerr=[model.recognizability - model.recognizability_lo, model.recognizability_hi - model.recognizability],
                marker="o", color="#7570b3", label="CFGDM", capsize=2)
    for _, row in model.iterrows():
        ax.annotate(f"γ={row.gamma:g}", (row.originality, row.recognizability), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    human = summary[summary.source == "human"].iloc[0]
    ax.errorbar([human.originality], [human.recognizability], marker="*", markersize=12, color="#1b9e77",
                xerr=[[human.originality - human.originality_lo], [human.originality_hi - human.originality]],
                yerr=[[human.recognizability - human.recognizability_lo], [human.recognizability_hi - human.recognizability]],
                label="other people's drawings", capsize=2, linestyle="none")
    ax.axhline(summary.attrs.get("chance", 0), color="0.6", ls=":", label="chance")
    ax.set_xlabel("originality (critic cosine distance to the exemplar)")
    ax.set_ylabel("recognizability (one-shot accuracy)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
