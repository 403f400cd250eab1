"""Make ``data/examples/``: 12 default stimuli as PNGs and *simulated* clicks on them.

The clicks are not human data: `analysis.simulate.simulate_clicks` observers (seed 0) who share
a hidden preference for two spots on each drawing 70% of the time. They exist so the comparison
CLI, the notebook and the tests run on a fresh clone; real studies export their own clicks.

    .venv/bin/python scripts/make_example_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from analysis.simulate import simulate_clicks  # noqa: E402
from analysis.stimuli import category_from_name  # noqa: E402
OUT = REPO / "data" / "examples"


def main() -> None:
    data = np.load(REPO / "data" / "stimuli" / "quickdraw17_default.npz")
    keys, images = [str(k) for k in data["keys"]], data["images"]
    chosen: dict[str, np.ndarray] = {}
    for key, image in zip(keys, images):  # the first drawing of the first 12 categories
        category = category_from_name(key)
        if len(chosen) < 12 and all(category_from_name(k) != category for k in chosen):
            chosen[key] = image
    (OUT / "stimuli").mkdir(parents=True, exist_ok=True)
    for key, image in chosen.items():
        Image.fromarray(image, mode="L").save(OUT / "stimuli" / f"{key}.png")
    clicks = simulate_clicks(chosen, n_observers=12, agreement=0.7, seed=0)
    clicks.insert(1, "category", [category_from_name(s) for s in clicks["stimulus"]])
    clicks.round({"x": 3, "y": 3, "t_ms": 1}).to_csv(OUT / "simulated_clicks.csv", index=False)
    print(f"{len(chosen)} stimuli, {len(clicks)} simulated points -> {OUT}")


if __name__ == "__main__":
    main()
