"""A single self-contained ``report.html`` for a comparison (figures embedded as base64 PNGs).

The header says what a reader must know before any number: quick or full mode, whether the clicks
are simulated, every setting, and what the data check found. Inputs are named by file name only,
so a report can be shared without the author's directory layout.
"""

from __future__ import annotations

import base64
import json
import html
from pathlib import Path
from typing import Any

import pandas as pd

from .clicks import DataCheck
from .compare import ALIGNMENT_METRICS, SHAPE_METRICS, UNKNOWN_TARGET

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}.note{color:#555;font-size:13px}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px}.sim{background:#fde2e2;border:1px solid #d88;padding:6px 10px}"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return html.escape(str(value))


def _ci(entry: dict | None) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    text = f"{_fmt(entry['mean'])} [{_fmt(entry['lo'])}, {_fmt(entry['hi'])}]"
    if entry.get("category_lo") is not None:
        text += f" {{{_fmt(entry['category_lo'])}, {_fmt(entry['category_hi'])}}}"
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _header(s: dict) -> list[str]:
    opts = s.get("options", {})
    inputs = s.get("inputs", {})
    mode = s.get("mode", opts.get("mode", "full"))
    origin = ("<p class='sim'><b>Clicks: SIMULATED</b> — not human data; the numbers show what the pipeline does, "
              "not how people look.</p>") if s.get("simulated_clicks") else (
        "<p class='note'>Clicks: treated as human data (the run was not told they are simulated).</p>")
    settings = [("mode", f"{mode}" + (" (small attribution and resampling settings: a preview)" if mode == "quick" else "")),
                ("canvas", f"{s['canvas'][0]}×{s['canvas'][1]} px"), ("brush radius", f"{_fmt(s['radius_px'])} px"
                                  + (f" ({html.escape(str(s['radius']['source']))}; machine maps get the same "
                                     "brush disc and blur)" if s.get("radius") else "")),
                ("blur σ", f"{_fmt(s['sigma_px'])} px"), ("mass share p", _fmt(s["mass"])),
                ("min points per round", _fmt(opts.get("min_points_per_round"))),
                ("min rounds per stimulus", _fmt(opts.get("min_rounds"))),
                ("split-half splits", _fmt(opts.get("n_splits"))), ("bootstrap resamples", _fmt(opts.get("n_boot"))),
                ("participant jackknife groups", _fmt(opts.get("n_jackknife_groups"))), ("seed", _fmt(opts.get("seed"))),
                ("inputs", ", ".join(html.escape(str(v)) for v in inputs.values() if v) or "–")]
    return [f"<p><b>{s['n_stimuli']} stimuli</b>; participants: {_fmt(s.get('n_participants'))}.</p>", origin,
            _table(["setting", "value"], [[html.escape(k), v] for k, v in settings])]


def _data_check(s: dict) -> list[str]:
    check = s.get("data_check")
    if not check:
        return []
    lines = DataCheck(**check).lines()
    return ["<h2>Data check</h2><p class='note'>The clicks were read by one stated rule "
            "(<code>analysis.clicks</code>); what it changed is counted here and in <code>data_check.json</code>.</p>",
            "<pre>" + html.escape("\n".join(lines)) + "</pre>"]


def _categories(s: dict) -> list[str]:
    notes = s.get("categories", {})
    out = []
    unknown = notes.get("classifier_unknown_category", [])
    if unknown:
        out.append(f"<p class='warn'><b>{len(unknown)} of {s['n_stimuli']} stimuli have a category the classifier "
                   f"does not know</b> ({html.escape(', '.join(notes.get('classifier_unknown_categories', [])[:12]))}"
                   f"{' …' if len(notes.get('classifier_unknown_categories', [])) > 12 else ''}). Their classifier "
                   f"maps explain the classifier's own top-1 guess (marked “{html.escape(UNKNOWN_TARGET)}” in "
                   "per_stimulus.csv), not the category people were shown, so the classifier's numbers are not "
                   "comparable with the humans' for them.</p>")
    if notes.get("stimuli_without_category"):
        out.append(f"<p class='warn'>{len(notes['stimuli_without_category'])} stimuli have no category "
                   "(give <code>--categories FILE</code>); each counts as its own group in the category bootstrap.</p>")
    return out


def write_report(result, out: Path, figures: list[tuple[str, str]]) -> Path:
    """Write ``out/report.html`` and return its path."""
    s = result.summary
    sources = list(s["sources"])
    machines = [src for src in sources if src != "human"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Humans vs machines</title>"
             f"<style>{_STYLE}</style></head><body>", "<h1>Where do people and machines look?</h1>",
             *_header(s), *_data_check(s), *_categories(s),
             f"<p>Human split-half reliability R (Spearman–Brown corrected; mean over stimuli [95% CI]): "
             f"{_ci(s['human_ceiling'])}.</p>",
             "<h2>Feature count and localization</h2>",
             "<p class='note'>Mean over stimuli, [bootstrap 95% CI over stimuli] and {bootstrap 95% CI over "
             "categories}: stimuli of one category are not independent, so the category interval is the honest one "
             f"when categories repeat. Feature count: connected components of the smallest pixel set holding "
             f"{int(100 * s['mass'])}% of the map's mass (pixels tied at the cut are taken together).</p>",
             _table(["source", *SHAPE_METRICS],
                    [[html.escape(src), *[_ci(s["sources"][src].get(k)) for k in SHAPE_METRICS]] for src in sources])]
    if machines:
        parts += ["<h2>Alignment with the human maps</h2>",
                  f"<p class='note'>Chance levels: Spearman ρ 0; IoU-AUC {_fmt(s.get('iou_auc_chance'))} (two unrelated "
                  "maps, ties shared at random); EMD has no fixed chance level (compare the machines).</p>",
                  _table(["machine", *ALIGNMENT_METRICS],
                         [[html.escape(m), *[_ci(s["sources"][m].get(k)) for k in ALIGNMENT_METRICS]] for m in machines]),
                  "<h3>Relative to the noise ceiling</h3>",
                  "<p class='note'>The human map is itself a noisy estimate of where people look: with split-half "
                  "reliability R (Spearman–Brown corrected), its correlation with the true map is at most √R. A model "
                  "map equal to the true map therefore scores ρ ≈ √R, and <b>mean ρ / √(mean R)</b> ≈ 1. The ratio is "
                  "formed on means over stimuli (per-stimulus ratios explode where R is near 0); CIs bootstrap "
                  "stimuli [ ] and categories { }.</p>",
                  _table(["machine", "mean ρ", "mean R", "mean ρ / √mean R"],
                         [[html.escape(m), _fmt(e["mean_rho"]), _fmt(e["mean_reliability"]),
                           _ci({"mean": e["normalised"], **e})] for m, e in s.get("noise_normalised", {}).items()])]
        rows = [[html.escape(m), key, _fmt(t["n"]), _fmt(t["mean_difference"]), _fmt(t["statistic"]), _fmt(t["p"]),
                 _fmt(t.get("p_holm")), html.escape(t.get("conclusion", "")), _fmt(t["rank_biserial"]), _fmt(t["cohens_dz"])]
                for m in machines for key, t in s["tests"][m].items()]
        parts += ["<h2>Human vs machine (paired Wilcoxon signed-rank over stimuli)</h2>",
                  f"<p class='note'>Holm-adjusted over all {len(rows)} tests; conclusion at α = {s.get('alpha', 0.05)}.</p>",
                  _table(["machine", "metric", "n", "mean human − machine", "W", "p", "p (Holm)", "conclusion",
                          "rank-biserial r", "Cohen's d_z"], rows)]
        sens = pd.DataFrame(s.get("sensitivity") or [])
        if len(sens):
            pivot = sens.assign(row=sens["machine"] + " · " + sens["metric"]).pivot(
                index="row", columns="setting", values="conclusion")[list(dict.fromkeys(sens["setting"]))]
            parts += ["<h2>Sensitivity of the conclusions</h2>",
                      "<p class='note'>Each test re-run with half and double the blur σ and brush radius, and mass "
                      "share p = 0.3 and 0.8 (Holm within each setting). A conclusion that changes across a row "
                      "depends on the analysis settings.</p>",
                      _table(["machine · metric", *pivot.columns],
                             [[html.escape(i), *[html.escape(str(v)) for v in r]] for i, r in pivot.iterrows()])]
    categories = pd.DataFrame(s.get("per_category") or [])
    if len(categories):
        cols = ["category", "n_stimuli", "ceiling"] + [c for c in categories.columns
                                                        if c.endswith((".feature_count", ".spearman"))]
        parts += ["<h2>Per category</h2><p class='note'>Means over each category's stimuli (all in "
                  "per_category.csv).</p>",
                  _table(cols, [[html.escape(str(r["category"])), *[_fmt(r[c]) for c in cols[1:]]]
                                for _, r in categories.iterrows()])]
    parts.extend(_machine_checks(s))
    boot = s.get("participant_ci")
    parts.append("<h2>Uncertainty over participants</h2>")
    if boot:
        parts += [f"<p class='note'>95% CI of the stimulus mean over participants: {html.escape(s.get('participant_ci_method', ''))}. "
                  "(A bootstrap with replacement repeats participants, which makes rebuilt maps sparser and shifts "
                  "every map statistic; leaving groups out does not.)</p>",
                  _table(["quantity", "estimate", "95% CI"], [[html.escape(k), _fmt(v["estimate"]), f"[{_fmt(v['lo'])}, {_fmt(v['hi'])}]"]
                                                              for k, v in sorted(boot.items())])]
    else:
        parts.append(f"<p class='warn'>Skipped: {html.escape(s.get('participant_ci_skipped') or 'no participants')}.</p>")
    for title, filename in figures:
        data = base64.b64encode((Path(out) / filename).read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>How the machine maps were made</h2><pre>" +
                 html.escape(_describe(s.get("machines", {}))) + "</pre></body></html>")
    path = Path(out) / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _describe(notes: dict) -> str:
    lines = []
    for source in ("classifier", "cfgdm"):
        if source in notes:
            info = {k: v for k, v in notes[source].items() if k not in ("target", "top1_correct")}
            lines.append(f"{source}: {info}")
    if "attribution_settings" in notes:
        lines.append(f"settings: {notes['attribution_settings']}")
    return "\n".join(lines)


def _machine_checks(s: dict) -> list[str]:
    """Matched sampling, sanity checks (controls) and baselines, as HTML parts (the brush radius and
    where it came from are in the header)."""
    parts = []
    matched = s.get("matched_sampling") or {}
    if matched:
        parts.append("<h2>Matched sampling</h2><p class='note'>Sources ending in <code>_matched</code> are simulated "
                     "players who brush where the machine map says, with each human round's number of points, "
                     "strokes and step lengths, processed by the human-map pipeline: humans and machines compared "
                     "at equal sampling. Their localization is in the tables above.</p>")
    controls = s.get("controls") or {}
    if controls:
        parts.append("<h2>Sanity checks of the machine maps</h2><p class='note'>Alignment = Spearman ρ with the human "
                     "map. Random weights: the same architecture re-initialised; a trained map that aligns no better "
                     "carries no learned signal. Similarity, seed and method agreement: ρ of |map| at 28×28 over the "
                     "drawing's ink.</p>")
        rows = []
        for source, c in controls.items():
            methods = "; ".join(f"{html.escape(k.replace('~', ' vs '))}: {_ci(v)}"
                                for k, v in c.get("methods", {}).items())
            seed = c.get("seed", {}).get("agreement")
            rows.append([html.escape(source), _ci(s["sources"].get(source, {}).get("spearman")),
                         _ci(c["random_weights"]["alignment"]), _ci(c["random_weights"]["similarity"]),
                         html.escape(seed) if isinstance(seed, str) else _ci(seed), methods])
        parts.append(_table(["machine", "alignment (trained)", "alignment (random weights)",
                             "trained vs random", "another seed", "methods"], rows))
    baselines = s.get("baselines") or {}
    if baselines:
        parts.append("<h2>Baselines</h2><p class='note'>What trivial maps reach; a machine map carries "
                     "stimulus-specific signal only above all of them. ρ / √R: the mean ρ relative to the human "
                     "noise ceiling, as for the machines above.</p>")

        def ceiling_ratio(entry: dict | None) -> str:
            return _ci({"mean": entry["normalised"], **entry}) if entry else "–"

        rows = [[html.escape(name), html.escape(b["definition"]), _ci(b["spearman"]),
                 ceiling_ratio(b.get("noise_normalised"))] for name, b in baselines.items()]
        rows += [[html.escape(src), "machine map", _ci(v.get("spearman")),
                  ceiling_ratio(s.get("noise_normalised", {}).get(src))]
                 for src, v in s["sources"].items() if src != "human"]
        parts.append(_table(["map", "what it is", "Spearman ρ with the human map", "ρ / √R"], rows))
    return parts


# --- the confirmation report (python -m analysis confirm) ------------------------------------------

_SOURCE_LABELS = {"human": "people", "cfgdm": "CFGDM", "cfgdm_random": "CFGDM, random weights",
                  "cfgdm_matched": "CFGDM, matched sampling", "cfgdm_random_matched": "CFGDM random, matched sampling",
                  "classifier": "classifier", "classifier_random": "classifier, random weights",
                  "classifier_matched": "classifier, matched sampling",
                  "classifier_random_matched": "classifier random, matched sampling",
                  "ink": "baseline: the drawing's ink", "centre_bias": "baseline: centre bias (other categories)"}


def _interval(lo: Any, hi: Any) -> str:
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def write_confirm_report(record: dict[str, Any], out: Path) -> Path:
    """A one-page ``report.html`` of a `analysis.confirm` run: what was run on what, the claims
    with their verdicts, their sensitivity, the alignment three ways, the shapes and the figure."""
    from .claims import verdict

    plan, rel = record["plan"], record["reliability"]
    check = record["data_check"]
    data = plan["data"]
    head = [f"<!doctype html><html><head><meta charset='utf-8'><title>Confirmation: {html.escape(plan['name'])}</title>"
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>Pre-registered plan <code>{html.escape(plan['path'])}</code> on "
            f"{html.escape(', '.join(str(v) for v in record['inputs'].values() if v))}</h1>",
            f"<p>{html.escape(plan['data_set'])}. Plan written {html.escape(plan['written'])} from "
            f"{html.escape(plan['written_from'])}; no setting is changed for a new export.</p>",
            f"<p><b>{record['n_stimuli']} drawings</b> ({record['n_categories']} categories) with ≥ "
            f"{data['min_genuine_rounds']} genuine rounds. Brush: {record['brush']['shape']} {_fmt(record['brush']['px'])} px, blur σ "
            f"{_fmt(record['sigma_px'])} px, mass share p = {_fmt(record['mass'])}; attribution: "
            f"{html.escape(str(record['machines'].get('cfgdm', {}).get('method')))} on the CFGDM "
            f"(seeds {plan['attribution']['seeds']}, random-weights twin seed {plan['attribution']['random_weights_seed']}); "
            f"{plan['statistics']['n_boot']} bootstrap resamples, seed {plan['statistics']['seed']}. "
            f"Human split-half ceiling {_fmt(rel['ceiling'])} and cross-drawing floor {_fmt(rel['floor'])} on the "
            f"{rel['n_stimuli']} drawings with ≥ {rel['min_rounds']} genuine rounds.</p>"]
    rounds = (f"read {check.get('points_read', 0):,} points in {check.get('rounds_read', 0):,} rounds; "
              f"{check.get('repeated_rounds_dropped', 0):,} exact repeats dropped; "
              f"{check.get('off_canvas_points_dropped', 0):,} off-canvas points dropped, "
              f"{check.get('off_canvas_points_clipped', 0):,} clipped; not brushing: "
              f"{check.get('non_brushing_rounds', '–')} rounds ({check.get('non_brushing_dropped', '–')} dropped; "
              f"{html.escape(json.dumps(check.get('non_brushing_reasons', {})))}); kept {check.get('rounds_kept', 0):,} rounds")
    head.append(f"<p class='note'><b>Data check</b> ({html.escape(check.get('rule', ''))}): {rounds}. "
                f"Not brushing: {html.escape(str(record.get('non_brushing_rule') or ''))}. "
                f"Ink: {html.escape(str(record.get('ink_rule', '')))}</p>")

    claim_rows = [[f"<code>{html.escape(c['name'])}</code><br><span class='note'>{html.escape(c.get('statement', ''))}</span>",
                   f"{html.escape(c['metric'])}: {html.escape(c['a'])} − {html.escape(c['b'])} "
                   f"{'&lt;' if c['direction'] == 'less' else '&gt;'} 0",
                   f"{_fmt(c.get('mean_a'))} / {_fmt(c.get('mean_b'))}",
                   f"{_fmt(c['estimate'])} {_interval(*c['ci'])}", _interval(*c.get('ci_category', [None, None])),
                   _fmt(c["p"]), f"<b>{verdict(c)}</b>", _fmt(c["n_stimuli"])] for c in record["claims"]]
    parts = head + ["<h2>Claims</h2><p class='note'>Paired per drawing: estimate = mean of a − b, 95% bootstrap CI "
                    "over drawings [ ] and over categories; p: two-sided Wilcoxon signed-rank. <b>holds</b>: the "
                    "drawing CI excludes 0 on the claimed side; <b>reversed</b>: it excludes 0 on the other.</p>",
                    _table(["claim", "test", "mean a / mean b", "estimate [CI]", "category CI", "p", "verdict", "n"], claim_rows)]
    sens = pd.DataFrame(record.get("sensitivity") or [])
    if len(sens):
        sens["verdict"] = [verdict(r) for r in sens.to_dict(orient="records")]
        pivot = sens.pivot(index="name", columns="setting", values="verdict")[list(dict.fromkeys(sens["setting"]))]
        parts += ["<h2>Across the sensitivity grid</h2><p class='note'>The shape claims re-judged with the plan's "
                  "other blurs, brush radii and mass shares (and drawing filters).</p>",
                  _table(["claim", *pivot.columns], [[html.escape(i), *[html.escape(str(v)) for v in r]]
                                                     for i, r in pivot.iterrows()])]
    align = record.get("alignment_means") or {}
    verdicts = record.get("verdicts") or {}
    if verdicts:
        parts.append("<p><b>Model signal</b> (<code>analysis.alignment</code>: the machine's ink-conditional "
                     "alignment must beat its random-weights twin's by both CIs on both ink-conditional measures): "
                     + "; ".join(f"{html.escape(m)} <b>{html.escape(v)}</b>" for m, v in verdicts.items()) + ".</p>")
    if align:
        parts += ["<h2>Alignment with the human maps, three ways</h2><p class='note'>Mean over drawings [95% CI "
                  "over drawings] {over categories}. Raw ρ; above the floor: (ρ − floor) / (ceiling − floor); "
                  "ink-conditional: ρ over the drawing's ink dilated by the brush only; partial: ρ controlling for "
                  "the ink and centre-bias maps.</p>",
                  _table(["source", "raw ρ", "above floor", "ink-conditional ρ", "partial ρ"],
                         [[html.escape(_SOURCE_LABELS.get(src, src)),
                           *[_ci(v.get(k)) for k in ("rho_raw", "rho_above_floor", "rho_ink_conditional", "rho_partial")]]
                          for src, v in align.items()])]
    shape = record.get("shape") or {}
    parts += ["<h2>Shape of every map</h2>",
              _table(["source", *SHAPE_METRICS], [[html.escape(_SOURCE_LABELS.get(src, src)), *[_ci(v.get(k)) for k in SHAPE_METRICS]]
                                                  for src, v in shape.items()])]
    figure = Path(out) / record["figure"]["file"]
    if figure.exists():
        data = base64.b64encode(figure.read_bytes()).decode("ascii")
        parts.append(f"<h2>Twelve drawings</h2><p class='note'>Chosen by rule: {html.escape(record['figure']['rule'])}. "
                     "Rows: the drawing, people, the CFGDM, its random-weights twin, the ink.</p>"
                     f"<img alt='drawings and maps' src='data:image/png;base64,{data}'>")
    parts.append(f"<p class='note'>Seconds per step: {html.escape(json.dumps(record.get('seconds', {})))}</p></body></html>")
    path = Path(out) / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
