"""Figures for a comparison: map grids over the drawings, metric distributions, alignment.

Every function takes a `analysis.compare.Comparison` (or its parts) and returns a matplotlib
figure, so notebooks can show them; `save_figures` writes the standard set as PNGs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # without a display matplotlib falls back to Agg by itself
import numpy as np

SOURCE_COLOURS = {"human": "#1b9e77", "classifier": "#d95f02", "cfgdm": "#7570b3"}
METRIC_LABELS = {"feature_count": "features (50% mass)", "area_fraction": "area for 50% mass",
                 "gini": "Gini sparseness", "entropy": "entropy (bits)", "spread": "spread / drawing's"}


def map_grid(result, max_rows: int = 8):
    """Rows: stimuli; columns: the drawing, then each source's map over it."""
    names = list(result.stimuli)[:max_rows]
    sources = list(result.maps)
    fig, axes = plt.subplots(len(names), len(sources) + 1, figsize=(1.8 * (len(sources) + 1), 1.8 * len(names)),
                             squeeze=False)
    for r, name in enumerate(names):
        drawing = result.canvas_images[name]
        axes[r, 0].imshow(drawing, cmap="gray")
        axes[r, 0].set_ylabel(name[:18], fontsize=7)
        for c, source in enumerate(sources, start=1):
            m = result.maps[source][name]
            axes[r, c].imshow(drawing, cmap="gray", alpha=0.6)
            axes[r, c].imshow(m / m.max() if m.max() > 0 else m, cmap="inferno", alpha=0.65, vmin=0, vmax=1)
            if r == 0:
                axes[r, c].set_title(source, fontsize=9)
    axes[0, 0].set_title("drawing", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def distributions(result):
    """One panel per shape metric: each stimulus' value per source, paired lines between sources."""
    table = result.table
    sources = list(result.maps)
    keys = list(METRIC_LABELS)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.0 * len(keys), 3.2))
    for ax, key in zip(axes, keys):
        values = np.stack([table[f"{s}.{key}"].to_numpy(float) for s in sources], axis=1)
        for row in values:
            ax.plot(range(len(sources)), row, color="0.8", lw=0.6, zorder=1)
        for i, source in enumerate(sources):
            jitter = np.random.default_rng(i).uniform(-0.08, 0.08, len(values))
            ax.scatter(i + jitter, values[:, i], s=10, color=SOURCE_COLOURS.get(source, "k"), zorder=2)
            ax.hlines(np.nanmean(values[:, i]), i - 0.25, i + 0.25, color="k", lw=2, zorder=3)
        ax.set_xticks(range(len(sources)), sources, fontsize=8)
        ax.set_title(METRIC_LABELS[key], fontsize=9)
    fig.tight_layout()
    return fig


def alignment(result):
    """Per machine: distribution of Spearman rho with the human map, against the human ceiling."""
    machines = [s for s in result.maps if s != "human"]
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    for i, source in enumerate(machines):
        rho = result.table[f"{source}.spearman"].to_numpy(float)
        ax.scatter(np.full(len(rho), i) + np.random.default_rng(i).uniform(-0.1, 0.1, len(rho)), rho, s=10,
                   color=SOURCE_COLOURS.get(source, "k"))
        ax.hlines(np.nanmean(rho), i - 0.25, i + 0.25, color="k", lw=2)
    ceiling = result.table["ceiling"].astype(float)
    if ceiling.notna().any() and np.nanmean(ceiling) > 0:
        # a model equal to the true map scores sqrt(R) against the noisy human map (see stats.noise_normalised)
        ax.axhline(np.sqrt(np.nanmean(ceiling)), ls="--", color=SOURCE_COLOURS["human"],
                   label="noise ceiling √(mean split-half R)")
        # outside the axes, so the legend can never cover a point
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.set_xticks(range(len(machines)), machines)
    ax.set_xlim(-0.6, len(machines) - 0.4)
    ax.set_ylabel("Spearman ρ with human map")
    fig.tight_layout()
    return fig


def save_figures(result, out: Path) -> list[tuple[str, str]]:
    """Write the standard figures into ``out``; returns ``[(title, file name)]``."""
    made = [("Maps over the drawings", "map_grid.png", map_grid(result)),
            ("Feature count and localization per stimulus", "distributions.png", distributions(result))]
    if len(result.maps) > 1:
        made.append(("Alignment with the human maps", "alignment.png", alignment(result)))
    for _, filename, fig in made:
        fig.savefig(Path(out) / filename, dpi=110)
        plt.close(fig)
    return [(title, filename) for title, filename, _ in made]
