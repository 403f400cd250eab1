"""``python -m benchmarks confirm_vs_compare [--quick] [--compare-stimuli K]``: the shipped plan's
``confirm`` against today's ``compare``, in the same run, on the real development half.

Both commands run as child processes on ``data/clickme_quickdraw`` (the 125-drawing development
half of ClickMe-QuickDraw) on this machine; each one's wall time, CPU time (user + system) and
peak resident set come from ``os.wait4`` of that child alone.

- ``confirm``: ``python -m analysis confirm --plan analysis/plans/clickme_quickdraw.toml`` on the
  whole half, end to end (the plan's data rules, human/CFGDM/random-twin/matched/baseline maps,
  alignment, claims, sensitivity grid, figure, report).
- ``compare`` (the baseline): ``python -m analysis compare --canvas 256`` with its defaults (full
  attribution settings, controls on up to 60 stimuli, sensitivity grid, and the rounds it always
  kept: ``--keep-non-brushing`` where that option exists). On the whole half it takes far longer
  than 10 minutes, so it runs on the first ``K`` of the stimuli it would analyse (sorted ids,
  default 10) and its time is **scaled linearly** to all of them (stated in the output; its
  controls, capped at 60 stimuli, make the true full run somewhat cheaper than that).

Prints each figure with the ratio compare / confirm and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "clickme_quickdraw"
PLAN = REPO / "analysis" / "plans" / "clickme_quickdraw.toml"


def timed(args: list[str], threads: int) -> dict:
    """Run ``python -m analysis ARGS``; wall s, CPU s and peak RSS (MB) of that child alone."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen([sys.executable, "-m", "analysis", *args], cwd=REPO, env=env, stdout=log,
                                 stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        log.seek(0)
        text = log.read()
    if child.returncode != 0:
        raise RuntimeError(f"python -m analysis {' '.join(args)} exited {child.returncode}:\n{text[-3000:]}")
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_mb": round(usage.ru_maxrss / 1024), "last_line": text.strip().splitlines()[-1]}


def compare_workload(clicks_path: Path, keep_non_brushing: bool) -> list[str]:
    """The stimuli `compare` analyses on this export with its defaults (>= 4 rounds, repeats dropped)."""
    from analysis.clicks import load_checked
    from analysis.maps import rounds_by_stimulus

    kwargs = {"keep_non_brushing": True} if keep_non_brushing else {}
    try:
        clicks, _ = load_checked(clicks_path, 256, 256, **kwargs)
    except TypeError:  # before the non-brushing rule existed every round was kept
        clicks, _ = load_checked(clicks_path, 256, 256)
    return sorted(rounds_by_stimulus(clicks, 1, 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks confirm_vs_compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: confirm on 20 drawings, compare on 3 stimuli (ratios are not meaningful)")
    parser.add_argument("--compare-stimuli", type=int, default=None, help="K: compare's subset (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads of both commands (default 2)")
    parser.add_argument("--data", default=str(DATA), help="folder with clicks.csv and images/")
    parser.add_argument("--keep", default=None, help="keep the outputs in this folder")
    args = parser.parse_args(argv)
    data = Path(args.data)
    k = args.compare_stimuli or (3 if args.quick else 10)
    help_text = subprocess.run([sys.executable, "-m", "analysis", "compare", "--help"], cwd=REPO, capture_output=True,
                               text=True).stdout
    keep_flag = "--keep-non-brushing" in help_text
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="confirm_vs_compare_"))
    out.mkdir(parents=True, exist_ok=True)

    clicks = data / "clicks.csv"
    if args.quick:  # confirm on the drawings of the first 20 stimulus ids
        raw = pd.read_csv(clicks)
        raw[raw.stimulus.isin(sorted(raw.stimulus.unique())[:20])].to_csv(out / "clicks_quick.csv", index=False)
        clicks = out / "clicks_quick.csv"
    confirm = timed(["confirm", "--plan", str(PLAN), "--clicks", str(clicks), "--stimuli", str(data / "images"),
                     "--out", str(out / "confirm"), "--device", "cpu", "--threads", str(args.threads)], args.threads)
    record = json.loads((out / "confirm" / "confirm.json").read_text())

    stimuli = compare_workload(data / "clicks.csv", keep_flag)
    subset = stimuli[:k]
    raw = pd.read_csv(data / "clicks.csv")
    raw[raw.stimulus.isin(subset)].to_csv(out / "clicks_compare.csv", index=False)
    compare = timed(["compare", "--clicks", str(out / "clicks_compare.csv"), "--stimuli", str(data / "images"),
                     "--canvas", "256", "--out", str(out / "compare"), *(["--keep-non-brushing"] if keep_flag else [])],
                    args.threads)
    scale = len(stimuli) / len(subset)
    compare_full_s = compare["wall_s"] * scale
    compare_full_cpu = compare["cpu_s"] * scale
    print(f"confirm (shipped plan): {record['n_stimuli']} drawings with >= 1 genuine round, {len(record['claims'])} "
          f"claims, in {confirm['wall_s']:.0f} s wall ({confirm['cpu_s']:.0f} s CPU), peak {confirm['peak_mb']} MB")
    print(f"compare (defaults{', --keep-non-brushing' if keep_flag else ''}): {len(subset)} of the {len(stimuli)} "
          f"stimuli it analyses in {compare['wall_s']:.0f} s wall ({compare['cpu_s']:.0f} s CPU), peak "
          f"{compare['peak_mb']} MB; scaled linearly to {len(stimuli)}: {compare_full_s:.0f} s wall "
          f"({compare_full_cpu:.0f} s CPU)")
    print(f"ratio compare (scaled) / confirm: x{compare_full_s / confirm['wall_s']:.1f} wall, "
          f"x{compare_full_cpu / confirm['cpu_s']:.1f} CPU; per stimulus x"
          f"{(compare['wall_s'] / len(subset)) / (confirm['wall_s'] / record['n_stimuli']):.1f}")
    print(json.dumps({"benchmark": "confirm_vs_compare", "quick": args.quick, "threads": args.threads,
                      "confirm": {"n_stimuli": record["n_stimuli"], "wall_s": confirm["wall_s"],
                                  "cpu_s": confirm["cpu_s"], "peak_mb": confirm["peak_mb"],
                                  "steps_s": record["seconds"]},
                      "baseline_compare": {"n_stimuli_run": len(subset), "n_stimuli_full": len(stimuli),
                                           "wall_s": compare["wall_s"], "cpu_s": compare["cpu_s"],
                                           "peak_mb": compare["peak_mb"], "scaled_wall_s": round(compare_full_s, 1),
                                           "scaled_cpu_s": round(compare_full_cpu, 1),
                                           "keep_non_brushing": keep_flag},
                      "ratio_wall": round(compare_full_s / confirm["wall_s"], 2),
                      "ratio_cpu": round(compare_full_cpu / confirm["cpu_s"], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
