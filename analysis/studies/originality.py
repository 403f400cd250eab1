"""Originality vs recognizability of one-shot generators (Boutin et al. 2022, 2023).

A one-shot generator sees one exemplar of a new category and draws variations. Two questions
pull against each other: are the samples *recognizable* as the category, and are they
*original* rather than copies of the exemplar? Two separate critics answer them, both trained
only on categories the study never tests (`models.critic`, one card per critic):

- **originality** of a sample: cosine distance between its SimCLR features and its exemplar's
  (0 = a copy, larger = further away);
- **recognizability**: whether the prototypical network, given the exemplars as one-shot
  prototypes, assigns the sample to its own exemplar in an N-way trial (N = 20 by default: the
  own exemplar and 19 others; chance = 1/N). On Omniglot the 19 others are the other classes
  of the same benchmark run, so the human reference's recognizability *is* the critic's
  benchmark accuracy.

Sources: each model (the CFGDM at each guidance scale γ, the baseline generator that jitters
the exemplar) and the **human reference** — other people's drawings of the same category. Per
source, means with 95% CIs from resampling categories; per model, the **generalization curve**:
recognizability as a function of per-sample originality in fixed bins, with the same CIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from models.critic import Critic, squared_distances
from models.critic_data import load_heldout_quickdraw

from ..stats import bootstrap_ci

DATASETS = ("quickdraw", "omniglot")

#: ``generate(exemplars [C, 28, 28] uint8, gamma, seed) -> samples [C, 28, 28] uint8``
Generator = Callable[[np.ndarray, float, int], np.ndarray]


def load_heldout(path: str | Path | None = None, n_categories: int | None = None) -> tuple[np.ndarray, list[str]]:
    """``(images [C, K, 28, 28] uint8, categories)`` of the CFGDM's held-out Quick, Draw! categories."""
    images, categories = load_heldout_quickdraw(path)
    if images.ndim != 4 or images.shape[0] != len(categories) or images.shape[1] < 2:
        raise ValueError("held-out set must hold images [categories, drawings >= 2, H, W] and one name per category")
    return images[:n_categories], categories[:n_categories]


@dataclass
class Categories:
    """Test categories: one exemplar each, other people's drawings of it, and trial groups."""

    exemplars: np.ndarray  # uint8 [C, H, W]
    humans: np.ndarray  # uint8 [C, K, H, W], drawn by people other than the exemplar's drawer
    names: list[str]
    groups: np.ndarray  # [C]: distractors of an N-way trial come from the same group

    def __len__(self) -> int:
        return len(self.names)


def quickdraw_categories(path: str | Path | None = None, n_categories: int | None = None,
                         humans: int = 5) -> Categories:
    """The 40 held-out categories; exemplar = first drawing, humans = the next ``humans``."""
    images, names = load_heldout(path, n_categories)
    if images.shape[1] < humans + 1:
        raise ValueError(f"need {humans + 1} drawings per category for {humans} human references")
    return Categories(images[:, 0], images[:, 1:humans + 1], names, np.zeros(len(names), int))


def omniglot_categories(n_runs: int | None = None) -> Categories:
    """The 20 benchmark runs' 400 characters; exemplar = the run's training image, human = its test
    image (another drawer); distractors come from the same run, as in the benchmark."""
    from models.omniglot import load_runs

    runs = load_runs()
    r = len(runs.training) if n_runs is None else n_runs
    exemplars = runs.training[:r].reshape(-1, *runs.training.shape[2:])
    humans = np.stack([runs.test[i][np.argsort(runs.answers[i])] for i in range(r)])
    names = [f"run{i + 1:02d}/class{c + 1:02d}" for i in range(r) for c in range(runs.training.shape[1])]
    groups = np.repeat(np.arange(r), runs.training.shape[1])
    return Categories(exemplars, humans.reshape(-1, 1, *humans.shape[2:]), names, groups)


