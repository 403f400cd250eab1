"""Human vs machine maps: the comparison behind ``python -m analysis compare``.

For every stimulus with enough rounds it builds the human map, the classifier's and the CFGDM's
attribution maps (with the human map's brush disc and blur), each machine's matched-sampling
twin (`matched_sampling`), and measures

- feature count and localization (area for p% of the mass, Gini, entropy, spread) per source;
- alignment of each machine map with the human map: Spearman rho, IoU-over-thresholds AUC and
  earth mover's distance; and, on means, rho relative to the human noise ceiling;

then summarises them: means with bootstrap 95% CIs over stimuli and over categories (stimuli of
a category are not independent), a per-category table, paired Wilcoxon tests human vs each
machine with effect sizes and Holm-adjusted p values, the sensitivity of each test's conclusion
to the blur, the brush radius and the mass share, and, where participants are known, jackknife
CIs over participants; next to them, every machine's controls (`controls`) and the baselines
(`baselines`, also relative to the noise ceiling). Outputs: ``per_stimulus.csv``,
``per_category.csv``, ``summary.json``, ``data_check.json``, ``maps.npz``, figures and
``report.html``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import metrics
from .attribution import AttributionSettings, cfgdm_maps, classifier_maps, ink_share
from .baselines import baseline_alignment, summarise_baselines
from .brush import resolve_radius
from .clicks import ClicksError, DataCheck, ingest, read_clicks_csv
from .ink import ink_mask, stimulus_ink
from .controls import machine_controls, summarise_controls
from .maps import (blur_normalize, count_map, default_sigma, human_map, prepare_map, resize_map,
                   rounds_by_stimulus)
from .matched_sampling import matched_rounds
from .reliability import split_half
from .stats import bootstrap_ci, holm, jackknife_interval, noise_normalised, paired_test
from .stimuli import Stimulus, apply_categories, at_size, load_stimuli

SOURCES = ("human", "classifier", "cfgdm")
SHAPE_METRICS = ("feature_count", "area_fraction", "gini", "entropy", "spread")
ALIGNMENT_METRICS = ("spearman", "iou_auc", "emd")
#: the conclusions are re-derived at these settings: (label, sigma factor, radius factor, mass)
SENSITIVITY = (("as run", 1.0, 1.0, None), ("σ ×0.5", 0.5, 1.0, None), ("σ ×2", 2.0, 1.0, None),
               ("radius ×0.5", 1.0, 0.5, None), ("radius ×2", 1.0, 2.0, None),
               ("p = 0.3", 1.0, 1.0, 0.3), ("p = 0.8", 1.0, 1.0, 0.8))
ALPHA = 0.05
UNKNOWN_TARGET = "top-1 guess (category unknown to the classifier)"


@dataclass
class CompareOptions:
    """Everything that changes the numbers; saved into ``summary.json``."""

    mass: float = 0.5  # p for feature count and area fraction
    sigma: float | None = None  # blur in canvas pixels; None = 3% of the canvas
    radius: float | None = None  # brush radius in canvas pixels; None = `analysis.brush`'s rule
    min_points_per_round: int = 1
    min_rounds: int = 4
    n_boot: int = 2000
    n_jackknife_groups: int = 20  # participants are left out in this many groups
    n_splits: int = 50
    seed: int = 0
    mode: str = "full"  # "quick": small attribution and resampling settings (previews, tests)
    control_stimuli: int = 60  # random-weights/seed/method controls on this many stimuli (0 = all)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)

    @classmethod
    def quick(cls, seed: int = 0) -> "CompareOptions":
        return cls(n_boot=200, n_jackknife_groups=5, n_splits=10, seed=seed, mode="quick",
                   attribution=AttributionSettings.quick())


@dataclass
class Comparison:
    """In-memory result: maps per source, the per-stimulus table and the summary."""

    stimuli: dict[str, Stimulus]
    canvas_images: dict[str, np.ndarray]
    maps: dict[str, dict[str, np.ndarray]]  # source -> stimulus -> [H, W] map summing to 1
    table: pd.DataFrame
    summary: dict[str, Any]


# --- machine maps ----------------------------------------------------------------------------

@dataclass
class Machine:
    """One machine source as computed: what the controls need to recompute its maps."""

    source: str
    model: Any
    method: str
    attribute: Callable[[Any, str, int, np.ndarray], np.ndarray]  # (model, method, seed, rows) -> raw maps
    raw: np.ndarray  # [N, 28, 28] signed maps of the trained model, stimuli in order


def machine_maps(names: list[str], stimuli: dict[str, Stimulus], width: int, height: int, sources: list[str],
                 options: CompareOptions, classifier_weights: str | None = None, cfgdm_weights: str | None = None,
                 classifier_method: str = "integrated_gradients", cfgdm_method: str = "integrated_gradients",
                 classifier=None, cfgdm=None
                 ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], list[Machine]]:
    """Machine maps on the canvas as magnitudes normalised to sum 1, NOT yet spread by the brush
    disc nor blurred (`compare` gives them the human maps' geometry with `spread`, and again at
    other radii and blurs for the sensitivity analysis), ``{source: {stimulus: map}}``; notes on
    how they were made (with each source's share of |attribution| on ink next to the ink's
    share of the canvas); and the computed machines (for the controls).

    A stimulus whose category the classifier does not know (or that has none) cannot have its
    category explained: its classifier map explains the classifier's own top-1 guess instead and
    is marked so in ``notes["classifier"]["target"]`` (and in the per-stimulus table)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    notes: dict[str, Any] = {}
    machines: list[Machine] = []
    images = np.stack([at_size(stimuli[n].pixels, 28, 28) for n in names])
    every = np.arange(len(names))
    settings = options.attribution
    if "classifier" in sources:
        if classifier is None:
            from models.classifier import load_classifier

            classifier = load_classifier(classifier_weights)
        targets, target_from = [], {}
        predicted = classifier.predict_proba(images).argmax(1)
        for name, guess in zip(names, predicted):
            category = stimuli[name].category
            if category in classifier.categories:
                targets.append(classifier.categories.index(category))
                target_from[name] = "category"
            else:  # unknown category: explain the classifier's own top guess
                targets.append(int(guess))
                target_from[name] = UNKNOWN_TARGET

        def attribute_classifier(model, method: str, seed: int, rows: np.ndarray) -> np.ndarray:
            return classifier_maps(model, images[rows], np.asarray(targets)[rows], method,
                                   replace(settings, seed=seed), progress=True)

        machines.append(Machine("classifier", classifier, classifier_method, attribute_classifier,
                                attribute_classifier(classifier, classifier_method, settings.seed, every)))
        notes["classifier"] = {"method": classifier_method, "version": classifier.version,
                               "target": target_from,
                               "top1_correct": {n: bool(stimuli[n].category == classifier.categories[p])
                                                for n, p in zip(names, predicted)}}
    if "cfgdm" in sources:
        if cfgdm is None:
            from models.cfgdm import OneShotCFGDM

            cfgdm = OneShotCFGDM.from_pretrained(cfgdm_weights)

        def attribute_cfgdm(model, method: str, seed: int, rows: np.ndarray) -> np.ndarray:
            return cfgdm_maps(model, images[rows], method, replace(settings, seed=seed), progress=True)

        machines.append(Machine("cfgdm", cfgdm, cfgdm_method, attribute_cfgdm,
                                attribute_cfgdm(cfgdm, cfgdm_method, settings.seed, every)))
        # A run stopped by its time budget trained fewer steps than it planned ("steps").
        trained = cfgdm.meta.get("steps_done", cfgdm.meta.get("steps"))
        notes["cfgdm"] = {"method": cfgdm_method, "training_steps": trained,
                          "held_out_categories": len(cfgdm.meta.get("test_categories", [])),
                          "states": f"guided {settings.sampler.upper()} trajectories from the exemplar (gamma {settings.gamma}, "
                                    f"{settings.sampling_steps} steps, {settings.n_noise} seeds), states at "
                                    f"{list(settings.timesteps)} of T"}
    for machine in machines:
        out[machine.source] = {n: prepare_map(m, width, height, 0) for n, m in zip(names, machine.raw)}
        on_ink, ink_area = ink_share(machine.raw, images)
        notes[machine.source].update(ink_share=on_ink, ink_area=ink_area)
    notes["attribution_settings"] = {k: v for k, v in vars(settings).items()}
    return out, notes, machines


