"""How well does a map align with the human map, beyond the trivial?

On real ClickMe-QuickDraw data the raw Spearman rho of every machine map with the human maps
(about 0.45) is matched by the drawing's own ink (0.44), by the centre bias (0.43) and by each
machine's random-weights twin: people brush the strokes, near the middle, and so does any map
that is large on the ink. A raw rho therefore says little about what a model learned. This
module reports every source's alignment three ways, each per stimulus and then as a mean with a
stimulus-bootstrap and a category-bootstrap 95% CI (stimuli of one category are not
independent: same shapes, same strokes), and compares sources by *paired* per-stimulus gaps:

1. **raw**: `raw_rho`, Spearman's rho over the whole canvas (what `analysis.compare` reports).
2. **above the floor**: `above_floor`, ``(rho - floor) / (ceiling - floor)``: 0 at what generic
   biases alone give (the cross-stimulus floor), 1 at the human split-half ceiling.
3. **ink-conditional**, two measures that take the trivial part out:
   - `ink_conditional_rho`: rho over the drawing's ink dilated by the brush only, so being
     large on the strokes and small on the blank paper earns nothing; the question is whether
     the map ranks the parts of the drawing like people do.
   - `partial_rho`: rank partial correlation of the human and the machine map controlling for
     the ink map and the centre-bias map: what the two maps share that neither control explains.

Grid: every rank correlation in the package is computed on maps area-averaged to at most
`metrics.RANK_GRID` cells a side (`metrics.on_grid`); so are these, and the human ceiling and
floor they are set against. A region (boolean, canvas pixels) is put on the same grid by
area-averaging its indicator: **a cell is in the region when at least half of its pixels are**
(`REGION_SHARE`). The dilated ink is at least a brush wide, so that loses no stroke, and a cell
mostly of blank paper does not count as ink.

`paired_gap` is the one way two sources are compared: the per-stimulus difference over the
stimuli where both are defined, its mean with both bootstrap CIs, and a paired Wilcoxon p.
`alignment_table` puts it all together, with a verdict per machine: a machine whose
ink-conditional alignment does not beat its random-weights twin "carries no model signal".
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from . import metrics
from .stats import N_BOOT, bootstrap_ci, paired_test

#: a grid cell belongs to a region when at least this share of its pixels do
REGION_SHARE = 0.5
#: fewer region cells than this and the ink-conditional rho is undefined (nan)
MIN_REGION_CELLS = 3
#: a residual this small relative to the centred ranks means the controls explain the map entirely
EXPLAINED = 1e-9
#: a source named ``<machine><TWIN_SUFFIX>`` is that machine's random-weights twin
TWIN_SUFFIX = "_random"
#: sources with these names are baselines, not machines (override with ``baselines=``)
BASELINE_SOURCES = ("ink", "center_bias", "centre_bias", "random")
#: the three ways, as four per-stimulus measures (the ink-conditional way has two)
WAYS = ("raw", "above_floor", "ink_region", "partial")
#: the measures that decide the verdict: both must beat the twin
INK_CONDITIONAL = ("ink_region", "partial")
NO_SIGNAL = "carries no model signal"
BEATS_TWIN = "beats its random-weights twin"
NO_TWIN = "no random-weights twin to compare with"


def _grid(m: np.ndarray) -> np.ndarray:
    return metrics.on_grid(np.asarray(m, np.float64)).ravel()


def region_cells(region: np.ndarray) -> np.ndarray:
    """Boolean cells of ``region`` (canvas pixels) on the rank grid: a cell is in the region when at
    least `REGION_SHARE` of its pixels are. Same pooling as the maps, so cells line up."""
    return _grid(np.asarray(region, bool).astype(np.float64)) >= REGION_SHARE - 1e-12


def raw_rho(human: np.ndarray, machine: np.ndarray) -> float:
    """Spearman's rho over the whole canvas on the package's grid (`metrics.spearman`): the number
    `analysis.compare` reports, kept for continuity; inflated by everything any map large on the
    ink or near the centre shares with the human map."""
    return metrics.spearman(human, machine)


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(metrics.spearman_rows(a[None], b[None])[0])


def ink_conditional_rho(human: np.ndarray, machine: np.ndarray, region: np.ndarray) -> float:
    """Spearman's rho over the cells of ``region`` only (the drawing's ink dilated by the brush).

    Outside the drawing both maps are near zero and inside they are large; over the whole canvas
    that contrast alone gives the ink a rho of 0.44 on real data. Inside the region the contrast
    is gone and a map scores only by ranking the parts of the drawing as people do. Both maps and
    the region are pooled onto the same grid (`region_cells`); nan with fewer than
    `MIN_REGION_CELLS` cells or where either map is constant over them.
    """
    if np.shape(human) != np.shape(machine) or np.shape(human) != np.shape(region):
        raise ValueError("maps and region differ in shape")
    cells = region_cells(region)
    if cells.sum() < MIN_REGION_CELLS:
        return float("nan")
    return _rho(_grid(human)[cells], _grid(machine)[cells])


#: before ranking for the partial rho, values are rounded to this share of the map's largest one
TIE_RESOLUTION = 1e-10


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks of a pooled map, values equal to `TIE_RESOLUTION` of its maximum tied: pooling
    and rescaling round differently in the last bits, and that must not invent an order among the
    near-zero tail values of a blurred map (the ink map x 7 is still the ink map)."""
    v = np.asarray(v, np.float64)
    top = np.abs(v).max() if v.size else 0.0
    if top > 0:
        v = np.round(v / (top * TIE_RESOLUTION)) * TIE_RESOLUTION
    return metrics.average_ranks(v[None])[0]


