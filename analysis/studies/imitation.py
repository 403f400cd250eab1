"""How well does a generator imitate a given source? The audit of Casper et al. (2023).

Casper et al. prompt Stable Diffusion with "Artwork from <artist>" for 70 artists and let CLIP
pick the artist among all 70 names zero-shot (81.0% top-1, against 8.6% for a random-name
baseline and 1.4% chance); then, per artist, they test whether the artist's real works are more
similar to that artist's imitations than to the other artists' imitations. This module runs that
protocol for any `Imitator` (`imitators.py`) and any `Encoder` (`analysis.encoders`):

1. **Imitations.** N images per identity, generated from that identity (its prompt or exemplar).
2. **Identification.** Each image goes to the identity whose reference embedding is nearest
   (squared Euclidean distance: for L2-normalised embeddings such as CLIP's the same ranking as
   cosine similarity, and for a prototypical-network critic the metric it was trained with): the
   encoder's embedding of the identity's prompt (zero-shot by name, CLIP) or of the identity's
   exemplar image (drawings: which exemplar does this sample imitate?).
   Top-1 per identity and overall, with percentile bootstrap 95% CIs (overall: resampling whole
   identities, so an identity's N correlated images move together).
3. **Random-source baseline.** N more images per identity, each generated from a randomly chosen
   *other* identity, scored as if they were the identity's: how often the identity is named
   when the image carries nothing of it (0 for a perfect imitator and encoder, about chance for
   an encoder that sees nothing). Chance is 1/K.
4. **Rank-sum tests.** For identity i with real works R_i, every imitation g gets its mean
   squared distance to R_i. A one-sided Mann–Whitney U test asks whether i's own imitations
   are closer than the other identities' imitations; one test per identity, Bonferroni
   corrected over the identities tested; reported with the effect size AUC = P(an own
   imitation is closer than another's) (0.5 = no preference, 1 = always closer). Each
   imitation is one observation (not each real/imitation pair, which would share images and
   overstate the evidence). Identities without real works are not tested, and are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import cdist

from ..encoders import Encoder, TextEncoder
from ..stats import bootstrap_ci
from .imitators import DEFAULT_TEMPLATE, Imitator, prompts_for

ALPHA = 0.05


@dataclass
class AuditResult:
    per_identity: pd.DataFrame  # one row per identity
    predictions: pd.DataFrame  # one row per generated image (imitation or baseline)
    summary: dict
    images: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)  # "imitation"/"baseline"


def reference_embeddings(encoder: Encoder, identify_by: str, identities: Sequence[str],
                         template: str = DEFAULT_TEMPLATE,
                         exemplars: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """``[K, D]``: the identities' prompts ("text") or exemplar images ("exemplar"), embedded."""
    if identify_by == "text":
        if not isinstance(encoder, TextEncoder):
            raise ValueError(f"encoder {getattr(encoder, 'name', encoder)!r} has no text side: "
                             "identify by exemplar instead")
        return encoder.embed_texts(prompts_for(identities, template))
    if identify_by == "exemplar":
        if exemplars is None or len(exemplars) != len(identities):
            raise ValueError("identification by exemplar needs one exemplar image per identity")
        return encoder.embed_images(list(exemplars))
    raise ValueError(f"identify_by must be 'text' or 'exemplar', not {identify_by!r}")


