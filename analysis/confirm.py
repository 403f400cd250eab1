"""``python -m analysis confirm``: run a pre-registered plan on an export and judge its claims.

The plan (`analysis.plan`, e.g. the shipped ``analysis/plans/clickme_quickdraw.toml``) fixes
every setting and every claim before the data are read. `run_confirm`

1. reads the export as it is and applies the plan's data rules (`analysis.clicks.ingest`: clip or
   drop off-canvas points, drop exact repeats, drop rounds that are not brushing by
   `analysis.clicks.non_brushing` with the ink of `analysis.ink.ink_mask`), and keeps the
   drawings with at least ``min_genuine_rounds`` genuine rounds;
2. builds, per drawing, on one canvas and one geometry (the human brush disc and blur, the
   building blocks of `analysis.compare`): the human map; the CFGDM's map by the plan's method
   and its random-weights twin (`controls.random_weights`), the classifier and its twin when the
   plan asks; matched-sampling twins of each machine map (`matched_sampling`); the ink baseline
   (the ink mask with the same disc and blur) and the centre-bias baseline (the mean human map of
   the other categories' drawings);
3. measures every source's shape (`compare.shape_metrics`: feature count, area for p of the
   mass, Gini, entropy, spread) and its alignment with the human map three ways
   (`analysis.alignment`: raw ρ, ρ above the floor, ρ over the ink dilated by the brush, and
   partial ρ controlling for the ink and centre-bias maps); the human split-half ceiling and the
   cross-stimulus floor (`reliability.reliability_table`) on the drawings with at least
   ``reliability_min_rounds`` genuine rounds;
4. evaluates every claim (`analysis.claims`) and re-evaluates the shape claims across the plan's
   sensitivity grid;
5. writes ``confirm.json`` (plan, data check, claims, sensitivity, alignment table, timings),
   ``per_stimulus.csv``, ``fig5.png`` (`analysis.figures`) and a one-page ``report.html``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from .attribution import CFGDM_METHODS, CLASSIFIER_METHODS, AttributionSettings, cfgdm_maps, classifier_maps
from .brush import Brush
from .claims import evaluate_all
from .clicks import ClicksError, read_clicks_csv
from .compare import SHAPE_METRICS, jsonable, shape_metrics
from .controls import random_weights
from .maps import prepare_map, resize_map, rounds_by_stimulus
from .matched_sampling import matched_rounds
from .plan import ALIGNMENT_METRICS, Plan, load_plan
from .stats import bootstrap_ci
from .stimuli import apply_categories, at_size, load_stimuli


#: the plan's alignment metrics and the `analysis.alignment` ways they are
ALIGNMENT_WAYS = {"rho_raw": "raw", "rho_above_floor": "above_floor", "rho_ink_conditional": "ink_region",
                  "rho_partial": "partial"}


def attribution_settings(plan: Plan, seed: int) -> AttributionSettings:
    a = plan.attribution
    return AttributionSettings(n_steps=a["n_steps"], nt_samples=a["nt_samples"], nt_stdev=float(a["nt_stdev"]),
                               occlusion_window=a["occlusion_window"], occlusion_stride=a["occlusion_stride"],
                               timesteps=tuple(float(t) for t in a["timesteps"]), n_noise=a["n_noise"],
                               gamma=float(a["gamma"]), sampler=a["sampler"], sampling_steps=a["sampling_steps"],
                               batch_size=a["batch_size"], seed=seed)


def cfgdm_attribution(model, images: np.ndarray, canvas_images: list[np.ndarray], method: str,
                      settings: AttributionSettings, segment_length: int) -> np.ndarray:
    """Raw CFGDM maps by the plan's method, one per drawing: the guidance-signal methods of
    `analysis.attribution` at 28x28 (``images``, batched), or any other candidate of the method
    search (`analysis.method_search.drawing_maps`, per drawing at the canvas: stroke occlusion,
    canvas-resolution IG, ...). Maps may be 28x28 or canvas-sized; they are brought to the canvas
    the same way (`maps.prepare_map`)."""
    if method in CFGDM_METHODS:
        return cfgdm_maps(model, images, method, settings)
    from .method_search import CANDIDATES, SearchSettings, drawing_maps

    if method not in CANDIDATES:
        raise ValueError(f"unknown CFGDM attribution method {method!r}: choose one of "
                         f"{', '.join(dict.fromkeys([*CFGDM_METHODS, *CANDIDATES]))}")
    search = SearchSettings(attribution=settings, segment_length=segment_length)
    return np.stack([drawing_maps(model, image, search, settings.seed, [method])[method] for image in canvas_images])


def _averaged(attribute: Callable[[int], np.ndarray], seeds: list[int]) -> np.ndarray:
    """Mean magnitude over the plan's seeds (one seed: the map itself, sign kept for the record)."""
    maps = [attribute(seed) for seed in seeds]
    return maps[0] if len(maps) == 1 else np.mean([np.abs(m) for m in maps], axis=0)