def _residualiser(controls: Sequence[np.ndarray]) -> np.ndarray:
    """Orthonormal basis ``[cells, k]`` of the intercept and the controls' ranks (rank-deficient
    columns dropped, e.g. a constant control), so ``r - Q @ (Q.T @ r)`` is the least-squares
    residual of ``r`` on them."""
    if not len(controls):
        raise ValueError("partial_rho needs at least one control")
    design = np.column_stack([np.ones_like(controls[0])] + list(controls))
    u, s, _ = np.linalg.svd(design, full_matrices=False)
    keep = s > s.max() * max(design.shape) * np.finfo(np.float64).eps
    return u[:, keep]


def _partial_from_ranks(rh: np.ndarray, rm: np.ndarray, basis: np.ndarray) -> float:
    """Pearson rho of the residuals of two rank vectors on an orthonormal ``basis``."""
    res = []
    for r in (rh, rm):
        centred = r - r.mean()
        scale = np.sqrt((centred * centred).sum())
        if scale == 0:
            return float("nan")  # a constant map: no ranking to correlate
        e = r - basis @ (basis.T @ r)
        norm = np.sqrt((e * e).sum())
        if norm <= EXPLAINED * scale:
            return 0.0  # the controls explain this map entirely: nothing left beyond them
        res.append(e / norm)
    return float(np.clip(res[0] @ res[1], -1.0, 1.0))


def partial_rho(human: np.ndarray, machine: np.ndarray, controls: Sequence[np.ndarray]) -> float:
    """Rank partial correlation of ``human`` and ``machine`` controlling for ``controls`` (the ink
    map and the centre-bias map, on the canvas like the maps).

    The usual Spearman partial correlation (as in pingouin's ``partial_corr(method="spearman")``):
    every map is pooled onto the grid and rank-transformed over its cells; the human ranks and
    the machine ranks are each regressed by least squares on an intercept and the controls'
    ranks; the rho is the Pearson correlation of the two residuals. It asks what the human and
    the machine map share that is not a monotone-linear function of where the ink is and where
    people brush on any drawing. A map the controls explain entirely (e.g. the ink map itself)
    has nothing beyond them and scores 0; a constant map is nan.
    """
    shapes = {np.shape(human), np.shape(machine)} | {np.shape(c) for c in controls}
    if len(shapes) != 1:
        raise ValueError("maps and controls differ in shape")
    basis = _residualiser([_ranks(_grid(c)) for c in controls])
    return _partial_from_ranks(_ranks(_grid(human)), _ranks(_grid(machine)), basis)


def above_floor(rho, floor, ceiling):
    """``(rho - floor) / (ceiling - floor)``: 0 at the cross-stimulus floor (what generic biases
    alone give), 1 at the human split-half ceiling (what another set of people gives).

    Linear in rho, so the mean of per-stimulus values is the value at the mean rho, and CIs and
    paired gaps carry over divided by ``ceiling - floor``. The floor and ceiling are the
    data set's means: per-stimulus ratios explode where a stimulus' ceiling nears its floor.
    NaN (never an error) when any input is not finite or ``ceiling <= floor``; vectorised over
    ``rho``.
    """
    r = np.asarray(rho, np.float64)
    f, c = float(floor) if floor is not None else np.nan, float(ceiling) if ceiling is not None else np.nan
    if not (np.isfinite(f) and np.isfinite(c)) or c <= f:
        out = np.full(r.shape, np.nan)
    else:
        out = (r - f) / (c - f)
    return float(out) if out.ndim == 0 else out


