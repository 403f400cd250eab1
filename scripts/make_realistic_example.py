"""A realistic-sized comparison input: 250 drawings on a 256 x 256 canvas with SIMULATED clicks.

The stimuli are the first 6-7 drawings of each of the CFGDM's 40 held-out categories
(`data/oneshot/heldout40.npz`: outside the game's 17 and outside the CFGDM's training data, like
the reviewer's ClickMe-QuickDraw set). The clicks are **not human data**: observers from
`analysis.simulate.simulate_clicks` (shared hot spots on the ink, agreement 0.6) with messy,
uneven amounts of data per stimulus as in real exports: 4-9 rounds per stimulus, 1-6 strokes of
4-12 points, each round cut at a random 30-100% of its points (rounds end when the classifier
recognises the drawing). Used by the README's full run and `python -m benchmarks compare`.

    python scripts/make_realistic_example.py --out out/realistic [--stimuli 250]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))
CANVAS = 256


def make(out: Path, n_stimuli: int = 250, seed: int = 0) -> tuple[Path, Path]:
    """Write ``stimuli.npz`` and ``clicks.csv`` under ``out``; returns their paths."""
    from analysis.simulate import simulate_clicks
    from analysis.stimuli import at_size

    data = np.load(REPO / "data" / "oneshot" / "heldout40.npz")
    images, categories = data["images"], [str(c) for c in data["categories"]]
    order = [(c, i) for i in range(images.shape[1]) for c in range(len(categories))][:n_stimuli]
    keys = [f"{categories[c].replace(' ', '_')}-{i:06d}" for c, i in order]
    rng = np.random.default_rng(seed)
    frames = []
    for key, (c, i) in zip(keys, order):
        big = at_size(images[c, i], CANVAS, CANVAS)
        clicks = simulate_clicks({key: big}, n_observers=int(rng.integers(4, 10)), agreement=0.6,
                                 strokes_per_round=int(rng.integers(1, 7)), points_per_stroke=int(rng.integers(4, 13)),
                                 seed=int(rng.integers(1 << 31)))
        keep = []
        for _, group in clicks.groupby("trial", sort=False):
            keep.append(group.iloc[:max(1, int(np.ceil(len(group) * rng.uniform(0.3, 1.0))))])
        frames.append(pd.concat(keep))
    out.mkdir(parents=True, exist_ok=True)
    stimuli = out / "stimuli.npz"
    np.savez_compressed(stimuli, images=np.stack([images[c, i] for c, i in order]),
                        categories=np.array([categories[c] for c, _ in order]), keys=np.array(keys))
    clicks_path = out / "clicks.csv"
    pd.concat(frames).to_csv(clicks_path, index=False)
    return stimuli, clicks_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/realistic")
    parser.add_argument("--stimuli", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    stimuli, clicks = make(Path(args.out), args.stimuli, args.seed)
    print(f"wrote {stimuli} and {clicks} (SIMULATED clicks, not human data)")
