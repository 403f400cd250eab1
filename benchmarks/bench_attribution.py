"""CFGDM attribution: one batched pass over drawings x timesteps x noise draws x IG steps vs the
per-sample reference loop (`analysis.attribution.cfgdm_maps_per_sample`), same maps checked."""

from __future__ import annotations

import time

import numpy as np
import torch

from analysis.attribution import AttributionSettings, cfgdm_maps, cfgdm_maps_per_sample, classifier_maps
from models.cfgdm import OneShotCFGDM
from models.classifier import load_classifier

REPO_STIMULI = "data/stimuli/quickdraw17_default.npz"


def _time(fn) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main(quick: bool = False, device: str = "cpu") -> dict:
    data = np.load(REPO_STIMULI)
    n = 4 if quick else 8
    images = data["images"][:n]
    model = OneShotCFGDM.from_pretrained(device=device)
    # occlusion: 4x4 windows at stride 4 = 64 occluded copies of each 32x32 exemplar per state
    settings = AttributionSettings(n_steps=8 if quick else 16, timesteps=(0.2, 0.5, 0.8), n_noise=1 if quick else 2,
                                   occlusion_stride=4, sampling_steps=10, batch_size=64)
    out = {}
    for method in ("integrated_gradients", "occlusion"):
        loop_s, looped = _time(lambda: cfgdm_maps_per_sample(model, images, method, settings))
        fast_s, batched = _time(lambda: cfgdm_maps(model, images, method, settings))
        error = float(np.abs(batched - looped).max() / max(looped.max(), 1e-12))
        out[f"cfgdm_{method}"] = {"drawings": n, "states": len(settings.timesteps) * settings.n_noise,
                                  "batched_s": round(fast_s, 2), "loop_s": round(loop_s, 2),
                                  "speedup": round(loop_s / fast_s, 1), "max_relative_difference": error}
        print(f"cfgdm {method}: {n} drawings x {len(settings.timesteps) * settings.n_noise} states, batched "
              f"{fast_s:.2f} s vs loop {loop_s:.2f} s -> x{loop_s / fast_s:.1f} (max rel. diff {error:.1e})")
    classifier = load_classifier(device=device)
    targets = [classifier.categories.index(c) for c in data["categories"][:n]]
    one = AttributionSettings(n_steps=32, batch_size=1)
    many = AttributionSettings(n_steps=32, batch_size=n)  # captum batches the n x 32 path points
    loop_s, looped = _time(lambda: classifier_maps(classifier, images, targets, "integrated_gradients", one))
    fast_s, batched = _time(lambda: classifier_maps(classifier, images, targets, "integrated_gradients", many))
    out["classifier_integrated_gradients"] = {"drawings": n, "batched_s": round(fast_s, 3), "loop_s": round(loop_s, 3),
                                              "speedup": round(loop_s / fast_s, 1),
                                              "max_abs_difference": float(np.abs(batched - looped).max())}
    print(f"classifier IG: {n} drawings batched {fast_s:.3f} s vs one at a time {loop_s:.3f} s "
          f"-> x{loop_s / fast_s:.1f}")
    if device == "cuda":
        torch.cuda.synchronize()
    return out