def spread(unblurred: np.ndarray, sigma: float | None, radius: float) -> np.ndarray:
    """A `machine_maps` map with the human maps' geometry at this blur and brush radius: one
    place, so the comparison and the sensitivity analysis cannot give machines another shape."""
    height, width = unblurred.shape
    return prepare_map(unblurred, width, height, sigma, radius)


# --- per-stimulus metrics --------------------------------------------------------------------

def shape_metrics(m: np.ndarray, drawing: np.ndarray, mass: float) -> dict[str, float]:
    """Shape of a map; its spread is relative to the drawing's ink (`analysis.ink.ink_mask`, so
    a JPEG's paper noise does not count as drawing)."""
    return {"feature_count": float(metrics.feature_count(m, mass)),
            "area_fraction": metrics.area_fraction(m, mass),
            "gini": metrics.gini(m), "entropy": metrics.entropy(m),
            "spread": metrics.spread(m, ink_mask(drawing).astype(np.float64))}


def alignment_metrics(human: np.ndarray, machine: np.ndarray) -> dict[str, float]:
    """Per stimulus; the noise-ceiling normalisation is done on means (`stats.noise_normalised`)."""
    return {"spearman": metrics.spearman(human, machine), "iou_auc": metrics.iou_auc(human, machine),
            "emd": metrics.emd(human, machine)}