def distractors(groups: np.ndarray, way: int, n_samples: int, seed: int) -> np.ndarray:
    """``[C, n_samples, way - 1]`` indices of other categories of the same group, drawn at random
    per sample (all of them, in order, when the group has no more than ``way - 1`` others)."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(groups), n_samples, way - 1), int)
    for c, g in enumerate(groups):
        others = np.flatnonzero((groups == g) & (np.arange(len(groups)) != c))
        if len(others) < way - 1:
            raise ValueError(f"{way}-way trials need {way} categories per group, category {c} has {len(others) + 1}")
        for s in range(n_samples):
            out[c, s] = others if len(others) == way - 1 else rng.choice(others, way - 1, replace=False)
    return out


def score(critic: Critic, cats: Categories, samples: np.ndarray, way: int = 20, seed: int = 0) -> pd.DataFrame:
    """Per sample of ``samples [C, S, H, W]``: its originality and whether it was recognised."""
    c, s = samples.shape[:2]
    flat = samples.reshape(c * s, *samples.shape[2:])
    originality = critic.originality(flat, np.repeat(cats.exemplars, s, axis=0)).reshape(c, s)
    distance = squared_distances(critic.embed(flat), critic.embed(cats.exemplars)).reshape(c, s, c)
    others = distractors(cats.groups, way, s, seed)
    own = distance[np.arange(c), :, np.arange(c)]  # [C, S]
    rival = np.take_along_axis(distance, others, axis=2).min(axis=2)
    return pd.DataFrame({"category": np.repeat(cats.names, s), "sample": np.tile(np.arange(s), c),
                         "originality": originality.ravel(), "recognized": (own < rival).ravel().astype(float)})


@dataclass
class Source:
    """One model (or setting of one) to place in the plane."""

    name: str
    model: str
    gamma: float | None
    generate: Generator


def sweep(critic: Critic, cats: Categories, sources: Sequence[Source], samples_per: int = 5, way: int = 20,
          seed: int = 0) -> pd.DataFrame:
    """Per-sample table of the human reference and every source (``samples_per`` samples each)."""
    tables = []

    def add(name: str, model: str, gamma: float | None, samples: np.ndarray) -> None:
        table = score(critic, cats, samples, way, seed)
        table.insert(0, "gamma", gamma)
        table.insert(0, "model", model)
        table.insert(0, "name", name)
        tables.append(table)

    add("human", "human", None, cats.humans)
    for source in sources:
        samples = np.stack([source.generate(cats.exemplars, source.gamma or 0.0, seed + k)
                            for k in range(samples_per)], axis=1)
        add(source.name, source.model, source.gamma, samples)
    return pd.concat(tables, ignore_index=True)


def summarize(per_sample: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per source: mean originality and recognizability with 95% CIs resampling categories."""
    rows = []
    for name, table in per_sample.groupby("name", sort=False):
        row = {"name": name, "model": table.model.iloc[0], "gamma": table.gamma.iloc[0],
               "n_categories": table.category.nunique(), "n_samples": len(table)}
        for key, column in (("originality", "originality"), ("recognizability", "recognized")):
            ci = bootstrap_ci(table[column], groups=table.category, n_boot=n_boot, seed=seed)
            row.update({key: ci["mean"], f"{key}_lo": ci["lo"], f"{key}_hi": ci["hi"]})
        rows.append(row)
    return pd.DataFrame(rows)