def load_data(plan: Plan, clicks_path: str | Path, stimuli_path: str | Path, categories: str | Path | None):
    """``(clicks, data check, stimuli, canvas images, ink masks, ink regions, ink rule)`` by the
    plan's data rules; the non-brushing rule sees each drawing's ink dilated by the plan's brush
    (`analysis.ink.ink_region`, reach = half the square's side)."""
    from .clicks import ingest
    from .ink import INK_RULE, ink_mask, ink_region

    width = height = plan.data["canvas"]
    reach = Brush(plan.data["brush_shape"], float(plan.data["brush_px"])).reach
    raw = read_clicks_csv(clicks_path)
    stimuli = load_stimuli(stimuli_path)
    canvas = {n: at_size(s.pixels, width, height) for n, s in stimuli.items()}
    ink = {n: ink_mask(img) for n, img in canvas.items()}
    regions = {n: ink_region(img, reach) for n, img in canvas.items()}
    clicks, check = ingest(raw, width, height, strict=plan.data["strict"], keep_repeats=plan.data["keep_repeats"],
                           keep_non_brushing=plan.data["non_brushing"] == "keep", ink=regions)
    stimuli = apply_categories(stimuli, categories, clicks)
    return clicks, check, stimuli, canvas, ink, regions, INK_RULE


def _non_brushing_rule() -> str | None:
    from . import clicks

    return getattr(clicks, "NON_BRUSHING_RULE", None)


def centre_bias_maps(human: dict[str, np.ndarray], categories: dict[str, str | None]) -> dict[str, np.ndarray]:
    """Per drawing, the mean human map of the drawings of OTHER categories (other drawings when
    the category is unknown): where people brush on any drawing (as `baselines.baseline_alignment`)."""
    names = list(human)
    stack = np.stack([human[n] for n in names]).astype(np.float64)
    total = stack.sum(0)
    out = {}
    for i, name in enumerate(names):
        cat = categories.get(name)
        same = [j for j, other in enumerate(names) if j == i or (cat is not None and categories.get(other) == cat)]
        rest = len(names) - len(same)
        out[name] = ((total - stack[same].sum(0)) / rest).astype(np.float32) if rest else np.zeros_like(human[name])
    return out


def select_figure_drawings(n_rounds: dict[str, int], k: int = 12) -> list[str]:
    """The figure's rule, fixed before looking: the ``k`` drawings with the most genuine rounds,
    ties broken by stimulus id."""
    return sorted(n_rounds, key=lambda n: (-n_rounds[n], n))[:k]