# --- participant uncertainty -----------------------------------------------------------------

def participant_jackknife(clicks: pd.DataFrame, names: list[str], width: int, height: int, radius: float,
                          machine: dict[str, dict[str, np.ndarray]], drawings: dict[str, np.ndarray],
                          options: CompareOptions) -> tuple[dict[str, dict[str, float | None]] | None, str | None]:
    """95% CIs of the stimulus-mean human metrics and alignments over participants, or a reason.

    Participants are dealt (seeded) into up to `CompareOptions.n_jackknife_groups` groups; each
    group in turn is left out, the human maps are rebuilt from everyone else and measured as
    usual, and `stats.jackknife_interval` turns the leave-outs into a t interval about the
    full-data estimate. Work is per stimulus, so memory stays at groups x canvas.
    """
    if "participant" not in clicks.columns:
        return None, "no participant ids in the clicks: participant-level intervals are skipped"
    people = sorted(clicks["participant"].unique())
    if len(people) < 3:
        return None, f"only {len(people)} participant(s): participant-level intervals are skipped"
    n_groups = min(options.n_jackknife_groups, len(people))
    group_of = dict(zip(np.random.default_rng(options.seed).permutation(people), np.arange(len(people)) % n_groups))
    full: dict[str, list[float]] = {}
    left_out: dict[str, np.ndarray] = {}
    for name in names:
        subset = clicks[clicks["stimulus"] == name]
        counts = np.zeros((n_groups, height, width))
        for (person, _trial), g in subset.groupby(["participant", "trial"]):
            if len(g) >= options.min_points_per_round:
                counts[group_of[person]] += count_map([g[["x", "y"]].to_numpy(np.float64)], width, height, radius)
        total = counts.sum(0)
        for g_index, raw in [(None, total)] + [(g, total - counts[g]) for g in range(n_groups)]:
            if raw.sum() == 0:
                continue
            human = blur_normalize(raw, options.sigma)
            values = {f"human.{k}": v for k, v in shape_metrics(human, drawings[name], options.mass).items()}
            values.update({f"{src}.spearman": metrics.spearman(human, maps[name]) for src, maps in machine.items()})
            for key, value in values.items():
                if g_index is None:
                    full.setdefault(key, []).append(value)
                else:
                    left_out.setdefault(key, np.zeros((n_groups, 2)))[g_index] += (value, 1) if np.isfinite(value) else (0, 0)
    out = {}
    for key, values in full.items():
        sums = left_out.get(key, np.zeros((n_groups, 2)))
        with np.errstate(invalid="ignore"):
            out[key] = jackknife_interval(float(np.nanmean(values)), sums[:, 0] / sums[:, 1])
    return out, None


# --- the whole comparison --------------------------------------------------------------------

def category_groups(table: pd.DataFrame) -> list[str]:
    """Bootstrap groups: the stimulus' category, or the stimulus itself when it has none."""
    return [str(c) if isinstance(c, str) and c else f"stimulus:{s}" for s, c in zip(table["stimulus"], table["category"])]