def _align(a, b, categories) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Stimulus names, both value arrays and the category labels, aligned; a and b are either
    mappings ``{stimulus: value}`` (paired on the stimuli in both) or equal-length sequences."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            raise ValueError("give a and b both as mappings or both as sequences")
        names = sorted(set(a) & set(b), key=str)
        va = np.array([a[n] if a[n] is not None else np.nan for n in names], np.float64)
        vb = np.array([b[n] if b[n] is not None else np.nan for n in names], np.float64)
        cats = [categories[n] for n in names] if isinstance(categories, Mapping) else None
        if cats is None:
            raise ValueError("with mappings, give categories as {stimulus: category}")
    else:
        va, vb = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if va.shape != vb.shape or len(categories) != len(va):
            raise ValueError("a, b and categories differ in length")
        names, cats = [str(i) for i in range(len(va))], list(categories)
    return names, va, vb, np.array([str(c) for c in cats], dtype=object)


def paired_gap(a, b, categories, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Paired per-stimulus gap ``a - b`` (e.g. a machine's rho minus its twin's on the same stimulus).

    Sources are compared on the same stimuli only — an unpaired comparison (a machine over 186
    stimuli beside its twin over 60) mixes a difference between sources with one between
    stimulus sets. Over the stimuli where both are finite:

    - ``estimate``: the mean difference;
    - ``ci_stimulus``: percentile bootstrap 95% CI resampling stimuli;
    - ``ci_category``: cluster bootstrap 95% CI resampling whole categories with all their
      stimuli (`stats.bootstrap_ci` with groups): honest when a category's stimuli move together;
    - ``p``: two-sided paired Wilcoxon signed-rank test (`stats.paired_test`; 1.0 when every
      difference is 0); ``n_stimuli``, ``n_categories``.

    ``a``/``b`` are mappings ``{stimulus: value}`` with ``categories`` ``{stimulus: category}``,
    or aligned sequences with a sequence of categories. CIs and p are None with no pairs.
    """
    names, va, vb, cats = _align(a, b, categories)
    ok = np.isfinite(va) & np.isfinite(vb)
    diff, groups = (va - vb)[ok], cats[ok]
    n = int(diff.size)
    result: dict[str, Any] = {"estimate": None, "ci_stimulus": None, "ci_category": None, "p": None,
                              "n_stimuli": n, "n_categories": int(len(set(groups))),
                              "mean_a": float(va[ok].mean()) if n else None,
                              "mean_b": float(vb[ok].mean()) if n else None, "test": "paired Wilcoxon signed-rank"}
    if n == 0:
        return result
    by_stim = bootstrap_ci(diff, None, n_boot, seed=seed)
    by_cat = bootstrap_ci(diff, list(groups), n_boot, seed=seed)
    test = paired_test(va[ok], vb[ok])
    result.update(estimate=float(diff.mean()), ci_stimulus=[by_stim["lo"], by_stim["hi"]],
                  ci_category=[by_cat["lo"], by_cat["hi"]],
                  p=float(test["p"]) if test["p"] is not None else 1.0)
    return result


def _summary(values: Mapping[str, float], categories: Mapping[str, str], n_boot: int, seed: int) -> dict[str, Any]:
    names = [s for s in sorted(values) if np.isfinite(values[s])]
    v = [values[s] for s in names]
    cats = [str(categories[s]) for s in names]
    by_stim = bootstrap_ci(v, None, n_boot, seed=seed)
    by_cat = bootstrap_ci(v, cats, n_boot, seed=seed)
    return {"mean": by_stim["mean"], "ci_stimulus": [by_stim["lo"], by_stim["hi"]] if names else None,
            "ci_category": [by_cat["lo"], by_cat["hi"]] if names else None,
            "n": len(names), "n_categories": len(set(cats))}


def per_stimulus_values(human: Mapping[str, np.ndarray], source: Mapping[str, np.ndarray],
                        regions: Mapping[str, np.ndarray], controls: Mapping[str, Sequence[np.ndarray]],
                        floor: float, ceiling: float) -> dict[str, dict[str, float]]:
    """``{way: {stimulus: value}}`` for one source, over the stimuli it shares with the human maps
    (nan where a way is undefined, e.g. no region or no controls for that stimulus)."""
    out: dict[str, dict[str, float]] = {w: {} for w in WAYS}
    for stim in sorted(set(human) & set(source)):
        h, m = np.asarray(human[stim], np.float64), np.asarray(source[stim], np.float64)
        rho = raw_rho(h, m)
        out["raw"][stim] = rho
        out["above_floor"][stim] = above_floor(rho, floor, ceiling)
        out["ink_region"][stim] = (ink_conditional_rho(h, m, regions[stim]) if stim in regions
                                   else float("nan"))
        out["partial"][stim] = (partial_rho(h, m, controls[stim]) if controls.get(stim) is not None
                                and len(controls[stim]) else float("nan"))
    return out


def _beats(gap: dict[str, Any]) -> bool:
    """The gap is above 0 by both CIs (stimuli and categories)."""
    cis = [gap.get("ci_stimulus"), gap.get("ci_category")]
    return all(ci is not None and ci[0] is not None and ci[0] > 0 for ci in cis)


def alignment_table(human: dict[str, np.ndarray], sources: dict[str, dict[str, np.ndarray]],
                    regions: dict[str, np.ndarray], controls: dict[str, list[np.ndarray]],
                    categories: dict[str, str], floor: float, ceiling: float, n_boot: int = N_BOOT,
                    seed: int = 0, *, twins: Mapping[str, str] | None = None,
                    baselines: Sequence[str] | None = None) -> dict[str, Any]:
    """Every source's alignment with the human maps three ways, the paired gaps, and a verdict.

    ``human``: ``{stimulus: human map}``; ``sources``: ``{source: {stimulus: map}}`` on the same
    canvas (machines, their random-weights twins, baselines such as the ink map and the
    centre-bias map); ``regions``: ``{stimulus: bool ink-dilated-by-brush mask}``; ``controls``:
    ``{stimulus: [ink map, centre-bias map]}``; ``categories``: ``{stimulus: category}``;
    ``floor``/``ceiling``: the human cross-stimulus floor and split-half ceiling (means).

    Roles: ``baselines`` (default: the sources named in `BASELINE_SOURCES`) are baselines; a
    source ``X + TWIN_SUFFIX`` (e.g. ``cfgdm_random``) is the random-weights twin of ``X``
    unless ``twins`` (``{machine: twin}``) says otherwise; every other source is a machine.

    Returns ``{"ways", "region_rule", "floor", "ceiling", "roles", "sources", "gaps", "verdicts",
    "per_stimulus"}``: ``sources[s][way]`` = mean with ``ci_stimulus``, ``ci_category``, ``n``,
    ``n_categories``; ``gaps["A - B"]`` = ``{"a", "b", "kind": "twin" | "baseline", "ways":
    {way: paired_gap}}`` for each machine vs its twin and vs each baseline; ``verdicts[machine]``
    = ``{"verdict", "rule", "gaps"}``. The verdict is `BEATS_TWIN` only when the machine's paired
    gap over its twin is above 0 by both CIs on *both* ink-conditional measures (rho over the
    region and partial rho) — otherwise `NO_SIGNAL`: a model's map is evidence about the model
    only where it does better than the same architecture untrained.
    """
    baselines = [s for s in sources if s in BASELINE_SOURCES] if baselines is None else list(baselines)
    twins = dict(twins) if twins is not None else {
        s: s + TWIN_SUFFIX for s in sources if s + TWIN_SUFFIX in sources and s not in baselines}
    twin_names = set(twins.values())
    machines = [s for s in sources if s not in baselines and s not in twin_names]
    values = {name: per_stimulus_values(human, maps, regions, controls, floor, ceiling)
              for name, maps in sources.items()}
    summaries = {name: {way: _summary(values[name][way], categories, n_boot, seed) for way in WAYS}
                 for name in sources}
    gaps: dict[str, Any] = {}

    def add_gap(a: str, b: str, kind: str) -> str:
        key = f"{a} - {b}"
        gaps[key] = {"a": a, "b": b, "kind": kind,
                     "ways": {way: paired_gap(values[a][way], values[b][way], categories, n_boot, seed)
                              for way in WAYS}}
        return key

    verdicts = {}
    rule = ("beats its random-weights twin when the paired gap (machine - twin) is above 0 by both the "
            "stimulus- and the category-bootstrap 95% CI on both ink-conditional measures (rho over the ink "
            "dilated by the brush; partial rho controlling for ink and centre bias); else carries no model signal")
    for machine in machines:
        twin = twins.get(machine)
        if twin is not None and twin in sources:
            key = add_gap(machine, twin, "twin")
            decisive = {way: gaps[key]["ways"][way] for way in INK_CONDITIONAL}
            verdict = BEATS_TWIN if all(_beats(g) for g in decisive.values()) else NO_SIGNAL
            verdicts[machine] = {"verdict": verdict, "twin": twin, "rule": rule, "gaps": decisive}
        else:
            verdicts[machine] = {"verdict": NO_TWIN, "twin": None, "rule": rule, "gaps": {}}
        for base in baselines:
            add_gap(machine, base, "baseline")
    return {"ways": {"raw": "Spearman rho over the canvas (rank grid)",
                     "above_floor": "(rho - floor) / (ceiling - floor)",
                     "ink_region": "Spearman rho over the ink dilated by the brush",
                     "partial": "rank partial rho controlling for the ink and centre-bias maps"},
            "region_rule": f"a grid cell is in the region when at least {REGION_SHARE:.0%} of its pixels are",
            "rank_grid": metrics.RANK_GRID, "floor": floor, "ceiling": ceiling,
            "roles": {"machines": machines, "twins": twins, "baselines": baselines},
            "sources": summaries, "gaps": gaps, "verdicts": verdicts, "per_stimulus": values}