def run_confirm(plan: Plan, clicks_path: str | Path, stimuli_path: str | Path, out: str | Path,
                categories: str | Path | None = None, device: str | None = None,
                progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the plan; write the outputs into ``out``; return the ``confirm.json`` record."""
    from .figures import fig5
    from .report import write_confirm_report

    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(step: str, since: float) -> float:
        now = time.perf_counter()
        timings[step] = round(now - since, 1)
        return now

    d, st, a = plan.data, plan.statistics, plan.attribution
    width = height = d["canvas"]
    brush, sigma, mass = Brush(d["brush_shape"], float(d["brush_px"])), float(d["sigma_px"]), float(d["mass"])
    seed, n_boot, level = st["seed"], st["n_boot"], float(st["level"])
    clicks, check, stimuli, canvas, ink, ink_regions, ink_rule = load_data(plan, clicks_path, stimuli_path, categories)
    for line in check.lines():
        progress(line)
    rounds = rounds_by_stimulus(clicks, d["min_points_per_round"], d["min_genuine_rounds"])
    names = sorted(n for n in rounds if n in stimuli)
    without_drawing = sorted(set(rounds) - set(stimuli))
    if not names:
        raise ClicksError(f"no drawing has both at least {d['min_genuine_rounds']} genuine rounds and an image "
                          f"(clicked: {len(rounds)}, images: {len(stimuli)})")
    cats = {n: stimuli[n].category for n in names}
    progress(f"{len(names)} drawings with >= {d['min_genuine_rounds']} genuine rounds "
             f"({len(set(c for c in cats.values() if c))} categories); brush {brush.shape} {brush.size:g} px, sigma {sigma:g} px")
    t = lap("read", started)

    human = {n: brush.human_map(rounds[n], width, height, sigma) for n in names}
    table = brush.reliability({n: rounds[n] for n in names if len(rounds[n]) >= d["reliability_min_rounds"]},
                              width, height, sigma, st["n_splits"], seed)

    def nanmean(column: str) -> float | None:
        return float(np.nanmean(table[column])) if len(table) and table[column].notna().any() else None

    ceiling, floor = nanmean("split_half"), nanmean("floor")
    ceiling_ci = bootstrap_ci(table["split_half"], None, n_boot, level, seed) if len(table) else None
    floor_ci = bootstrap_ci(table["floor"], None, n_boot, level, seed) if len(table) else None
    t = lap("human maps and reliability", t)

    # machine maps: raw [N, 28, 28] at the models' resolution, then the human maps' geometry
    images = np.stack([at_size(stimuli[n].pixels, 28, 28) for n in names])
    from models.cfgdm import OneShotCFGDM

    torch.manual_seed(seed)
    model = OneShotCFGDM.from_pretrained(a["weights"] or None, device)
    raw: dict[str, np.ndarray] = {}
    canvas_images = [canvas[n] for n in names]
    machines = [("cfgdm", model, lambda m, s: cfgdm_attribution(m, images, canvas_images, a["method"],
                                                                 attribution_settings(plan, s), a["segment_length"]))]
    machine_notes: dict[str, Any] = {"cfgdm": {"method": a["method"], "weights": a["weights"] or "shipped",
                                               "device": str(model.device),
                                               "training_steps": model.meta.get("steps_done", model.meta.get("steps"))}}
    if a["classifier"]:
        from models.classifier import load_classifier

        classifier = load_classifier(None)
        guesses = classifier.predict_proba(images).argmax(1)
        targets = [classifier.categories.index(cats[n]) if cats[n] in classifier.categories else int(g)
                   for n, g in zip(names, guesses)]
        method = a["method"] if a["method"] in CLASSIFIER_METHODS else "integrated_gradients"
        machines.append(("classifier", classifier,
                         lambda m, s: classifier_maps(m, images, targets, method, attribution_settings(plan, s))))
        machine_notes["classifier"] = {"method": method, "version": classifier.version,
                                       "explains_own_guess": int(sum(cats[n] not in classifier.categories
                                                                     for n in names))}
    for source, trained, attribute in machines:
        progress(f"{source} maps ({machine_notes[source]['method']}, seeds {a['seeds']})")
        raw[source] = _averaged(lambda s: attribute(trained, s), a["seeds"])
        t = lap(f"{source} maps", t)
        twin = random_weights(source, trained, a["random_weights_seed"])
        progress(f"{source} random-weights twin (seed {a['random_weights_seed']})")
        raw[f"{source}_random"] = _averaged(lambda s: attribute(twin, s), a["seeds"])
        del twin
        t = lap(f"{source} random-weights twin", t)
    del model

    unblurred = {src: {n: prepare_map(raw[src][i], width, height, 0) for i, n in enumerate(names)} for src in raw}
    maps: dict[str, dict[str, np.ndarray]] = {"human": human}
    for src, by in unblurred.items():
        maps[src] = {n: brush.spread(m, sigma) for n, m in by.items()}
    matched: dict[str, dict[str, list[np.ndarray]]] = {}
    if st["matched_sampling"]:
        for src in list(raw):
            matched[src] = {n: matched_rounds(resize_map(np.abs(raw[src][i]), width, height), rounds[n],
                                              brush.reach, seed + i) for i, n in enumerate(names)}
            maps[f"{src}_matched"] = {n: brush.human_map(r, width, height, sigma) for n, r in matched[src].items()}
    maps["ink"] = {n: brush.spread(ink[n].astype(np.float64), sigma) for n in names}
    maps["centre_bias"] = centre_bias_maps(human, cats)
    t = lap("machine geometry, matched sampling, baselines", t)

    # alignment three ways (analysis.alignment), then per-stimulus values: shape of every source,
    # alignment of every non-human source
    from .alignment import alignment_table

    regions = {n: ink_regions[n] for n in names}
    controls = {n: [maps["ink"][n], maps["centre_bias"][n]] for n in names}
    twins = {m: f"{m}_random" for m, _, _ in machines}
    twins.update({f"{m}_matched": f"{m}_random_matched" for m in list(twins) if f"{m}_matched" in maps})
    alignment = alignment_table(human, {src: by for src, by in maps.items() if src != "human"}, regions, controls,
                                cats, floor if floor is not None else float("nan"),
                                ceiling if ceiling is not None else float("nan"), n_boot, seed, twins=twins,
                                baselines=["ink", "centre_bias"])
    by_way = alignment.pop("per_stimulus")  # {source: {way: {stimulus: value}}}: kept in per_stimulus.csv
    t = lap("alignment three ways", t)
    rows = []
    for n in names:
        row: dict[str, Any] = {"stimulus": n, "category": cats[n], "n_genuine_rounds": len(rounds[n]),
                               "n_points": int(sum(len(r) for r in rounds[n]))}
        for src, by in maps.items():
            row.update({f"{src}.{k}": v for k, v in shape_metrics(by[n], canvas[n], mass).items()})
            if src != "human":
                row.update({f"{src}.{metric}": by_way[src][way].get(n, float("nan"))
                            for metric, way in ALIGNMENT_WAYS.items()})
        rows.append(row)
    per_stimulus = pd.DataFrame(rows)
    per_stimulus["split_half"] = per_stimulus["stimulus"].map(dict(zip(table["stimulus"], table["split_half"])))
    values = {c: per_stimulus[c].to_numpy(np.float64) for c in per_stimulus.columns if "." in c}
    category_list = [c if c else f"stimulus:{n}" for n, c in zip(names, per_stimulus["category"])]
    claims = evaluate_all(plan.claims, values, category_list, n_boot, seed, level)
    t = lap("shape metrics and claims", t)

    sensitivity = sensitivity_grid(plan, names, rounds, maps, unblurred, matched, canvas, cats, per_stimulus,
                                   width, height, brush, sigma)
    t = lap("sensitivity grid", t)

    def mean_ci(column: str) -> dict[str, Any]:
        entry = bootstrap_ci(per_stimulus[column], None, n_boot, level, seed)
        by_category = bootstrap_ci(per_stimulus[column], category_list, n_boot, level, seed)
        return {**entry, "category_lo": by_category["lo"], "category_hi": by_category["hi"]}

    shape_means = {src: {k: mean_ci(f"{src}.{k}") for k in SHAPE_METRICS} for src in maps}
    alignment_means = {src: {k: mean_ci(f"{src}.{k}") for k in ALIGNMENT_METRICS} for src in maps if src != "human"}
    figure_names = select_figure_drawings({n: len(rounds[n]) for n in names})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig5(figure_names, canvas, {k: maps[k] for k in ("human", "cfgdm", "cfgdm_random", "ink")},
         {n: len(rounds[n]) for n in names}, cats, out / "fig5.png")
    record = {
        "plan": plan.as_dict(),
        "inputs": {"clicks": Path(clicks_path).name, "stimuli": Path(stimuli_path).name,
                   "categories": Path(categories).name if categories else None},
        "data_check": check.as_dict(), "ink_rule": ink_rule, "non_brushing_rule": _non_brushing_rule(),
        "n_stimuli": len(names), "n_categories": len({c for c in cats.values() if c}),
        "stimuli_without_image": without_drawing,
        "canvas": [width, height], "brush": {"shape": brush.shape, "px": brush.size, "reach_px": brush.reach},
        "sigma_px": sigma, "mass": mass,
        "reliability": {"ceiling": ceiling, "ceiling_ci": ceiling_ci, "floor": floor, "floor_ci": floor_ci,
                        "n_stimuli": int(len(table)), "min_rounds": d["reliability_min_rounds"],
                        "n_splits": st["n_splits"]},
        "machines": machine_notes,
        "claims": claims,
        "verdicts": {m: v["verdict"] for m, v in alignment.get("verdicts", {}).items()},
        "sensitivity": sensitivity,
        "shape": shape_means, "alignment_means": alignment_means, "alignment": alignment,
        "figure": {"file": "fig5.png", "rule": "the 12 drawings with the most genuine rounds, ties by stimulus id",
                   "stimuli": figure_names},
        "seconds": {**timings, "total": round(time.perf_counter() - started, 1)},
    }
    record = jsonable(record)
    per_stimulus.to_csv(out / "per_stimulus.csv", index=False)
    (out / "confirm.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    write_confirm_report(record, out)
    return record


def sensitivity_grid(plan: Plan, names: list[str], rounds: dict[str, list[np.ndarray]],
                     maps: dict[str, dict[str, np.ndarray]], unblurred: dict[str, dict[str, np.ndarray]], matched: dict[str, dict[str, list[np.ndarray]]],
                     canvas: dict[str, np.ndarray], cats: dict[str, str | None], per_stimulus: pd.DataFrame,
                     width: int, height: int, brush: Brush, sigma: float) -> list[dict[str, Any]]:
    """Every shape claim re-evaluated at each ``[[sensitivity]]`` setting of the plan: human and
    matched maps rebuilt with the setting's brush and blur, machine maps re-spread with the same,
    shapes measured at its mass share (alignment claims are judged at the plan's own setting).
    A row per setting and claim; a setting with ``min_genuine_rounds`` keeps only those drawings."""
    st = plan.statistics
    shape_claims = [c for c in plan.claims if c["metric"] in SHAPE_METRICS]
    needed = {c[side] for c in shape_claims for side in ("a", "b")}
    out = []
    for setting in plan.sensitivity:
        s, b, p = sigma * setting["sigma_factor"], brush.scaled(setting["brush_factor"]), float(setting["mass"])
        keep = [n for n in names if len(rounds[n]) >= setting.get("min_genuine_rounds", 1)]
        same_geometry = setting["sigma_factor"] == 1 and setting["brush_factor"] == 1
        values: dict[str, list[float]] = {}
        for n in keep:
            for src in needed:
                if same_geometry and src in maps:  # only the mass share or the drawings differ: reuse the maps
                    m = maps[src][n]
                elif src == "human":
                    m = b.human_map(rounds[n], width, height, s)
                elif src.endswith("_matched"):
                    m = b.human_map(matched[src[:-len("_matched")]][n], width, height, s)
                elif src in unblurred:
                    m = b.spread(unblurred[src][n], s)
                else:
                    continue  # baselines have no shape claims in the grid
                for k, v in shape_metrics(m, canvas[n], p).items():
                    values.setdefault(f"{src}.{k}", []).append(v)
        arrays = {k: np.asarray(v) for k, v in values.items()}
        groups = [cats[n] or f"stimulus:{n}" for n in keep]
        specs = [c for c in shape_claims if f"{c['a']}.{c['metric']}" in arrays and f"{c['b']}.{c['metric']}" in arrays]
        for claim in evaluate_all(specs, arrays, groups, st["n_boot"], st["seed"], float(st["level"])):
            out.append({"setting": setting["label"], "sigma_px": round(s, 3), "brush_px": round(b.size, 3), "mass": p,
                        **{k: claim[k] for k in ("name", "estimate", "ci", "p", "holds", "reversed", "n_stimuli")}})
    return out


def confirm_main(plan_path: str | Path, clicks: str, stimuli: str, out: str, categories: str | None = None,
                 device: str | None = None) -> dict[str, Any]:
    """The CLI's work: load the plan (exit 2 on a bad one), run it, print the claims."""
    plan = load_plan(plan_path)
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    record = run_confirm(plan, clicks, stimuli, out, categories, device)
    for line in claims_lines(record):
        print(line)
    return record


def claims_lines(record: dict[str, Any]) -> list[str]:
    """The claims as printed: name, estimate [CI], p, verdict, n."""
    from .claims import verdict

    rel = record["reliability"]
    lines = [f"{record['n_stimuli']} drawings ({record['n_categories']} categories); human ceiling "
             f"{_num(rel['ceiling'])}, floor {_num(rel['floor'])} (on {rel['n_stimuli']} drawings with >= "
             f"{rel['min_rounds']} genuine rounds)"]
    lines += [f"{machine}: {verdict_text} (analysis.alignment: ink-conditional alignment vs its random-weights twin)"
              for machine, verdict_text in record.get("verdicts", {}).items()]
    width = max(len(c["name"]) for c in record["claims"])
    for c in record["claims"]:
        lo, hi = c["ci"]
        lines.append(f"{c['name']:<{width}}  {_num(c['estimate'])} [{_num(lo)}, {_num(hi)}]  p {_num(c['p'], 2)}  "
                     f"{verdict(c):<9} n={c['n_stimuli']}")
    return lines


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def claims_frame(record: dict[str, Any]) -> pd.DataFrame:
    """The claims of a ``confirm.json`` record as a table (for notebooks and docs)."""
    from .claims import verdict

    return pd.DataFrame([{"claim": c["name"], "test": f"{c['metric']}: {c['a']} − {c['b']} "
                                                      f"{'<' if c['direction'] == 'less' else '>'} 0",
                          "mean a": c["mean_a"], "mean b": c["mean_b"], "estimate": c["estimate"],
                          "ci_lo": c["ci"][0], "ci_hi": c["ci"][1], "p": c["p"], "verdict": verdict(c),
                          "n": c["n_stimuli"]} for c in record["claims"]])


def claims_markdown(record: dict[str, Any]) -> str:
    """The claims as a markdown table: claim, test, means, estimate [95% CI], p, verdict, n."""
    lines = ["| claim | a − b | mean a / mean b | estimate [95% CI] | p | verdict | n drawings |",
             "|---|---|---|---|---|---|---|"]
    for _, r in claims_frame(record).iterrows():
        lines.append(f"| `{r['claim']}` | {r['test']} | {_num(r['mean a'])} / {_num(r['mean b'])} | "
                     f"{_num(r['estimate'])} [{_num(r['ci_lo'])}, {_num(r['ci_hi'])}] | {_num(r['p'], 2)} | "
                     f"**{r['verdict']}** | {r['n']} |")
    return "\n".join(lines)
