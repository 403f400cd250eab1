"""A single self-contained ``report.html`` for a comparison (figures embedded as base64 PNGs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from .compare import ALIGNMENT_METRICS, SHAPE_METRICS

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}.note{color:#555;font-size:13px}"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return html.escape(str(value))


def _ci(entry: dict | None) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    return f"{_fmt(entry['mean'])} [{_fmt(entry['lo'])}, {_fmt(entry['hi'])}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(result, out: Path, figures: list[tuple[str, str]], inputs: dict[str, str]) -> Path:
    """Write ``out/report.html`` and return its path."""
    s = result.summary
    sources = list(s["sources"])
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Humans vs machines</title>"
             f"<style>{_STYLE}</style></head><body>",
             "<h1>Where do people and machines look?</h1>",
             f"<p>{s['n_stimuli']} stimuli, canvas {s['canvas'][0]}×{s['canvas'][1]} px, brush radius "
             f"{_fmt(s['radius_px'])} px, blur σ {_fmt(s['sigma_px'])} px; participants: "
             f"{_fmt(s.get('n_participants'))}. Inputs: {html.escape(inputs.get('clicks', ''))}, "
             f"{html.escape(inputs.get('stimuli', ''))}.</p>",
             f"<p>Human split-half reliability (Spearman–Brown corrected, the ceiling for alignment): "
             f"{_ci(s['human_ceiling'])}.</p>",
             "<h2>Feature count and localization</h2>",
             "<p class='note'>Mean over stimuli with bootstrap 95% CI over stimuli. Feature count: connected "
             f"components of the smallest pixel set holding {int(100 * s['mass'])}% of the map's mass.</p>"]
    parts.append(_table(["source", *SHAPE_METRICS],
                        [[html.escape(src), *[_ci(s["sources"][src].get(k)) for k in SHAPE_METRICS]] for src in sources]))
    machines = [src for src in sources if src != "human"]
    if machines:
        parts.append("<h2>Alignment with the human maps</h2>")
        parts.append(_table(["machine", *ALIGNMENT_METRICS],
                            [[html.escape(m), *[_ci(s["sources"][m].get(k)) for k in ALIGNMENT_METRICS]]
                             for m in machines]))
        parts.append("<h2>Human vs machine (paired Wilcoxon signed-rank over stimuli)</h2>")
        rows = []
        for m in machines:
            for key, test in s["tests"][m].items():
                rows.append([html.escape(m), key, _fmt(test["n"]), _fmt(test["mean_difference"]),
                             _fmt(test["statistic"]), _fmt(test["p"]), _fmt(test["rank_biserial"]),
                             _fmt(test["cohens_dz"])])
        parts.append(_table(["machine", "metric", "n", "mean human − machine", "W", "p", "rank-biserial r",
                             "Cohen's d_z"], rows))
    parts.extend(_machine_checks(s))
    boot = s.get("participant_ci")
    if boot:
        parts.append("<h2>Bootstrap over participants</h2><p class='note'>95% CI of the stimulus mean when "
                     "whole participants are resampled and the human maps rebuilt.</p>")
        parts.append(_table(["quantity", "95% CI"], [[html.escape(k), f"[{_fmt(v[0])}, {_fmt(v[1])}]"]
                                                     for k, v in sorted(boot.items())]))
    for title, filename in figures:
        data = base64.b64encode((Path(out) / filename).read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
    notes = s.get("machines", {})
    parts.append("<h2>How the machine maps were made</h2><pre>" +
                 html.escape(_describe(notes)) + "</pre></body></html>")
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
    """Brush radius, matched sampling, sanity checks (controls) and baselines, as HTML parts."""
    parts = []
    radius = s.get("radius") or {}
    if radius:
        parts.append(f"<p class='note'>Brush radius {_fmt(s['radius_px'])} px, from: "
                     f"{html.escape(str(radius.get('source')))}. "
                     "Machine maps get the same brush disc and blur as the human maps.</p>")
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
                     "stimulus-specific signal only above all of them.</p>")
        rows = [[html.escape(name), html.escape(b["definition"]), _ci(b["spearman"])] for name, b in baselines.items()]
        rows += [[html.escape(src), "machine map", _ci(v.get("spearman"))] for src, v in s["sources"].items()
                 if src != "human"]
        parts.append(_table(["map", "what it is", "Spearman ρ with the human map"], rows))
    return parts
