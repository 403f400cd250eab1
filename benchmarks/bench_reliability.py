"""``python -m analysis reliability`` with defaults vs a plain per-split loop, on a 256x256 export.

The workload: the shipped SIMULATED legacy drawings (`data/examples/legacy/drawings.ndjson`)
reused as 250 stimuli, brushed by `analysis.simulate.legacy_export` players (each round stored
2-6 times), de-duplicated by the CLI's ingestion rule — about the size of a real 250-drawing
ClickMe-QuickDraw export. The CLI is timed end to end (reading, data check, split-half with 50
splits, leave-one-out, floor). The baseline is the direct per-split loop: per stimulus and
split, count each half's footprints (`maps.count_map`), blur, pool onto the rank grid and call
`scipy.stats.spearmanr` — timed on a subset of stimuli (its rate extrapolated) and checked equal
to the CLI's split-half values there.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.__main__ import main as analysis_main
from analysis.clicks import ingest
from analysis.maps import blur_normalize, count_map, rounds_by_stimulus
from analysis.metrics import on_grid
from analysis.reliability import spearman_brown
from analysis.simulate import legacy_export, stroke_polylines

REPO = Path(__file__).resolve().parent.parent
SIZE = 256


def workload(n_stimuli: int, seed: int = 0) -> pd.DataFrame:
    lines = (REPO / "data" / "examples" / "legacy" / "drawings.ndjson").read_text().splitlines()
    drawings = [stroke_polylines(json.loads(line)["drawing"], SIZE) for line in lines]
    return legacy_export({f"s{i:03d}": drawings[i % len(drawings)] for i in range(n_stimuli)}, SIZE, seed=seed)


def loop_split_half(rounds: list[np.ndarray], n_splits: int, seed: int, radius: float) -> float:
    """The plain per-split computation, one split at a time, with the CLI's brush radius."""
    rng = np.random.default_rng(seed)
    half = len(rounds) // 2
    rhos = []
    for _ in range(n_splits):
        order = rng.permutation(len(rounds))
        a = blur_normalize(count_map([rounds[i] for i in order[:half]], SIZE, SIZE, radius))
        b = blur_normalize(count_map([rounds[i] for i in order[half:2 * half]], SIZE, SIZE, radius))
        rhos.append(stats.spearmanr(on_grid(a).ravel(), on_grid(b).ravel())[0])
    return spearman_brown(float(np.nanmean(rhos)))


def main(quick: bool = False, device: str = "cpu") -> dict:
    raw = workload(60 if quick else 250)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clicks.csv"
        raw.to_csv(path, index=False)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            assert analysis_main(["reliability", "--clicks", str(path), "--canvas", str(SIZE),
                                  "--out", str(Path(tmp) / "rel.csv")]) == 0
        cli_s = time.perf_counter() - t0
        summary = json.loads(printed.getvalue().strip().splitlines()[-1])
        table = pd.read_csv(Path(tmp) / "rel.csv")
    clicks, _ = ingest(raw, SIZE, SIZE)
    rounds = rounds_by_stimulus(clicks, 1, 4)
    subset = sorted(rounds)[:5 if quick else 15]
    t0 = time.perf_counter()
    loop = {s: loop_split_half(rounds[s], summary["n_splits"], list(table.stimulus).index(s), summary["radius_px"]) for s in subset}
    loop_s_per_stimulus = (time.perf_counter() - t0) / len(subset)
    diff = max(abs(loop[s] - float(table.set_index("stimulus").split_half[s])) for s in subset)
    loop_estimate = loop_s_per_stimulus * summary["n_stimuli"]  # split-half alone, without LOO or floor
    out = {"stimuli": summary["n_stimuli"], "rounds": summary["n_rounds"], "splits": summary["n_splits"],
           "cli_s": round(cli_s, 2), "loop_split_half_s_estimated": round(loop_estimate, 1),
           "loop_stimuli_timed": len(subset), "speedup": round(loop_estimate / cli_s, 1),
           "max_abs_difference": float(f"{diff:.2g}"), "ceiling": summary["ceiling"]}
    print(f"reliability CLI: {summary['n_stimuli']} stimuli, {summary['n_rounds']} rounds, "
          f"{summary['n_splits']} splits at {SIZE}x{SIZE} in {cli_s:.1f} s; per-split loop (split-half only): "
          f"{loop_estimate:.0f} s -> x{loop_estimate / cli_s:.1f}; max |difference| {diff:.2g}")
    return out
