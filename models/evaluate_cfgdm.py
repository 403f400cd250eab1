"""How much do CFGDM samples follow their exemplar? ``python -m models.evaluate_cfgdm``.

For one drawing of each held-out category (never seen in training), draw samples at several
guidance scales and compare each sample with its own exemplar and with the exemplars of the
other held-out categories: cosine similarity of the drawings after a small Gaussian blur (so a
stroke shifted by a pixel still counts as similar). A model that generalises one-shot makes
samples closer to their own exemplar than to other categories' exemplars, more so as gamma grows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from .cfgdm import DEFAULT_SAMPLER, SAMPLER_STEPS, OneShotCFGDM
from .oneshot_data import DEFAULT_STROKES
from .render import strokes_to_bitmap


def _features(images: np.ndarray) -> np.ndarray:
    blurred = np.stack([ndimage.gaussian_filter(im.astype(np.float64), 1.5) for im in images]).reshape(len(images), -1)
    return blurred / np.maximum(np.linalg.norm(blurred, axis=1, keepdims=True), 1e-9)


def evaluate(model: OneShotCFGDM, exemplars: np.ndarray, gammas: list[float], samples_per: int = 4,
             steps: int | None = None, seed: int = 0, sampler: str = DEFAULT_SAMPLER) -> dict[str, dict[str, float]]:
    own_feat = _features(exemplars)
    out = {}
    for gamma in gammas:
        sims_own, sims_other, wins = [], [], []
        for k in range(samples_per):
            samples = model.sample(exemplars, gamma=gamma, steps=steps, sampler=sampler, seed=seed + k)
            sim = _features(samples) @ own_feat.T  # [n samples, n exemplars]
            own = np.diag(sim)
            other = (sim.sum(1) - own) / (len(exemplars) - 1)
            sims_own += own.tolist()
            sims_other += other.tolist()
            wins += (own > other).tolist()
        out[f"{gamma:g}"] = {"own_exemplar": round(float(np.mean(sims_own)), 4),
                             "other_exemplars": round(float(np.mean(sims_other)), 4),
                             "closer_to_own": round(float(np.mean(wins)), 4)}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weights", default=None)
    p.add_argument("--data", default=str(DEFAULT_STROKES))
    p.add_argument("--gammas", default="0,1,2,4")
    p.add_argument("--sampler", choices=sorted(SAMPLER_STEPS), default=DEFAULT_SAMPLER)
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default 250 for ddpm, 25 for ddim)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    model = OneShotCFGDM.from_pretrained(args.weights)
    test = model.meta["test_categories"]
    exemplars = []  # the first drawing of each held-out category
    for category in test:
        line = (Path(args.data) / f"{category}.ndjson").read_text(encoding="utf-8").splitlines()[0]
        exemplars.append(strokes_to_bitmap(json.loads(line)["drawing"]))
    result = evaluate(model, np.stack(exemplars), [float(g) for g in args.gammas.split(",")], steps=args.steps,
                      seed=args.seed, sampler=args.sampler)
    print(json.dumps({"held_out_categories": len(test), "sampler": args.sampler,
                      "steps": args.steps or SAMPLER_STEPS[args.sampler], "result": result}, indent=2))


if __name__ == "__main__":
    main()
