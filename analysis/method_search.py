"""Look for a CFGDM attribution that passes its controls, choosing it by a rule fixed in advance.

``python -m analysis.method_search --clicks CSV --stimuli DIR --out DIR [--plan JSON]``

**Data.** The development half's export through the package's ingestion rule
(`analysis.clicks.ingest`: repeats dropped, off-canvas points clipped/dropped, rounds that are
not brushing dropped by `analysis.clicks.NON_BRUSHING_RULE` with the drawings' ink); only
drawings with at least ``min_rounds`` (2) genuine rounds enter, so phase 2 can use the very same
drawings as phase 1.

**Candidates** (`CANDIDATES`): every map attributes the CFGDM's guidance signal (see
`analysis.attribution`) over the same fixed states of the model's own guided trajectories (one
set per drawing, model and seed, shared by all methods): the four captum methods at the model's
28x28; stroke occlusion (`analysis.stroke_occlusion`) in two read-outs; and Integrated Gradients
with the exemplar at canvas resolution, area-pooled to 28x28 inside the forward (the higher
input resolution the model allows: `native_resolution_check` measures whether the UNet itself
follows an exemplar at 2x).

**Phase 1 (no human data)**, per drawing, on the drawing's ink cells (Otsu ink, cells of the
64x64 rank grid at least half ink), Spearman's rho of map magnitudes brought to the canvas:
*seed agreement* rho(trained seed 0, trained seed 1) (new trajectories, new SmoothGrad noise);
*random similarity* rho(trained seed 0, random-weights twin seed 0); *margin* = seed agreement -
random similarity (what is stable across seeds and not shared with an untrained network of the
same architecture); *method agreement* rho with each other candidate. Medians over drawings with
bootstrap CIs. Then `RULE` picks the method (`choose`) and the choice is written down.

**Phase 2 (human maps)**: human maps from the genuine rounds with the original game's 14x14 px
square brush at 256x256 (`analysis.brush.LEGACY_CLICKME_SQUARE`, scaled to the canvas), blurred
(sigma 3% of the canvas) and normalised; machine maps get the same square and blur (`Brush.spread`).
Ink-conditional alignment = Spearman over the 64x64 cells inside the ink dilated by the brush; for
each candidate and its random-weights twin, and the ink itself as a baseline; paired per-drawing
differences with stimulus- and category-bootstrap CIs and Wilcoxon p.

Results: ``<out>/cache/<model>_seed<k>/<stimulus>.npz`` (maps, so a rerun resumes), the plan JSON
(`run_search`), ``<out>/per_drawing.csv`` and ``<out>/method_search.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from models.cfgdm import IMAGE_SIZE, PAD, to_model_space

from . import metrics
from .brush import LEGACY_CLICKME_CANVAS_PX, Brush
from .attribution import (CFGDM_BLANK, AttributionSettings, GuidanceSignal, _at_28, _attribute, _crop,
                          sampling_states)
from .alignment import paired_gap
from .clicks import NON_BRUSHING_RULE
from .compare import jsonable
from .controls import RANDOM_WEIGHTS_SEED, random_weights
from .maps import default_sigma, resize_map
from .stats import bootstrap_ci
from .ink import INK_RULE, ink_mask
from .stimuli import Stimulus, at_size, load_stimuli
from .stroke_occlusion import (DEFAULT_SEGMENT_LENGTH, CanvasExemplar, GuidanceVector, StrokeOcclusion, paint,
                               stroke_segments)

CAPTUM_METHODS = ("integrated_gradients", "saliency", "smoothgrad", "occlusion")
CANDIDATES = {
    "integrated_gradients": "Integrated Gradients of the guidance signal at 28x28 from the blank exemplar",
    "saliency": "|gradient| of the guidance signal at 28x28",
    "smoothgrad": "SmoothGrad (|gradient| averaged over noisy copies) at 28x28",
    "occlusion": "occlusion by square patches at 28x28 (window/stride in the settings)",
    "stroke_occlusion": "remove one piece of stroke (segment_length skeleton px at the canvas); "
                        "importance = s(e) - s(e without the piece), s = the guidance signal",
    "stroke_occlusion_vector": "the same pieces; importance = mean squared change of the guidance direction "
                               "eps(x|e) - eps(x|null) over the states",
    "integrated_gradients_canvas": "Integrated Gradients with the exemplar at canvas resolution (256 px), "
                                   "area-pooled to 28x28 inside the forward: the upsampled-then-pooled gradient",
    "integrated_gradients_2x": "Integrated Gradients with the UNet run natively at 2x (exemplar 56x56 + 4 px "
                               "padding = 64x64, states from guided trajectories at 64x64)",
}
SEED_THRESHOLD = 0.5
RULE = ("Chosen before any alignment with people is computed. Phase 1 measures, per drawing on its ink cells, "
        "seed agreement = Spearman rho(map with seed 0, map with seed 1) and the trained-vs-random margin = "
        "seed agreement - rho(trained map, random-weights twin's map), both as medians over the drawings. "
        "A method is seed-reliable when its median seed agreement is >= {threshold}; it passes its controls when "
        "it is seed-reliable and the bootstrap 95% CI of its median margin lies above 0. Among seed-reliable "
        "methods choose the largest median margin (ties: higher seed agreement). If no method is seed-reliable, "
        "choose the one with the highest median seed agreement and state that no method passes.")


@dataclass
class SearchSettings:
    """Everything that changes the numbers (saved in the plan JSON)."""

    attribution: AttributionSettings = field(default_factory=lambda: AttributionSettings(
        n_steps=8, nt_samples=4, timesteps=(0.7, 0.3), n_noise=2, sampling_steps=20, occlusion_window=4,
        occlusion_stride=4, batch_size=64))
    seeds: tuple[int, int] = (0, 1)
    random_weights_seed: int = RANDOM_WEIGHTS_SEED
    segment_length: int = DEFAULT_SEGMENT_LENGTH
    min_rounds: int = 2  # genuine rounds a drawing needs
    brush_side: int = 14  # the original game's square brush, px at 256x256 (scaled to the canvas)
    sigma: float | None = None  # blur, canvas px; None = 3% of the canvas
    seed_threshold: float = SEED_THRESHOLD
    ink_cell_fraction: float = 0.5  # a rank-grid cell is ink / in the region when this share of it is
    grid: int = metrics.RANK_GRID
    n_boot: int = 2000
    boot_seed: int = 0
    max_drawings: int | None = None  # first N drawings by name (previews and tests)

    @classmethod
    def quick(cls) -> "SearchSettings":
        return cls(attribution=AttributionSettings(n_steps=3, nt_samples=2, timesteps=(0.5,), n_noise=1,
                                                   sampling_steps=4, occlusion_window=8, occlusion_stride=8,
                                                   batch_size=32), n_boot=200, segment_length=8)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "attribution"},
                "attribution": asdict(self.attribution)}


def search_brush(settings: SearchSettings, canvas: tuple[int, int]) -> Brush:
    """The original game's square (``brush_side`` px at 256 x 256, `analysis.brush.LEGACY_CLICKME_SQUARE`)
    scaled to the canvas' longer side."""
    return Brush("square", settings.brush_side * max(canvas) / LEGACY_CLICKME_CANVAS_PX)