def compare(clicks: pd.DataFrame, stimuli: dict[str, Stimulus], width: int, height: int,
            sources: list[str] | tuple[str, ...] = SOURCES, options: CompareOptions | None = None,
            progress: Callable[[str], None] = lambda message: None, rounds_path: str | Path | None = None,
            **machine_kwargs: Any) -> Comparison:
    """Maps, per-stimulus metrics and the summary, in memory (see `run_compare` for files).

    Next to each machine source come its matched-sampling twin (``<source>_matched``, compared
    like any source), its controls (`analysis.controls`) and the baselines (`analysis.baselines`).
    """
    options = options or CompareOptions()
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or "human" not in sources:
        raise ValueError(f"sources must include human and come from {', '.join(SOURCES)} (got {', '.join(sources)})")
    radius, radius_info = resolve_radius(clicks, width, height, options.radius, rounds_path)
    rounds = rounds_by_stimulus(clicks, options.min_points_per_round, options.min_rounds)
    names = sorted(n for n in rounds if n in stimuli)
    missing = sorted(set(rounds) - set(stimuli))
    if not names:
        raise ClicksError(f"no stimulus has both at least {options.min_rounds} rounds of clicks and a drawing "
                          f"(clicked: {len(rounds)}, drawings: {len(stimuli)})")
    progress(f"{len(names)} stimuli; brush radius {radius:.3g} px ({radius_info['source']}); building human maps")
    canvas_images = {n: at_size(stimuli[n].pixels, width, height) for n in names}
    maps: dict[str, dict[str, np.ndarray]] = {
        "human": {n: human_map(rounds[n], width, height, radius, options.sigma)
                  for n in tqdm(names, desc="human maps")}}
    ceilings = {n: split_half(rounds[n], width, height, radius, options.n_splits, options.seed + i,
                              options.sigma, options.min_rounds)
                for i, n in enumerate(tqdm(names, desc="split-half reliability"))}
    progress("machine maps")
    unblurred, notes, machines = machine_maps(names, stimuli, width, height, [s for s in sources if s != "human"],
                                              options, **machine_kwargs)
    machine = {src: {n: spread(m, options.sigma, radius) for n, m in by.items()} for src, by in unblurred.items()}
    maps.update(machine)
    for m in machines:  # the same players' rounds, brushed where the machine says
        maps[f"{m.source}_matched"] = {
            n: human_map(matched_rounds(resize_map(np.abs(m.raw[i]), width, height), rounds[n], radius,
                                        options.seed + i), width, height, radius, options.sigma)
            for i, n in enumerate(tqdm(names, desc=f"{m.source} matched sampling"))}

    progress("controls and baselines")
    human = [maps["human"][n] for n in names]
    ink = np.stack([ink_mask(at_size(stimuli[n].pixels, 28, 28)) for n in names])  # analysis.ink.INK_RULE

    def on_canvas(raw: np.ndarray) -> np.ndarray:
        return prepare_map(raw, width, height, options.sigma, radius)

    picked = np.arange(len(names))
    if 0 < options.control_stimuli < len(names):
        picked = np.sort(np.random.default_rng(options.seed).choice(len(names), options.control_stimuli, replace=False))
    seed = options.attribution.seed
    # on a subset, the maps are recomputed from that subset so that every control map of a stimulus
    # comes from the same sampling noise as its reference (the CFGDM's noise is drawn per batch)
    controls = {m.source: machine_controls(m.source, m.model, m.method, seed, picked,
                                           m.raw if len(picked) == len(names) else
                                           m.attribute(m.model, m.method, seed, picked),
                                           ink[picked], m.attribute, on_canvas, [human[i] for i in picked])
                for m in machines}
    base = baseline_alignment(human, [at_size(stimuli[n].pixels, 28, 28) for n in names],
                              [stimuli[n].category for n in names], on_canvas, options.seed)

    rows = []
    targets = notes.get("classifier", {}).get("target", {})
    for i, name in enumerate(tqdm(names, desc="metrics")):
        row: dict[str, Any] = {"stimulus": name, "category": stimuli[name].category, "n_rounds": len(rounds[name]),
                               "n_points": int(sum(len(r) for r in rounds[name])), "ceiling": ceilings[name]}
        if name in targets:
            row["classifier.target"] = targets[name]
        for source in maps:
            for key, value in shape_metrics(maps[source][name], canvas_images[name], options.mass).items():
                row[f"{source}.{key}"] = value
        for source in maps:
            if source != "human":
                for key, value in alignment_metrics(maps["human"][name], maps[source][name]).items():
                    row[f"{source}.{key}"] = value
        for source, values in controls.items():
            at = np.searchsorted(picked, i)
            if at < len(picked) and picked[at] == i:
                row.update({f"{source}.{key}": v[at] for key, v in values.items() if not isinstance(v, str)})
        row.update({f"baseline.{key}.spearman": v[i] for key, v in base.items()})
        rows.append(row)
    table = pd.DataFrame(rows)

    progress("statistics")
    summary = summarise(table, list(maps), options)
    summary["categories"] = category_notes(table, targets)
    summary["per_category"] = per_category(table, list(maps)).to_dict(orient="records")
    progress("sensitivity of the conclusions to blur, brush radius and mass share")
    summary["sensitivity"] = sensitivity(rounds, names, unblurred, canvas_images, width, height, radius, options)
    participant_ci, skipped = participant_jackknife(clicks[clicks["stimulus"].isin(names)], names, width, height,
                                                    radius, machine, canvas_images, options)
    summary["participant_ci"] = participant_ci
    summary["participant_ci_method"] = (f"grouped jackknife over participants ({options.n_jackknife_groups} groups), "
                                        "t interval about the estimate")
    summary["participant_ci_skipped"] = skipped
    summary["controls"] = {source: {**summarise_controls(values, options.n_boot, options.seed),
                                    "stimuli": [names[i] for i in picked]} for source, values in controls.items()}
    summary["baselines"] = summarise_baselines(base, table["ceiling"].astype(float), options.n_boot, options.seed)
    summary["matched_sampling"] = {f"{m.source}_matched": f"simulated players brushing the {m.source} map with "
                                                         "each human round's points and step lengths"
                                   for m in machines}
    summary.update(n_stimuli=len(names), canvas=[width, height], radius_px=radius, radius=radius_info,
                   sigma_px=options.sigma if options.sigma is not None else default_sigma(width, height),
                   stimuli_without_drawing=missing, machines=notes, mode=options.mode,
                   n_participants=int(clicks["participant"].nunique()) if "participant" in clicks.columns else None,
                   options={k: v for k, v in vars(options).items() if k != "attribution"})
    return Comparison({n: stimuli[n] for n in names}, canvas_images, maps, table, summary)


