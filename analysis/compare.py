"""Human vs machine maps: the comparison behind ``python -m analysis compare``.

For every stimulus with enough rounds it builds the human map, the classifier's and the CFGDM's
attribution maps (resized, blurred and normalised like the human map), and measures

- feature count and localization (area for p% of the mass, Gini, entropy, spread) per source;
- alignment of each machine map with the human map: Spearman rho, IoU-over-thresholds AUC and
  earth mover's distance; and, on means, rho relative to the human noise ceiling;

then summarises them: means with bootstrap 95% CIs over stimuli and over categories (stimuli of
a category are not independent), a per-category table, paired Wilcoxon tests human vs each
machine with effect sizes and Holm-adjusted p values, the sensitivity of each test's conclusion
to the blur, the brush radius and the mass share, and, where participants are known, jackknife
CIs over participants. Outputs: ``per_stimulus.csv``, ``per_category.csv``, ``summary.json``,
``data_check.json``, ``maps.npz``, figures and ``report.html``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from models import render

from . import metrics
from .attribution import AttributionSettings, cfgdm_maps, classifier_maps
from .clicks import ClicksError, DataCheck, load_checked
from .maps import blur_normalize, count_map, default_sigma, human_map, prepare_map, rounds_by_stimulus
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
    radius: float | None = None  # brush radius in canvas pixels; None = the game's
    min_points_per_round: int = 1
    min_rounds: int = 4
    n_boot: int = 2000
    n_jackknife_groups: int = 20  # participants are left out in this many groups
    n_splits: int = 50
    seed: int = 0
    mode: str = "full"  # "quick": small attribution and resampling settings (previews, tests)
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

def machine_maps(names: list[str], stimuli: dict[str, Stimulus], width: int, height: int, sources: list[str],
                 options: CompareOptions, classifier_weights: str | None = None, cfgdm_weights: str | None = None,
                 classifier_method: str = "integrated_gradients", cfgdm_method: str = "integrated_gradients",
                 classifier=None, cfgdm=None) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Machine maps on the canvas, normalised but not yet blurred (`compare` blurs them like the
    human maps, and again at other blurs for the sensitivity analysis), ``{source: {stimulus:
    map}}``, and notes on how they were made.

    A stimulus whose category the classifier does not know (or that has none) cannot have its
    category explained: its classifier map explains the classifier's own top-1 guess instead and
    is marked so in ``notes["classifier"]["target"]`` (and in the per-stimulus table)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    notes: dict[str, Any] = {}
    images = np.stack([at_size(stimuli[n].pixels, 28, 28) for n in names])
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
        raw = classifier_maps(classifier, images, targets, classifier_method, options.attribution)
        out["classifier"] = {n: prepare_map(m, width, height, 0) for n, m in zip(names, raw)}
        notes["classifier"] = {"method": classifier_method, "version": classifier.version,
                               "target": target_from,
                               "top1_correct": {n: bool(stimuli[n].category == classifier.categories[p])
                                                for n, p in zip(names, predicted)}}
    if "cfgdm" in sources:
        if cfgdm is None:
            from models.cfgdm import OneShotCFGDM

            cfgdm = OneShotCFGDM.from_pretrained(cfgdm_weights)
        raw = cfgdm_maps(cfgdm, images, cfgdm_method, options.attribution)
        out["cfgdm"] = {n: prepare_map(m, width, height, 0) for n, m in zip(names, raw)}
        notes["cfgdm"] = {"method": cfgdm_method, "steps": cfgdm.meta.get("steps"),
                          "held_out_categories": len(cfgdm.meta.get("test_categories", []))}
    notes["attribution_settings"] = {k: v for k, v in vars(options.attribution).items()}
    return out, notes


# --- per-stimulus metrics --------------------------------------------------------------------

def shape_metrics(m: np.ndarray, drawing: np.ndarray, mass: float) -> dict[str, float]:
    return {"feature_count": float(metrics.feature_count(m, mass)),
            "area_fraction": metrics.area_fraction(m, mass),
            "gini": metrics.gini(m), "entropy": metrics.entropy(m),
            "spread": metrics.spread(m, drawing)}


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
            progress: Callable[[str], None] = lambda message: None, **machine_kwargs: Any) -> Comparison:
    """Maps, per-stimulus metrics and the summary, in memory (see `run_compare` for files)."""
    options = options or CompareOptions()
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or "human" not in sources:
        raise ValueError(f"sources must include human and come from {', '.join(SOURCES)} (got {', '.join(sources)})")
    radius = render.brush_radius_px(width, height) if options.radius is None else options.radius
    rounds = rounds_by_stimulus(clicks, options.min_points_per_round, options.min_rounds)
    names = sorted(n for n in rounds if n in stimuli)
    missing = sorted(set(rounds) - set(stimuli))
    if not names:
        raise ClicksError(f"no stimulus has both at least {options.min_rounds} rounds of clicks and a drawing "
                          f"(clicked: {len(rounds)}, drawings: {len(stimuli)})")
    progress(f"{len(names)} stimuli; building human maps")
    canvas_images = {n: at_size(stimuli[n].pixels, width, height) for n in names}
    maps: dict[str, dict[str, np.ndarray]] = {
        "human": {n: human_map(rounds[n], width, height, radius, options.sigma) for n in names}}
    ceilings = {n: split_half(rounds[n], width, height, radius, options.n_splits, options.seed + i,
                              options.sigma, options.min_rounds) for i, n in enumerate(names)}
    progress("machine maps")
    unblurred, notes = machine_maps(names, stimuli, width, height, [s for s in sources if s != "human"], options,
                                    **machine_kwargs)
    machine = {src: {n: blur_normalize(m, options.sigma) for n, m in by.items()} for src, by in unblurred.items()}
    maps.update(machine)

    rows = []
    targets = notes.get("classifier", {}).get("target", {})
    for name in names:
        row: dict[str, Any] = {"stimulus": name, "category": stimuli[name].category, "n_rounds": len(rounds[name]),
                               "n_points": int(sum(len(r) for r in rounds[name])), "ceiling": ceilings[name]}
        if name in targets:
            row["classifier.target"] = targets[name]
        for source in maps:
            for key, value in shape_metrics(maps[source][name], canvas_images[name], options.mass).items():
                row[f"{source}.{key}"] = value
        for source in machine:
            for key, value in alignment_metrics(maps["human"][name], maps[source][name]).items():
                row[f"{source}.{key}"] = value
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
    summary.update(n_stimuli=len(names), canvas=[width, height], radius_px=radius,
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

    Human maps are rebuilt with the setting's brush radius and blur, machine maps re-blurred, the
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
                for key, value in shape_metrics(blur_normalize(by[name], sigma), drawings[name], p).items():
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
                strict: bool = False, keep_repeats: bool = False, categories: str | Path | None = None,
                simulated: bool = False) -> dict[str, Any]:
    """The CLI's work: load (by the `analysis.clicks` rule, reporting its data check), compare, and
    write CSVs, JSON, maps, figures and the HTML report.

    ``overrides`` sets `CompareOptions` fields (None values keep the defaults); ``categories`` is
    a CSV ``stimulus, category``; ``simulated`` says the clicks are not human data (the report
    says so in its header).
    """
    from .plots import save_figures
    from .report import write_report

    width, height = canvas
    clicks, check = load_checked(clicks_path, width, height, strict=strict, keep_repeats=keep_repeats)
    for line in check.lines():
        progress(line)
    stimuli = apply_categories(load_stimuli(stimuli_path), categories, clicks)
    options = CompareOptions.quick(seed) if quick else CompareOptions(seed=seed)
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(options, key, value)
    if not 0 < options.mass < 1:
        raise ValueError(f"--mass must be between 0 and 1 (got {options.mass})")
    wanted = [s.strip() for s in sources.split(",")] if isinstance(sources, str) else list(sources)
    result = compare(clicks, stimuli, width, height, wanted, options, progress,
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