# --- data ------------------------------------------------------------------------------------

@dataclass
class Drawings:
    names: list[str]
    images: dict[str, np.ndarray]  # uint8 at the canvas
    rounds: dict[str, list[np.ndarray]]  # genuine rounds, points [n, 2] in canvas px
    categories: dict[str, str]
    counts: dict[str, int]


def genuine_drawings(clicks: pd.DataFrame | str | Path, stimuli: dict[str, Stimulus] | str | Path,
                     canvas: tuple[int, int], settings: SearchSettings) -> Drawings:
    """Drawings with at least ``min_rounds`` genuine rounds, and those rounds: the package's one
    non-brushing rule (`analysis.clicks.ingest`, fed the drawings' ink grown by half the square
    brush's side, as `analysis.confirm` feeds it) decides which rounds are brushing."""
    from .clicks import ingest, read_clicks_csv
    from .ink import ink_region

    width, height = canvas
    if not isinstance(stimuli, dict):
        stimuli = load_stimuli(stimuli)
    reach = search_brush(settings, canvas).reach
    ink = {n: ink_region(at_size(st.pixels, width, height), reach) for n, st in stimuli.items()}
    df, check = ingest(read_clicks_csv(clicks) if isinstance(clicks, (str, Path)) else clicks, width, height,
                       ink=ink)
    rounds: dict[str, list[np.ndarray]] = {}
    for (stim, _), group in df.groupby(["stimulus", "trial"], sort=True):
        rounds.setdefault(str(stim), []).append(group[["x", "y"]].to_numpy(np.float64))
    names = sorted(s for s, r in rounds.items() if len(r) >= settings.min_rounds and s in stimuli)
    if settings.max_drawings:
        names = names[:settings.max_drawings]
    cats = {}
    if "category" in df.columns:
        cats = df.drop_duplicates("stimulus").set_index("stimulus")["category"].astype(str).to_dict()
    categories = {n: cats.get(n) or stimuli[n].category or n for n in names}
    counts = {"distinct_rounds": check.distinct_rounds, "non_brushing_dropped": check.non_brushing_dropped,
              "non_brushing_reasons": check.non_brushing_reasons, "genuine_rounds": check.rounds_kept,
              "drawings_with_genuine_rounds": len(rounds), "drawings_used": len(names),
              "genuine_rounds_used": int(sum(len(rounds[n]) for n in names))}
    return Drawings(names, {n: at_size(stimuli[n].pixels, width, height) for n in names},
                    {n: rounds[n] for n in names}, categories, counts)