def category_notes(table: pd.DataFrame, targets: dict[str, str]) -> dict[str, Any]:
    """Which stimuli lack a category, and whose classifier map explains a guess, not the category."""
    unknown = sorted(n for n, t in targets.items() if t == UNKNOWN_TARGET)
    return {"n_categories": int(table["category"].dropna().nunique()),
            "stimuli_without_category": sorted(table.loc[table["category"].isna(), "stimulus"]),
            "classifier_unknown_category": unknown,
            "classifier_unknown_categories": sorted({str(c) for c in table.set_index("stimulus").loc[unknown, "category"]
                                                     if isinstance(c, str)}) if unknown else []}


def summarise(table: pd.DataFrame, sources: list[str], options: CompareOptions) -> dict[str, Any]:
    """Per source: mean, stimulus-bootstrap and category-bootstrap CIs of every metric; the
    noise-ceiling normalised alignment; paired tests human vs machines with Holm-adjusted p."""
    out: dict[str, Any] = {"sources": {}, "tests": {}, "mass": options.mass, "alpha": ALPHA,
                           "iou_auc_chance": metrics.IOU_AUC_CHANCE}
    groups = category_groups(table)
    for source in sources:
        entry = {}
        for key in SHAPE_METRICS + (ALIGNMENT_METRICS if source != "human" else ()):
            column = f"{source}.{key}"
            if column in table:
                entry[key] = bootstrap_ci(table[column], None, options.n_boot, seed=options.seed)
                by_category = bootstrap_ci(table[column], groups, options.n_boot, seed=options.seed)
                entry[key].update(category_lo=by_category["lo"], category_hi=by_category["hi"])
        out["sources"][source] = entry
    ceiling = table["ceiling"].astype(float)
    out["human_ceiling"] = bootstrap_ci(ceiling, None, options.n_boot, seed=options.seed)
    out["noise_normalised"] = {}
    for source in sources:
        if source == "human":
            continue
        entry = noise_normalised(table[f"{source}.spearman"], ceiling, None, options.n_boot, seed=options.seed)
        by_category = noise_normalised(table[f"{source}.spearman"], ceiling, groups, options.n_boot, seed=options.seed)
        entry.update(category_lo=by_category["lo"], category_hi=by_category["hi"])
        out["noise_normalised"][source] = entry
        out["tests"][source] = {key: paired_test(table[f"human.{key}"], table[f"{source}.{key}"])
                                for key in SHAPE_METRICS}
    _add_holm(out["tests"])
    return out