def curves(per_sample: pd.DataFrame, n_bins: int = 8, min_samples: int = 10, n_boot: int = 2000,
           seed: int = 0) -> pd.DataFrame:
    """Recognizability per originality bin, per source, with 95% CIs resampling categories.

    The bins are the same for every source: equal-count quantiles of all sources' originality
    pooled, so each source is read on one shared axis. Bins where a source has fewer than
    ``min_samples`` samples are left out (their count is in the ``n`` of the kept rows' table
    and in ``dropped``).
    """
    edges = np.unique(np.quantile(per_sample.originality, np.linspace(0, 1, n_bins + 1)))
    index = np.clip(np.searchsorted(edges, per_sample.originality, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for name, table in per_sample.assign(bin=index).groupby("name", sort=False):
        for b, cell in table.groupby("bin"):
            if len(cell) < min_samples:
                rows.append({"name": name, "model": cell.model.iloc[0], "bin": int(b), "n": len(cell),
                             "dropped": True})
                continue
            ci = bootstrap_ci(cell.recognized, groups=cell.category, n_boot=n_boot, seed=seed)
            rows.append({"name": name, "model": cell.model.iloc[0], "bin": int(b), "bin_lo": edges[b],
                         "bin_hi": edges[b + 1], "originality": float(cell.originality.mean()), "n": len(cell),
                         "recognizability": ci["mean"], "lo": ci["lo"], "hi": ci["hi"], "dropped": False})
    return pd.DataFrame(rows, columns=["name", "model", "bin", "bin_lo", "bin_hi", "originality", "n",
                                       "recognizability", "lo", "hi", "dropped"])


def cfgdm_sources(model, gammas: Sequence[float], steps: int | None = None, sampler: str = "ddpm") -> list[Source]:
    """The CFGDM at each guidance scale, as sources."""
    return [Source(f"cfgdm γ={g:g}", "cfgdm", float(g), cfgdm_generator(model, steps, sampler)) for g in gammas]


def cfgdm_generator(model, steps: int | None = None, sampler: str = "ddpm") -> Generator:
    """`OneShotCFGDM.sample` as a `Generator`."""
    def generate(exemplars: np.ndarray, gamma: float, seed: int) -> np.ndarray:
        return model.sample(exemplars, gamma=gamma, steps=steps, sampler=sampler, seed=seed)

    return generate


def baseline_source() -> Source:
    """The exemplar under random affine jitter and stroke noise: a known reference point."""
    from models.sketch_augment import jitter_generator

    return Source("baseline (jittered exemplar)", "baseline", None, jitter_generator())


COLOURS = {"human": "black", "baseline": "#d95f02"}


def plot_plane(summary: pd.DataFrame, chance: float, path: Path) -> None:
    """Recognizability against originality: one point per source, CIs as error bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    cfgdm = summary[summary.model == "cfgdm"]
    if len(cfgdm):
        ax.plot(cfgdm.originality, cfgdm.recognizability, color="#7570b3", lw=1, label="CFGDM (γ sweep)")
    for i, (_, row) in enumerate(summary.iterrows()):
        ax.errorbar([row.originality], [row.recognizability],
                    xerr=[[row.originality - row.originality_lo], [row.originality_hi - row.originality]],
                    yerr=[[row.recognizability - row.recognizability_lo],
                          [row.recognizability_hi - row.recognizability]],
                    marker="*" if row.model == "human" else "o", markersize=11 if row.model == "human" else 5,
                    color=COLOURS.get(row.model, "#7570b3"), capsize=2, linestyle="none")
        label = f"γ={row.gamma:g}" if row.model == "cfgdm" else row["name"]
        ax.annotate(label, (row.originality, row.recognizability), fontsize=7, textcoords="offset points",
                    xytext=(4, 4) if i % 2 else (4, -10))  # alternate sides: close γ points stay legible
    ax.axhline(chance, color="0.6", ls=":", label=f"chance ({chance:.0%})")
    ax.set_xlabel("originality (SimCLR cosine distance to the exemplar)")
    ax.set_ylabel("recognizability (prototypical-net one-shot accuracy)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(table: pd.DataFrame, chance: float, path: Path) -> None:
    """Generalization curves: recognizability per originality bin, one line and band per source."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    kept = table[~table.dropped]
    palette = plt.get_cmap("viridis")
    cfgdm_names = [n for n in kept.name.unique() if kept[kept.name == n].model.iloc[0] == "cfgdm"]
    for name, curve in kept.groupby("name", sort=False):
        model = curve.model.iloc[0]
        colour = COLOURS.get(model) or palette(cfgdm_names.index(name) / max(1, len(cfgdm_names)))
        ax.plot(curve.originality, curve.recognizability, marker="o", ms=3, color=colour, label=name,
                lw=2.2 if model == "human" else 1.2)
        ax.fill_between(curve.originality, curve.lo, curve.hi, color=colour, alpha=0.15)
    ax.axhline(chance, color="0.6", ls=":", label="chance")
    ax.set_xlabel("originality of the sample (binned)")
    ax.set_ylabel("recognizability")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(dataset: str, out: Path, critic: Critic, cfgdm=None, gammas: Sequence[float] = (), samples_per: int = 5,
        humans: int = 5, way: int = 20, n_categories: int | None = None, steps: int | None = None, seed: int = 0,
        n_boot: int = 2000, n_bins: int = 8, sampler: str = "ddpm") -> dict:
    """The whole study for one data set: CSVs, ``summary.json`` and plots in ``out``; returns the summary.

    ``n_categories`` limits Quick, Draw! to its first N held-out categories and Omniglot to its
    first N benchmark runs (20 characters each). There is no CFGDM trained on Omniglot, so there
    the sources are the baseline generator and the human reference only.
    """
    import json

    from models.cfgdm import SAMPLER_STEPS

    from ..compare import jsonable

    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r} (expected one of {', '.join(DATASETS)})")
    notes = []
    if dataset == "quickdraw":
        cats = quickdraw_categories(n_categories=n_categories, humans=humans)
    else:
        cats = omniglot_categories(n_categories)
        if cfgdm is not None or gammas:
            raise ValueError("no CFGDM is trained on Omniglot: run --dataset omniglot without --gammas")
        notes.append("No CFGDM is trained on Omniglot: the sources are the baseline generator and the human "
                     "reference (the other drawer of each benchmark character).")
    sources = [baseline_source()] + (cfgdm_sources(cfgdm, gammas, steps, sampler) if cfgdm is not None else [])
    per_sample = sweep(critic, cats, sources, samples_per, way, seed)
    summary = summarize(per_sample, n_boot, seed)
    curve = curves(per_sample, n_bins, n_boot=n_boot, seed=seed)
    chance = 1.0 / way
    out.mkdir(parents=True, exist_ok=True)
    per_sample.to_csv(out / "per_sample.csv", index=False)
    summary.to_csv(out / "originality_recognizability.csv", index=False)
    curve.to_csv(out / "generalization_curves.csv", index=False)
    plot_plane(summary, chance, out / "originality_recognizability.png")
    plot_curves(curve, chance, out / "generalization_curves.png")
    record = {"dataset": dataset, "way": way, "chance": chance, "n_categories": len(cats),
              "samples_per_source": samples_per, "human_per_category": int(cats.humans.shape[1]),
              "critic": {"name": critic.name,
                         "recognizer_sha256": critic.recognizer.meta.get("weights_sha256"),
                         "extractor_sha256": critic.extractor.meta.get("weights_sha256")},
              "seed": seed, "n_boot": n_boot, "notes": notes,
              "cfgdm_sampler": ({"sampler": sampler, "steps": steps or SAMPLER_STEPS[sampler]}
                                if cfgdm is not None else None),
              "sources": summary.to_dict(orient="records"),
              "curves_dropped_bins": int(curve.dropped.sum()) if len(curve) else 0}
    (out / "summary.json").write_text(json.dumps(jsonable(record), indent=2, ensure_ascii=False) + "\n")
    return record