# --- machine maps ----------------------------------------------------------------------------

def drawing_maps(model, image: np.ndarray, settings: SearchSettings, seed: int,
                 methods: Sequence[str] = tuple(CANDIDATES)) -> dict[str, np.ndarray]:
    """Every candidate's signed map of one canvas-size drawing, at its native resolution (28x28 or
    the canvas), from one set of guided-trajectory states (seeded ``seed``)."""
    att = replace(settings.attribution, seed=seed)
    height, width = image.shape
    exemplar = to_model_space(_at_28(image)).to(model.device)
    x_t, t, eps_u = sampling_states(model, exemplar, att, seed=seed)
    extra = (x_t, t, eps_u)
    rows = max(1, att.batch_size // t.shape[1])
    guidance = GuidanceSignal(model)
    out: dict[str, np.ndarray] = {}
    for method in methods:
        torch.manual_seed(seed)
        if method in CAPTUM_METHODS:
            attr = _attribute(guidance, exemplar.clone().requires_grad_(True), method, att, 2 * att.nt_stdev,
                              CFGDM_BLANK, rows, extra=extra)
            out[method] = _crop(attr)[0]
        elif method == "integrated_gradients_canvas":
            canvas = torch.as_tensor(image, dtype=torch.float32, device=model.device)[None, None]
            attr = _attribute(CanvasExemplar(guidance, height, width), canvas.requires_grad_(True),
                              "integrated_gradients", att, 0.0, 0.0, rows, extra=extra)
            out[method] = attr.detach()[0, 0].cpu().numpy()
        elif method == "integrated_gradients_2x":
            size, pad = 2 * IMAGE_SIZE, 2 * PAD
            small = at_size(image, size, size).astype(np.float32) / 127.5 - 1.0
            big = torch.nn.functional.pad(torch.as_tensor(small)[None, None], (pad,) * 4, value=-1.0).to(model.device)
            x2, t2, eps2 = sampling_states(model, big, att, seed=seed)
            attr = _attribute(guidance, big.clone().requires_grad_(True), "integrated_gradients", att, 0.0,
                              CFGDM_BLANK, max(1, att.batch_size // (4 * t2.shape[1])), extra=(x2, t2, eps2))
            out[method] = attr.detach()[0, 0, pad:-pad, pad:-pad].cpu().numpy()
    stroke = [m for m in methods if m.startswith("stroke_occlusion")]
    if stroke:
        segments = stroke_segments(image, settings.segment_length)
        canvas = torch.as_tensor(image, dtype=torch.float32, device=model.device)[None, None]
        with torch.no_grad():
            change = StrokeOcclusion(CanvasExemplar(GuidanceVector(model), height, width)).segment_changes(
                canvas, segments[None], 0.0, None, extra, perturbations_per_eval=rows)[0]
        full_signal = float(np.mean(change["output"].astype(np.float64) ** 2))
        occluded_signal = (change["occluded"].astype(np.float64) ** 2).mean(1)
        values = {"stroke_occlusion": full_signal - occluded_signal,
                  "stroke_occlusion_vector": change["squared_change"]}
        for m in stroke:
            out[m] = paint(segments, values[m])
    return {m: np.asarray(v, np.float32) for m, v in out.items()}


def cached_maps(model, drawings: Drawings, settings: SearchSettings, seed: int, folder: Path,
                methods: Sequence[str], progress: Callable[[str], None] = print) -> dict[str, dict[str, np.ndarray]]:
    """``{stimulus: {method: map}}`` for one model and seed, each drawing cached in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate(drawings.names):
        path = folder / f"{name}.npz"
        have: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as z:
                have = {k: z[k] for k in z.files}
        missing = [m for m in methods if m not in have]
        if missing:
            start = time.time()
            have.update(drawing_maps(model, drawings.images[name], settings, seed, missing))
            partial = path.with_name(path.stem + ".partial.npz")
            np.savez_compressed(partial, **have)
            partial.replace(path)  # atomic: a crash or a second process never sees half a file
            progress(f"  {folder.name} {i + 1}/{len(drawings.names)} {name}: {len(missing)} methods in "
                     f"{time.time() - start:.1f} s")
        out[name] = {m: have[m] for m in methods}
    return out


def on_canvas(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    """A map's magnitude at the canvas (bilinear from 28x28, like `analysis.maps.resize_map`)."""
    return resize_map(np.abs(np.asarray(raw, np.float64)), width, height)


# --- phase 1 ---------------------------------------------------------------------------------

def cells(mask: np.ndarray, fraction: float, grid: int) -> np.ndarray:
    """Rank-grid cells where at least ``fraction`` of the pixels are in ``mask``."""
    return metrics.on_grid(np.asarray(mask, np.float64), grid) >= fraction


def rho_on(a: np.ndarray, b: np.ndarray, where: np.ndarray, grid: int) -> float:
    """Spearman's rho of two canvas maps over the rank-grid cells ``where`` (nan with fewer than 3,
    or a constant map there)."""
    if where.sum() < 3:
        return float("nan")
    ga, gb = metrics.on_grid(a, grid)[where], metrics.on_grid(b, grid)[where]
    return float(metrics.spearman_rows(ga[None], gb[None])[0])


def median_ci(values: Sequence[float], n_boot: int, seed: int) -> dict[str, float | int | None]:
    """Median, percentile-bootstrap 95% CI of the median over drawings, mean, n (nan dropped)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": None, "lo": None, "hi": None, "mean": None, "n": 0}
    rng = np.random.default_rng(seed)
    boots = np.median(v[rng.integers(0, v.size, size=(n_boot, v.size))], axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"median": float(np.median(v)), "lo": float(lo), "hi": float(hi), "mean": float(v.mean()), "n": int(v.size)}


def phase1_values(trained: dict[str, dict[str, np.ndarray]], other_seed: dict[str, dict[str, np.ndarray]],
                  random: dict[str, dict[str, np.ndarray]], inks: dict[str, np.ndarray], canvas: tuple[int, int],
                  settings: SearchSettings) -> pd.DataFrame:
    """One row per drawing and method: seed agreement, random similarity, margin, agreement with
    each other method (all Spearman over the drawing's ink cells)."""
    width, height = canvas
    rows = []
    for name, by_method in trained.items():
        where = cells(inks[name], settings.ink_cell_fraction, settings.grid)
        c = {m: on_canvas(v, width, height) for m, v in by_method.items()}
        for m in c:
            seed = rho_on(c[m], on_canvas(other_seed[name][m], width, height), where, settings.grid)
            rand = rho_on(c[m], on_canvas(random[name][m], width, height), where, settings.grid)
            row = {"stimulus": name, "method": m, "seed_agreement": seed, "random_similarity": rand,
                   "margin": seed - rand}
            for o in c:
                if o != m:
                    row[f"agree.{o}"] = rho_on(c[m], c[o], where, settings.grid)
            rows.append(row)
    return pd.DataFrame(rows)


def summarise_phase1(table: pd.DataFrame, settings: SearchSettings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m, part in table.groupby("method", sort=False):
        entry = {key: median_ci(part[key], settings.n_boot, settings.boot_seed)
                 for key in ("seed_agreement", "random_similarity", "margin")}
        agree = {c.split(".", 1)[1]: median_ci(part[c], settings.n_boot, settings.boot_seed)["median"]
                 for c in part.columns if c.startswith("agree.") and part[c].notna().any()}
        entry["method_agreement"] = {"median_with_others": float(np.nanmedian(list(agree.values())))
                                     if agree else None, "with": agree}
        entry["seed_reliable"] = bool((entry["seed_agreement"]["median"] or -np.inf) >= settings.seed_threshold)
        entry["passes_controls"] = bool(entry["seed_reliable"] and (entry["margin"]["lo"] or -np.inf) > 0)
        entry["n_drawings"] = int(part["stimulus"].nunique())
        out[str(m)] = entry
    return out


def choose(phase1: dict[str, dict[str, Any]], threshold: float = SEED_THRESHOLD) -> dict[str, Any]:
    """`RULE` applied to phase-1 summaries (``{method: {"seed_agreement": {"median"}, "margin":
    {"median", "lo"}}}``): the method, whether it passes, and why."""
    def val(m: str, key: str, stat: str = "median") -> float:
        v = phase1[m][key][stat]
        return -np.inf if v is None or not np.isfinite(v) else float(v)

    reliable = [m for m in phase1 if val(m, "seed_agreement") >= threshold]
    if reliable:
        best = max(reliable, key=lambda m: (val(m, "margin"), val(m, "seed_agreement")))
        passes = val(best, "margin", "lo") > 0
        reason = (f"{best}: largest median margin ({val(best, 'margin'):.3f}) among the seed-reliable methods "
                  f"({', '.join(reliable)}); its margin CI "
                  + ("lies above 0: it passes its controls" if passes else "reaches 0: it does NOT pass its controls"))
    else:
        best = max(phase1, key=lambda m: val(m, "seed_agreement"))
        passes = False
        reason = (f"no method reaches median seed agreement {threshold}: NO METHOD PASSES; {best} has the highest "
                  f"({val(best, 'seed_agreement'):.3f})")
    return {"method": best, "passes_controls": bool(passes), "seed_reliable": reliable, "reason": reason}


# --- phase 2 ---------------------------------------------------------------------------------

def phase2_values(drawings: Drawings, trained: dict[str, dict[str, np.ndarray]],
                  random: dict[str, dict[str, np.ndarray]], inks: dict[str, np.ndarray], canvas: tuple[int, int],
                  settings: SearchSettings) -> pd.DataFrame:
    """One row per drawing: ink-conditional (and raw) rho of every candidate, its twin and the ink."""
    width, height = canvas
    brush = search_brush(settings, canvas)
    sigma = settings.sigma if settings.sigma is not None else default_sigma(width, height)
    grow = int(round(2 * brush.reach)) + 1  # the ink grown by a square reaching brush.reach each way
    rows = []
    for name in drawings.names:
        human = brush.human_map(drawings.rounds[name], width, height, sigma)
        region = ndimage.binary_dilation(inks[name], structure=np.ones((grow, grow), bool))
        where = cells(region, settings.ink_cell_fraction, settings.grid)
        row: dict[str, Any] = {"stimulus": name, "category": drawings.categories[name],
                               "n_rounds": len(drawings.rounds[name]), "region_cells": int(where.sum())}
        sources = {"ink": brush.spread(inks[name].astype(np.float64), sigma)}
        for m in trained[name]:
            sources[m] = brush.spread(on_canvas(trained[name][m], width, height), sigma)
            sources[f"{m}.random"] = brush.spread(on_canvas(random[name][m], width, height), sigma)
        for key, machine in sources.items():
            row[f"{key}.ink_rho"] = rho_on(human, machine, where, settings.grid)
            row[f"{key}.raw_rho"] = metrics.spearman(human, machine, settings.grid)
        rows.append(row)
    return pd.DataFrame(rows)


def _gap(a: pd.Series, b: pd.Series, categories: pd.Series, settings: SearchSettings) -> dict[str, Any]:
    """`analysis.alignment.paired_gap` of two per-drawing columns, in this record's keys."""
    gap = paired_gap(a.to_numpy(np.float64), b.to_numpy(np.float64), categories.to_numpy(), settings.n_boot,
                     settings.boot_seed)
    return {"estimate": gap["estimate"], "ci_stimulus": gap["ci_stimulus"], "ci_category": gap["ci_category"],
            "p": gap["p"], "n_drawings": gap["n_stimuli"]}


def summarise_phase2(table: pd.DataFrame, methods: Sequence[str], settings: SearchSettings) -> dict[str, Any]:
    cats = table["category"]
    out: dict[str, Any] = {}

    def ci(column: str) -> dict[str, Any]:
        s = bootstrap_ci(table[column], None, settings.n_boot, seed=settings.boot_seed)
        c = bootstrap_ci(table[column], cats.to_numpy(), settings.n_boot, seed=settings.boot_seed)
        return {"mean": s["mean"], "ci_stimulus": [s["lo"], s["hi"]], "ci_category": [c["lo"], c["hi"]], "n": s["n"]}

    out["ink"] = {"ink_rho": ci("ink.ink_rho"), "raw_rho": ci("ink.raw_rho")}
    for m in methods:
        out[m] = {"ink_rho": ci(f"{m}.ink_rho"), "random_ink_rho": ci(f"{m}.random.ink_rho"),
                  "raw_rho": ci(f"{m}.raw_rho"), "random_raw_rho": ci(f"{m}.random.raw_rho"),
                  "trained_minus_random": _gap(table[f"{m}.ink_rho"], table[f"{m}.random.ink_rho"], cats, settings),
                  "trained_minus_ink": _gap(table[f"{m}.ink_rho"], table["ink.ink_rho"], cats, settings)}
        gap = out[m]["trained_minus_random"]
        out[m]["beats_random_twin"] = bool(gap["ci_stimulus"][0] is not None and gap["ci_stimulus"][0] > 0)
    return out


# --- the native higher resolution ------------------------------------------------------------

@torch.no_grad()
def native_resolution_check(model, images: Sequence[np.ndarray], scales: Sequence[int] = (1, 2), steps: int = 20,
                            gamma: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Does the UNet follow an exemplar fed at ``scale`` x its training size (28 + padding, all x scale)?

    For each scale, deterministic DDIM samples (``steps``, guidance ``gamma``) of each drawing;
    per sample Spearman rho with its own exemplar and the mean rho with the other exemplars.
    ``follows`` = matched - mismatched (0: the samples ignore which exemplar they got).
    """
    from diffusers import DDIMScheduler

    out: dict[str, Any] = {"steps": steps, "gamma": gamma, "n_drawings": len(images), "sampler": "ddim"}
    for scale in scales:
        size, pad = IMAGE_SIZE * scale, PAD * scale
        small = np.stack([at_size(np.asarray(im), size, size) for im in images]).astype(np.float32)
        ex = torch.nn.functional.pad(torch.as_tensor(small / 127.5 - 1.0)[:, None], (pad,) * 4, value=-1.0)
        ex = ex.to(model.device)
        scheduler = DDIMScheduler.from_config(model.scheduler.config)
        scheduler.set_timesteps(steps)
        x = torch.randn(ex.shape, generator=torch.Generator().manual_seed(seed)).to(model.device)
        for step in scheduler.timesteps:
            tt = torch.full((len(x),), int(step), dtype=torch.long, device=model.device)
            x = scheduler.step(model.guided_eps(x, tt, ex, gamma), step, x).prev_sample
        samples = x[:, 0, pad:-pad, pad:-pad].cpu().numpy().reshape(len(x), -1)
        exemplars = small.reshape(len(x), -1)
        rho = metrics.spearman_rows(np.repeat(samples, len(x), 0), np.tile(exemplars, (len(x), 1))).reshape(len(x), -1)
        matched = np.diag(rho)
        mismatched = (rho.sum(1) - matched) / max(1, len(x) - 1)
        out[f"{scale}x"] = {"input": f"{size + 2 * pad}x{size + 2 * pad}", "matched_rho": float(np.nanmean(matched)),
                            "mismatched_rho": float(np.nanmean(mismatched)),
                            "follows": float(np.nanmean(matched - mismatched))}
    return out


# --- the search ------------------------------------------------------------------------------

def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(record), indent=2) + "\n")


def run_search(clicks: pd.DataFrame | str | Path, stimuli: dict[str, Stimulus] | str | Path, out: str | Path,
               canvas: tuple[int, int] = (256, 256), settings: SearchSettings | None = None, model=None,
               cfgdm_weights: str | None = None, plan_path: str | Path | None = None,
               methods: Sequence[str] | None = None, command: str | None = None,
               resolution_check: bool = True, phase1_only: bool = False, cached_only: bool = False,
               progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Phase 1, the choice by `RULE`, phase 2 (module docstring). Writes the record to ``plan_path``
    (default ``<out>/method_search.json``) three times: the rule before anything is computed, the
    choice after phase 1 (before any human map is built), then the alignment. Returns the record."""
    settings = settings or SearchSettings()
    methods = list(methods or CANDIDATES)
    unknown = [m for m in methods if m not in CANDIDATES]
    if unknown:
        raise ValueError(f"unknown candidate(s) {unknown}; choose from {', '.join(CANDIDATES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan_path = Path(plan_path) if plan_path else out / "method_search.json"
    width, height = canvas
    started = time.time()
    record: dict[str, Any] = {
        "rule": RULE.format(threshold=settings.seed_threshold),
        "status": "rule written; nothing computed yet",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command, "settings": settings.as_dict(), "canvas": [width, height],
        "candidates_described": {m: CANDIDATES[m] for m in methods},
        "data_rule": f"{NON_BRUSHING_RULE} Drawings with >= {settings.min_rounds} genuine rounds.",
        "ink_rule": INK_RULE}
    _write(plan_path, record)

    drawings = genuine_drawings(clicks, stimuli, canvas, settings)
    s0, s1 = settings.seeds
    cache = out / "cache"
    folders = [cache / f"trained_seed{s0}", cache / f"random{settings.random_weights_seed}_seed{s0}",
               cache / f"trained_seed{s1}"]
    if cached_only:  # compute ran out: keep the drawings whose maps are all cached (say so in the record)
        def complete(name: str) -> bool:
            for folder in folders:
                path = folder / f"{name}.npz"
                if not path.exists():
                    return False
                with np.load(path) as z:
                    if not set(methods) <= set(z.files):
                        return False
            return True

        eligible = len(drawings.names)
        drawings.names = [n for n in drawings.names if complete(n)]
        drawings.counts.update(restricted_to_cached=True, eligible_drawings=eligible,
                               drawings_used=len(drawings.names))
    if not drawings.names:
        raise ValueError("no drawing has enough genuine rounds")
    record.update(n_drawings=len(drawings.names), data=drawings.counts, drawings=drawings.names)
    progress(f"{len(drawings.names)} drawings with >= {settings.min_rounds} genuine rounds")
    if model is None:
        from models.cfgdm import OneShotCFGDM

        model = OneShotCFGDM.from_pretrained(cfgdm_weights, device="cpu")
    model.unet.eval()
    twin = random_weights("cfgdm", model, settings.random_weights_seed)
    inks = {n: ink_mask(drawings.images[n]) for n in drawings.names}
    if resolution_check:
        progress("native higher-resolution check")
        record["higher_resolution"] = native_resolution_check(model, [drawings.images[n] for n in drawings.names[:8]],
                                                              steps=settings.attribution.sampling_steps,
                                                              gamma=settings.attribution.gamma)
    progress("phase 1: trained, seed 0")
    trained = cached_maps(model, drawings, settings, s0, folders[0], methods, progress)
    progress("phase 1: random-weights twin, seed 0")
    random = cached_maps(twin, drawings, settings, s0, folders[1], methods, progress)
    progress("phase 1: trained, seed 1")
    other = cached_maps(model, drawings, settings, s1, folders[2], methods, progress)
    p1 = phase1_values(trained, other, random, inks, canvas, settings)
    p1.to_csv(out / "phase1_per_drawing.csv", index=False)
    summary1 = summarise_phase1(p1, settings)
    record["candidates"] = {m: {"description": CANDIDATES[m], **summary1[m]} for m in methods}
    record["choice"] = {**choose(summary1, settings.seed_threshold), "settings": settings.as_dict()}
    record["status"] = "phase 1 done and the choice written; no alignment with people computed yet"
    _write(plan_path, record)
    progress(f"choice: {record['choice']['reason']}")
    if phase1_only:
        return record

    progress("phase 2: ink-conditional alignment with the human maps")
    p2 = phase2_values(drawings, trained, random, inks, canvas, settings)
    p2.to_csv(out / "per_drawing.csv", index=False)
    summary2 = summarise_phase2(p2, methods, settings)
    for m in methods:
        record["candidates"][m]["alignment"] = summary2[m]
    record["ink_baseline"] = summary2["ink"]
    record["status"] = "done"
    record["wall_s"] = round(time.time() - started, 1)
    _write(plan_path, record)
    if plan_path.resolve() != (out / "method_search.json").resolve():
        _write(out / "method_search.json", record)
    (out / "method_search.md").write_text(markdown_table(record))
    return record


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown_table(record: dict[str, Any]) -> str:
    """The record's two tables (controls; alignment) as markdown."""
    lines = [f"n = {record['n_drawings']} drawings; choice: **{record['choice']['method']}** — "
             f"{record['choice']['reason']}", "",
             "| method | seed agreement, median [95% CI] | ρ(trained, random twin) | margin [95% CI] | "
             "agreement with other methods (median) | passes |", "|---|---|---|---|---|---|"]
    for m, c in record["candidates"].items():
        s, r, g = c["seed_agreement"], c["random_similarity"], c["margin"]
        lines.append(f"| {m} | {_f(s['median'])} [{_f(s['lo'])}, {_f(s['hi'])}] | {_f(r['median'])} | "
                     f"{_f(g['median'])} [{_f(g['lo'])}, {_f(g['hi'])}] | "
                     f"{_f(c['method_agreement']['median_with_others'])} | {'yes' if c['passes_controls'] else 'no'} |")
    lines += ["", "| source | ink-conditional ρ, mean [stimulus CI] | random twin | trained − twin [stimulus CI] "
                  "[category CI] p | trained − ink [stimulus CI] | n |", "|---|---|---|---|---|---|"]
    ink = record["ink_baseline"]["ink_rho"]
    lines.append(f"| ink (baseline) | {_f(ink['mean'])} [{_f(ink['ci_stimulus'][0])}, {_f(ink['ci_stimulus'][1])}] "
                 f"| | | | {ink['n']} |")
    for m, c in record["candidates"].items():
        a = c.get("alignment")
        if not a:
            continue
        t, r, g, k = a["ink_rho"], a["random_ink_rho"], a["trained_minus_random"], a["trained_minus_ink"]
        lines.append(f"| {m} | {_f(t['mean'])} [{_f(t['ci_stimulus'][0])}, {_f(t['ci_stimulus'][1])}] | "
                     f"{_f(r['mean'])} | {_f(g['estimate'])} [{_f(g['ci_stimulus'][0])}, {_f(g['ci_stimulus'][1])}] "
                     f"[{_f(g['ci_category'][0])}, {_f(g['ci_category'][1])}] p = {_f(g['p'], 2)} | "
                     f"{_f(k['estimate'])} [{_f(k['ci_stimulus'][0])}, {_f(k['ci_stimulus'][1])}] | {g['n_drawings']} |")
    hr = record.get("higher_resolution")
    if hr:
        lines += ["", "Native higher resolution (DDIM samples vs their exemplar, Spearman; follows = matched − "
                      "mismatched): " + "; ".join(f"{k}: {v['input']} follows {_f(v['follows'])} (matched "
                                                  f"{_f(v['matched_rho'])}, mismatched {_f(v['mismatched_rho'])})"
                                                  for k, v in hr.items() if isinstance(v, dict))]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.method_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", required=True)
    parser.add_argument("--stimuli", required=True)
    parser.add_argument("--canvas", default="256")
    parser.add_argument("--out", required=True, help="folder: cache, per-drawing CSVs, the markdown table")
    parser.add_argument("--plan", default=None, help="where the JSON record goes (default OUT/method_search.json)")
    parser.add_argument("--cfgdm-weights", default=None)
    parser.add_argument("--methods", default=",".join(CANDIDATES))
    parser.add_argument("--max-drawings", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny attribution settings (previews)")
    parser.add_argument("--phase1-only", action="store_true",
                        help="stop after phase 1 and the choice (fill a cache, e.g. one process per method group)")
    parser.add_argument("--no-resolution-check", action="store_true")
    parser.add_argument("--cached-only", action="store_true",
                        help="use only the drawings whose maps are all in OUT/cache (when compute ran out)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    args = parser.parse_args(argv)
    from .clicks import parse_canvas

    torch.set_num_threads(args.threads)
    settings = SearchSettings.quick() if args.quick else SearchSettings()
    settings.max_drawings = args.max_drawings
    command = "python -m analysis.method_search " + " ".join(sys.argv[1:] if argv is None else argv)
    record = run_search(args.clicks, args.stimuli, args.out, parse_canvas(args.canvas), settings,
                        cfgdm_weights=args.cfgdm_weights, plan_path=args.plan,
                        methods=[m.strip() for m in args.methods.split(",") if m.strip()], command=command,
                        resolution_check=not args.no_resolution_check, phase1_only=args.phase1_only,
                        cached_only=args.cached_only)
    if not args.phase1_only:
        print(markdown_table(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