def _add_holm(tests: dict[str, dict[str, dict]]) -> None:
    """Holm-adjust the p values of every human-vs-machine test together (one family) and state
    each test's conclusion at `ALPHA`."""
    flat = [t for by_metric in tests.values() for t in by_metric.values()]
    for test, adjusted in zip(flat, holm([t["p"] for t in flat])):
        test["p_holm"] = adjusted
        test["conclusion"] = _conclusion(test)


def _conclusion(test: dict) -> str:
    if test.get("p_holm") is None or test["p_holm"] >= ALPHA:
        return "no difference"
    return "human lower" if test["mean_difference"] < 0 else "human higher"


def per_category(table: pd.DataFrame, sources: list[str]) -> pd.DataFrame:
    """Per category: stimuli, mean reliability and the mean of every source's metrics."""
    columns = ["ceiling"] + [f"{s}.{k}" for s in sources for k in SHAPE_METRICS + ALIGNMENT_METRICS
                             if f"{s}.{k}" in table]
    grouped = table.assign(category=table["category"].fillna("(none)")).groupby("category", sort=True)
    out = grouped[columns].mean()
    out.insert(0, "n_stimuli", grouped.size())
    return out.reset_index()


def sensitivity(rounds: dict[str, list[np.ndarray]], names: list[str], unblurred: dict[str, dict[str, np.ndarray]],
                drawings: dict[str, np.ndarray], width: int, height: int, radius: float,
                options: CompareOptions) -> list[dict[str, Any]]:
    """Each human-vs-machine conclusion re-derived at the `SENSITIVITY` settings.

    Human maps are rebuilt with the setting's brush radius and blur, machine maps re-spread with
    the same disc and blur (`spread`, the geometry both sources share), the
    shape metrics measured with its mass share, and the paired tests Holm-adjusted within the
    setting. One row per setting, machine and metric.
    """
    if not unblurred:
        return []
    sigma0 = options.sigma if options.sigma is not None else default_sigma(width, height)
    rows = []
    for label, sigma_factor, radius_factor, mass in SENSITIVITY:
        sigma, r, p = sigma0 * sigma_factor, radius * radius_factor, mass or options.mass
        values: dict[str, list[float]] = {}
        for name in names:
            human = human_map(rounds[name], width, height, r, sigma)
            for key, value in shape_metrics(human, drawings[name], p).items():
                values.setdefault(f"human.{key}", []).append(value)
            for source, by in unblurred.items():
                for key, value in shape_metrics(spread(by[name], sigma, r), drawings[name], p).items():
                    values.setdefault(f"{source}.{key}", []).append(value)
        tests = {src: {key: paired_test(values[f"human.{key}"], values[f"{src}.{key}"]) for key in SHAPE_METRICS}
                 for src in unblurred}
        _add_holm(tests)
        for src, by_metric in tests.items():
            for key, test in by_metric.items():
                rows.append({"setting": label, "sigma_px": round(sigma, 3), "radius_px": round(r, 3), "mass": p,
                             "machine": src, "metric": key, "mean_difference": test["mean_difference"],
                             "p_holm": test["p_holm"], "conclusion": test["conclusion"]})
    return rows


