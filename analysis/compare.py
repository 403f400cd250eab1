"""Human vs machine maps: the comparison behind ``python -m analysis compare``.

For every stimulus with enough rounds it builds the human map, the classifier's and the CFGDM's
attribution maps (with the human map's brush disc and blur), each machine's matched-sampling
twin (`matched_sampling`), and measures

- feature count and localization (area for p% of the mass, Gini, entropy, spread) per source;
- alignment of each machine map with the human map: Spearman rho, rho / the human split-half
  ceiling, IoU-over-thresholds AUC and earth mover's distance;

then summarises them: means with bootstrap 95% CIs over stimuli and, where participants are
known, over participants (human maps rebuilt from resampled participants), and paired Wilcoxon
tests human vs each machine with effect sizes; next to them, every machine's controls
(`controls`) and the baselines (`baselines`). Outputs: ``per_stimulus.csv``, ``summary.json``,
``maps.npz``, figures and ``report.html``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import metrics
from .attribution import AttributionSettings, cfgdm_maps, classifier_maps, ink_share
from .clicks import ClicksError, load_clicks
from .baselines import baseline_alignment, summarise_baselines
from .brush import resolve_radius
from .controls import machine_controls, summarise_controls
from .maps import blur_normalize, count_map, human_map, prepare_map, resize_map, rounds_by_stimulus
from .matched_sampling import matched_rounds
from .reliability import split_half
from .stats import bootstrap_ci, paired_test
from .stimuli import Stimulus, at_size, load_stimuli

SOURCES = ("human", "classifier", "cfgdm")
SHAPE_METRICS = ("feature_count", "area_fraction", "gini", "entropy", "spread")
ALIGNMENT_METRICS = ("spearman", "rho_over_ceiling", "iou_auc", "emd")
PARTICIPANT_BOOT_BYTES = 512 * 1024 ** 2  # skip the participant bootstrap above this much memory


@dataclass
class CompareOptions:
    """Everything that changes the numbers; saved into ``summary.json``."""

    mass: float = 0.5  # p for feature count and area fraction
    sigma: float | None = None  # blur in canvas pixels; None = 3% of the canvas
    radius: float | None = None  # brush radius in canvas pixels; None = the game's
    min_points_per_round: int = 1
    min_rounds: int = 4
    n_boot: int = 2000
    n_participant_boot: int = 200
    n_splits: int = 50
    seed: int = 0
    control_stimuli: int = 60  # random-weights/seed/method controls on this many stimuli (0 = all)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)

    @classmethod
    def quick(cls, seed: int = 0) -> "CompareOptions":
        return cls(n_boot=200, n_participant_boot=20, n_splits=10, seed=seed,
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
                 classifier=None, cfgdm=None, radius: float | None = None
                 ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], list[Machine]]:
    """Prepared machine maps ``{source: {stimulus: map}}``, notes on how they were made, and the
    computed machines (for the controls).

    Maps get the human maps' geometry (`prepare_map` with the brush ``radius``); the notes give
    each source's share of |attribution| on ink next to the ink's share of the canvas.
    """
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
                target_from[name] = "top-1 guess"

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
        notes["cfgdm"] = {"method": cfgdm_method, "steps": cfgdm.meta.get("steps"),
                          "held_out_categories": len(cfgdm.meta.get("test_categories", [])),
                          "states": f"guided DDIM trajectories from the exemplar (gamma {settings.gamma}, "
                                    f"{settings.sampling_steps} steps, {settings.n_noise} seeds), states at "
                                    f"{list(settings.timesteps)} of T"}
    for machine in machines:
        out[machine.source] = {n: prepare_map(m, width, height, options.sigma, radius)
                               for n, m in zip(names, machine.raw)}
        on_ink, ink_area = ink_share(machine.raw, images)
        notes[machine.source].update(ink_share=on_ink, ink_area=ink_area)
    notes["attribution_settings"] = {k: v for k, v in vars(settings).items()}
    return out, notes, machines


# --- per-stimulus metrics --------------------------------------------------------------------

def shape_metrics(m: np.ndarray, drawing: np.ndarray, mass: float) -> dict[str, float]:
    return {"feature_count": float(metrics.feature_count(m, mass)),
            "area_fraction": metrics.area_fraction(m, mass),
            "gini": metrics.gini(m), "entropy": metrics.entropy(m),
            "spread": metrics.spread(m, drawing)}


def alignment_metrics(human: np.ndarray, machine: np.ndarray, ceiling: float | None) -> dict[str, float]:
    rho = metrics.spearman(human, machine)
    usable = ceiling is not None and np.isfinite(ceiling) and ceiling > 0
    return {"spearman": rho, "rho_over_ceiling": rho / ceiling if usable else float("nan"),
            "iou_auc": metrics.iou_auc(human, machine), "emd": metrics.emd(human, machine)}


# --- participant bootstrap -------------------------------------------------------------------

def participant_bootstrap(clicks: pd.DataFrame, names: list[str], width: int, height: int, radius: float,
                          machine: dict[str, dict[str, np.ndarray]], drawings: dict[str, np.ndarray],
                          options: CompareOptions) -> dict[str, dict[str, list[float]]] | None:
    """95% basic-bootstrap CIs of stimulus-mean human metrics and alignments, resampling participants.

    Each participant's counted footprints are kept per stimulus; a resample adds them with the
    participant's multiplicity, then blurs and measures as usual. None when participants are
    unknown, fewer than 3, or the count maps would not fit in `PARTICIPANT_BOOT_BYTES`.
    """
    if "participant" not in clicks.columns:
        return None
    people = sorted(clicks["participant"].unique())
    if len(people) < 3 or len(people) * len(names) * width * height * 8 > PARTICIPANT_BOOT_BYTES:
        return None
    index = {p: i for i, p in enumerate(people)}
    counts = np.zeros((len(names), len(people), height, width))
    for s, name in enumerate(names):
        subset = clicks[clicks["stimulus"] == name]
        for person, rows in subset.groupby("participant"):
            rounds = [g[["x", "y"]].to_numpy(np.float64) for _, g in rows.groupby("trial")
                      if len(g) >= options.min_points_per_round]
            if rounds:
                counts[s, index[person]] = count_map(rounds, width, height, radius)
    def stimulus_means(weights: np.ndarray) -> dict[str, float]:
        values: dict[str, list[float]] = {}
        for s, name in enumerate(names):
            raw = np.tensordot(weights, counts[s], axes=1)
            if raw.sum() == 0:
                continue
            human = blur_normalize(raw, options.sigma)
            for key, value in shape_metrics(human, drawings[name], options.mass).items():
                values.setdefault(f"human.{key}", []).append(value)
            for source, maps in machine.items():
                values.setdefault(f"{source}.spearman", []).append(metrics.spearman(human, maps[name]))
        return {key: float(np.nanmean(v)) for key, v in values.items()}

    estimate = stimulus_means(np.ones(len(people)))
    rng = np.random.default_rng(options.seed)
    draws: dict[str, list[float]] = {}
    for _ in range(options.n_participant_boot):
        weights = np.bincount(rng.integers(0, len(people), len(people)), minlength=len(people)).astype(float)
        for key, value in stimulus_means(weights).items():
            draws.setdefault(key, []).append(value)
    # Basic (pivotal) interval: a resample repeats some participants, which makes its maps
    # sparser and shifts the bootstrap distribution; reflecting about the estimate cancels that.
    return {key: [2 * estimate[key] - float(np.nanquantile(v, 0.975)), 2 * estimate[key] - float(np.nanquantile(v, 0.025))]
            for key, v in draws.items()}


# --- the whole comparison --------------------------------------------------------------------

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
    machine, notes, machines = machine_maps(names, stimuli, width, height, [s for s in sources if s != "human"],
                                            options, radius=radius, **machine_kwargs)
    maps.update(machine)
    for m in machines:  # the same players' rounds, brushed where the machine says
        maps[f"{m.source}_matched"] = {
            n: human_map(matched_rounds(resize_map(np.abs(m.raw[i]), width, height), rounds[n], radius,
                                        options.seed + i), width, height, radius, options.sigma)
            for i, n in enumerate(tqdm(names, desc=f"{m.source} matched sampling"))}

    progress("controls and baselines")
    human = [maps["human"][n] for n in names]
    ink = np.stack([at_size(stimuli[n].pixels, 28, 28) > 0 for n in names])

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
    for i, name in enumerate(tqdm(names, desc="metrics")):
        row: dict[str, Any] = {"stimulus": name, "category": stimuli[name].category, "n_rounds": len(rounds[name]),
                               "n_points": int(sum(len(r) for r in rounds[name])), "ceiling": ceilings[name]}
        for source in maps:
            for key, value in shape_metrics(maps[source][name], canvas_images[name], options.mass).items():
                row[f"{source}.{key}"] = value
        for source in maps:
            if source != "human":
                for key, value in alignment_metrics(maps["human"][name], maps[source][name], ceilings[name]).items():
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
    boot = participant_bootstrap(clicks[clicks["stimulus"].isin(names)], names, width, height, radius,
                                 machine, canvas_images, options)
    summary["participant_ci"] = boot
    summary["controls"] = {source: {**summarise_controls(values, options.n_boot, options.seed),
                                    "stimuli": [names[i] for i in picked]} for source, values in controls.items()}
    summary["baselines"] = summarise_baselines(base, options.n_boot, options.seed)
    summary["matched_sampling"] = {f"{m.source}_matched": f"simulated players brushing the {m.source} map with "
                                                         "each human round's points and step lengths"
                                   for m in machines}
    summary.update(n_stimuli=len(names), canvas=[width, height], radius_px=radius, radius=radius_info,
                   sigma_px=options.sigma if options.sigma is not None else 0.03 * max(width, height),
                   stimuli_without_drawing=missing, machines=notes,
                   n_participants=int(clicks["participant"].nunique()) if "participant" in clicks.columns else None,
                   options={k: v for k, v in vars(options).items() if k != "attribution"})
    return Comparison({n: stimuli[n] for n in names}, canvas_images, maps, table, summary)


def summarise(table: pd.DataFrame, sources: list[str], options: CompareOptions) -> dict[str, Any]:
    """Per source: mean and stimulus-bootstrap CI of every metric; paired tests human vs machines."""
    out: dict[str, Any] = {"sources": {}, "tests": {}, "mass": options.mass}
    for source in sources:
        entry = {}
        for key in SHAPE_METRICS + (ALIGNMENT_METRICS if source != "human" else ()):
            column = f"{source}.{key}"
            if column in table:
                entry[key] = bootstrap_ci(table[column], None, options.n_boot, seed=options.seed)
        out["sources"][source] = entry
    ceiling = table["ceiling"].astype(float)
    out["human_ceiling"] = bootstrap_ci(ceiling, None, options.n_boot, seed=options.seed)
    for source in sources:
        if source == "human":
            continue
        out["tests"][source] = {key: paired_test(table[f"human.{key}"], table[f"{source}.{key}"])
                                for key in SHAPE_METRICS}
    return out


def run_compare(clicks_path: str | Path, stimuli_path: str | Path, canvas: tuple[int, int], out: Path,
                classifier_weights: str | None = None, cfgdm_weights: str | None = None,
                classifier_method: str = "integrated_gradients", cfgdm_method: str = "integrated_gradients",
                quick: bool = False, seed: int = 0, sources: str | list[str] = "human,classifier,cfgdm",
                overrides: dict[str, Any] | None = None, progress: Callable[[str], None] = print,
                rounds_path: str | Path | None = None, batch_size: int | None = None) -> dict[str, Any]:
    """The CLI's work: load, compare, and write CSV, JSON, maps, figures and the HTML report.

    ``overrides`` sets `CompareOptions` fields (None values keep the defaults); ``rounds_path`` is
    the game's rounds.csv (the brush each round used); ``batch_size`` caps the model inputs per
    forward pass (peak memory).
    """
    from .plots import save_figures
    from .report import write_report

    width, height = canvas
    clicks = load_clicks(clicks_path, width, height)
    stimuli = load_stimuli(stimuli_path)
    options = CompareOptions.quick(seed) if quick else CompareOptions(seed=seed)
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(options, key, value)
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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "per_stimulus.csv", index=False)
    (out / "summary.json").write_text(json.dumps(jsonable(result.summary), indent=2) + "\n")
    np.savez_compressed(out / "maps.npz", **{f"{source}/{name}": m for source, by in result.maps.items()
                                             for name, m in by.items()})
    figures = save_figures(result, out)
    write_report(result, out, figures, {"clicks": str(clicks_path), "stimuli": str(stimuli_path)})
    return result.summary


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