def nearest(embeddings: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Index of the nearest reference (squared Euclidean distance) for each embedding."""
    return cdist(embeddings, references, "sqeuclidean").argmin(axis=1)


def baseline_sources(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``[K, N]`` identity indices, row i drawn uniformly from the identities other than i."""
    return (np.arange(k)[:, None] + rng.integers(1, k, size=(k, n))) % k


def rank_sum_tests(real_embeddings: Sequence[np.ndarray | None], imitation_embeddings: np.ndarray,
                   alpha: float = ALPHA) -> pd.DataFrame:
    """Per identity: are its real works closer to its own imitations than to the others'?

    ``real_embeddings[i]`` is ``[M_i, D]`` (or None: not tested); ``imitation_embeddings`` is
    ``[K, N, D]``. Columns: ``n_real, own_distance, other_distance, auc, p, p_bonferroni,
    significant`` (NaN / False where untested); distances are mean squared Euclidean distances
    from an imitation to the identity's real works.
    """
    k, n, d = imitation_embeddings.shape
    rows = []
    for i in range(k):
        real = real_embeddings[i]
        if real is None or len(real) == 0:
            rows.append({"n_real": 0, "own_distance": np.nan, "other_distance": np.nan, "auc": np.nan,
                         "p": np.nan})
            continue
        distance = cdist(imitation_embeddings.reshape(k * n, d), np.asarray(real), "sqeuclidean")
        distance = distance.mean(axis=1).reshape(k, n)
        own, other = distance[i], np.delete(distance, i, axis=0).ravel()
        test = stats.mannwhitneyu(own, other, alternative="less")  # statistic = U of `own`
        rows.append({"n_real": len(real), "own_distance": float(own.mean()),
                     "other_distance": float(other.mean()),
                     "auc": 1.0 - float(test.statistic) / (own.size * other.size), "p": float(test.pvalue)})
    table = pd.DataFrame(rows)
    tested = table.p.notna()
    table["p_bonferroni"] = np.minimum(1.0, table.p * int(tested.sum()))
    table["significant"] = tested & (table.p_bonferroni < alpha)
    return table


def audit(imitator: Imitator, encoder: Encoder, samples_per: int, identify_by: str = "text",
          template: str = DEFAULT_TEMPLATE, exemplars: Sequence[np.ndarray] | None = None,
          real_works: Sequence[Sequence[np.ndarray]] | None = None, seed: int = 0, n_boot: int = 2000,
          alpha: float = ALPHA) -> AuditResult:
    """Run the whole protocol (module docstring) and return its tables and summary."""
    identities = list(imitator.identities)
    k, n = len(identities), samples_per
    if k < 2:
        raise ValueError("the audit needs at least 2 identities")
    if n < 1:
        raise ValueError("need at least 1 sample per identity")
    if real_works is not None and len(real_works) != k:
        raise ValueError("need one list of real works per identity")
    references = reference_embeddings(encoder, identify_by, identities, template, exemplars)

    own_sources = np.repeat(np.arange(k), n)
    base_sources = baseline_sources(k, n, np.random.default_rng(seed)).ravel()
    imitations = imitator.generate(own_sources, seed)
    baseline = imitator.generate(base_sources, seed + 1)
    if len(imitations) != k * n or len(baseline) != k * n:
        raise ValueError(f"the generator returned {len(imitations)} and {len(baseline)} images for {k * n} requests")
    imitation_emb = encoder.embed_images(imitations)
    baseline_emb = encoder.embed_images(baseline)
    predicted = nearest(imitation_emb, references)
    predicted_baseline = nearest(baseline_emb, references)
    target = own_sources  # both sets are scored against identity i = row of the [K, N] layout
    correct = (predicted == target).astype(float)
    correct_baseline = (predicted_baseline == target).astype(float)

    real_emb = [encoder.embed_images(list(works)) if works is not None and len(works) else None
                for works in (real_works if real_works is not None else [None] * k)]
    tests = rank_sum_tests(real_emb, imitation_emb.reshape(k, n, -1), alpha)

    per_identity = pd.DataFrame({"identity": identities})
    for name, values in (("top1", correct), ("baseline_top1", correct_baseline)):
        cis = [bootstrap_ci(values[i * n:(i + 1) * n], n_boot=n_boot, seed=seed) for i in range(k)]
        per_identity[name] = [c["mean"] for c in cis]
        per_identity[f"{name}_lo"] = [c["lo"] for c in cis]
        per_identity[f"{name}_hi"] = [c["hi"] for c in cis]
    per_identity["n_samples"] = n
    per_identity = pd.concat([per_identity, tests], axis=1)

    predictions = pd.DataFrame({
        "identity": [identities[i] for i in np.concatenate([target, target])],
        "set": ["imitation"] * (k * n) + ["baseline"] * (k * n),
        "generated_from": [identities[s] for s in np.concatenate([own_sources, base_sources])],
        "predicted": [identities[p] for p in np.concatenate([predicted, predicted_baseline])],
        "correct": np.concatenate([correct, correct_baseline]).astype(bool)})

    tested = per_identity.p.notna()
    significant = per_identity.significant[tested].astype(float).to_numpy()
    fraction = bootstrap_ci(significant, n_boot=n_boot, seed=seed) if significant.size else None
    summary = {
        "n_identities": k, "samples_per_identity": n, "identify_by": identify_by,
        "template": template if identify_by == "text" else None,
        "chance": 1.0 / k,
        "top1": bootstrap_ci(correct, target, n_boot, seed=seed),
        "baseline_top1": bootstrap_ci(correct_baseline, target, n_boot, seed=seed),
        "rank_sum": {"alpha": alpha, "correction": "bonferroni", "n_tested": int(tested.sum()),
                     "n_untested_no_real_works": int((~tested).sum()),
                     "n_significant": int(significant.sum()),
                     "fraction_significant": fraction,
                     "median_auc": float(per_identity.auc[tested].median()) if tested.any() else None},
        "seed": seed, "n_boot": n_boot}
    return AuditResult(per_identity, predictions, summary, {"imitation": imitations, "baseline": baseline})


def write_outputs(result: AuditResult, out: Path) -> None:
    """``per_identity.csv``, ``predictions.csv``, ``summary.json`` and ``imitation.png`` in ``out``."""
    import json

    import matplotlib.pyplot as plt

    from ..compare import jsonable

    out.mkdir(parents=True, exist_ok=True)
    result.per_identity.to_csv(out / "per_identity.csv", index=False)
    result.predictions.to_csv(out / "predictions.csv", index=False)
    (out / "summary.json").write_text(json.dumps(jsonable(result.summary), indent=2) + "\n")
    fig = figure(result)
    fig.savefig(out / "imitation.png", dpi=120)
    plt.close(fig)


def figure(result: AuditResult):
    """Left: top-1 per identity (imitations, baseline) against chance. Right: rank-sum AUCs."""
    import matplotlib.pyplot as plt

    table, summary = result.per_identity, result.summary
    order = table.sort_values("top1", ascending=False).reset_index(drop=True)
    x = np.arange(len(order))
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(7.0, 0.18 * len(order) + 4), 3.6),
                                      gridspec_kw={"width_ratios": [3, 2]})
    left.bar(x, order.top1, color="#7570b3", label=f"imitations (top-1 {summary['top1']['mean']:.2f})",
             yerr=[order.top1 - order.top1_lo, order.top1_hi - order.top1], error_kw={"lw": 0.6, "capsize": 1})
    left.scatter(x, order.baseline_top1, color="#d95f02", s=10, zorder=3,
                 label=f"random-source baseline ({summary['baseline_top1']['mean']:.2f})")
    left.axhline(summary["chance"], color="0.5", ls=":", label=f"chance ({summary['chance']:.3f})")
    left.set_xticks(x, order.identity, rotation=90, fontsize=6)
    left.set_ylim(0, 1.02)
    left.set_ylabel("identified as its identity (top-1)")
    left.legend(fontsize=7)
    tested = table[table.p.notna()].sort_values("auc", ascending=False)
    colours = np.where(tested.significant, "#1b9e77", "0.7")
    right.bar(np.arange(len(tested)), tested.auc, color=colours)
    right.axhline(0.5, color="0.5", ls=":")
    right.set_ylim(0, 1.02)
    right.set_xticks([])
    rank_sum = summary["rank_sum"]
    right.set_title(f"{rank_sum['n_significant']}/{rank_sum['n_tested']} significant (Bonferroni)", fontsize=8)
    right.set_ylabel("real works: own vs others' imitations (AUC)", fontsize=8)
    fig.tight_layout()
    return fig
