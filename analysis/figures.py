"""A figure like Fig. 5 of Boutin et al. (2023), on real drawings.

One column per drawing; rows: the drawing, the human map, the CFGDM map, its random-weights twin
and the ink baseline, each map over the faded drawing and scaled to its own maximum (the maps
are mass distributions; only where they are high matters). The drawings are not chosen by eye:
`analysis.confirm.select_figure_drawings` takes the 12 with the most genuine rounds, ties by id.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROWS = (("human", "people"), ("cfgdm", "CFGDM"), ("cfgdm_random", "CFGDM,\nrandom weights"), ("ink", "ink"))


def fig5(names: list[str], drawings: dict[str, np.ndarray], maps: dict[str, dict[str, np.ndarray]],
         n_rounds: dict[str, int], categories: dict[str, str | None], path: str | Path | None = None):
    """The figure (drawing row + one row per `ROWS` source present in ``maps``); saved to
    ``path`` when given. Returns the matplotlib figure."""
    rows = [(key, label) for key, label in ROWS if key in maps]
    fig, axes = plt.subplots(len(rows) + 1, len(names), figsize=(1.35 * len(names) + 0.9, 1.4 * (len(rows) + 1)),
                             squeeze=False)
    for c, name in enumerate(names):
        drawing = drawings[name]
        axes[0, c].imshow(drawing, cmap="gray")
        axes[0, c].set_title(f"{categories.get(name) or name}\n{name}, {n_rounds.get(name, 0)} rounds", fontsize=7)
        for r, (key, _label) in enumerate(rows, start=1):
            m = np.asarray(maps[key][name], np.float64)
            axes[r, c].imshow(drawing, cmap="gray", alpha=0.45)
            axes[r, c].imshow(m / m.max() if m.max() > 0 else m, cmap="inferno", alpha=0.7, vmin=0, vmax=1)
    axes[0, 0].set_ylabel("drawing", fontsize=8)
    for r, (_key, label) in enumerate(rows, start=1):
        axes[r, 0].set_ylabel(label, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.4)
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