def run_compare(clicks_path: str | Path, stimuli_path: str | Path, canvas: tuple[int, int], out: Path,
                classifier_weights: str | None = None, cfgdm_weights: str | None = None,
                classifier_method: str = "integrated_gradients", cfgdm_method: str = "integrated_gradients",
                quick: bool = False, seed: int = 0, sources: str | list[str] = "human,classifier,cfgdm",
                overrides: dict[str, Any] | None = None, progress: Callable[[str], None] = print,
                strict: bool = False, keep_repeats: bool = False, keep_non_brushing: bool = False,
                categories: str | Path | None = None,
                simulated: bool = False, rounds_path: str | Path | None = None,
                batch_size: int | None = None) -> dict[str, Any]:
    """The CLI's work: load (by the `analysis.clicks` rule, reporting its data check), compare, and
    write CSVs, JSON, maps, figures and the HTML report.

    ``overrides`` sets `CompareOptions` fields (None values keep the defaults); ``categories`` is
    a CSV ``stimulus, category``; ``simulated`` says the clicks are not human data (the report
    says so in its header); ``rounds_path`` is the game's rounds.csv (the brush each round used,
    `analysis.brush`); ``batch_size`` caps the model inputs per forward pass (peak memory).
    """
    from .plots import save_figures
    from .report import write_report

    width, height = canvas
    options = CompareOptions.quick(seed) if quick else CompareOptions(seed=seed)
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(options, key, value)
    raw = read_clicks_csv(clicks_path)
    drawings = load_stimuli(stimuli_path)
    # the data check judges straight rounds against each drawing's ink dilated by the brush
    clicks, check = ingest(raw, width, height, strict=strict, keep_repeats=keep_repeats,
                           keep_non_brushing=keep_non_brushing,
                           ink=stimulus_ink(drawings, raw, width, height, options.radius, rounds_path))
    for line in check.lines():
        progress(line)
    stimuli = apply_categories(drawings, categories, clicks)
    if not 0 < options.mass < 1:
        raise ValueError(f"--mass must be between 0 and 1 (got {options.mass})")
    if options.control_stimuli < 0:
        raise ValueError(f"--control-stimuli must be 0 (all) or positive (got {options.control_stimuli})")
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1 (got {batch_size})")
        options.attribution = replace(options.attribution, batch_size=batch_size)
    wanted = [s.strip() for s in sources.split(",")] if isinstance(sources, str) else list(sources)
    result = compare(clicks, stimuli, width, height, wanted, options, progress, rounds_path=rounds_path,
                     classifier_weights=classifier_weights, cfgdm_weights=cfgdm_weights,
                     classifier_method=classifier_method, cfgdm_method=cfgdm_method)
    result.summary.update(data_check=check.as_dict(), simulated_clicks=simulated,
                          inputs={"clicks": Path(clicks_path).name, "stimuli": Path(stimuli_path).name,
                                  "categories": Path(categories).name if categories else None})
    _warn(result.summary, check)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "per_stimulus.csv", index=False)
    pd.DataFrame(result.summary["per_category"]).to_csv(out / "per_category.csv", index=False)
    (out / "data_check.json").write_text(json.dumps(jsonable(check.as_dict()), indent=2) + "\n")
    (out / "summary.json").write_text(json.dumps(jsonable(result.summary), indent=2) + "\n")
    np.savez_compressed(out / "maps.npz", **{f"{source}/{name}": m for source, by in result.maps.items()
                                             for name, m in by.items()})
    figures = save_figures(result, out)
    write_report(result, out, figures)
    return result.summary


def _warn(summary: dict[str, Any], check: DataCheck) -> None:
    """Say loudly (stderr) what makes the numbers less than they seem."""
    notes = summary["categories"]
    if notes["classifier_unknown_category"]:
        print(f"WARNING: {len(notes['classifier_unknown_category'])} of {summary['n_stimuli']} stimuli have a category "
              f"the classifier does not know ({', '.join(notes['classifier_unknown_categories'][:8]) or 'none given'}"
              f"{' …' if len(notes['classifier_unknown_categories']) > 8 else ''}); their classifier maps explain "
              f"its own top-1 guess and are marked '{UNKNOWN_TARGET}' (column classifier.target)", file=sys.stderr)
    if notes["stimuli_without_category"]:
        print(f"WARNING: {len(notes['stimuli_without_category'])} stimuli have no category (give --categories FILE)",
              file=sys.stderr)
    if summary.get("participant_ci_skipped"):
        print(f"NOTE: {summary['participant_ci_skipped']}", file=sys.stderr)


def jsonable(value: Any) -> Any:
    """NaN becomes null so the JSON is standard."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
