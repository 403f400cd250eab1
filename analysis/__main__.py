"""Command line: ``python -m analysis <command>``.

- ``reliability --clicks FILE --canvas W[xH]``: per-stimulus reliability to a CSV; the last line
  printed is a JSON summary (``ceiling``, ``floor``, ``n_stimuli``, ...).
- ``compare --clicks FILE --stimuli PATH --canvas W[xH] --out DIR``: human vs machine maps,
  metrics, statistics, figures and an HTML report.
- ``originality [--gammas 0,1,2,4] --out DIR``: originality vs recognizability of the CFGDM's
  one-shot samples on held-out categories, with the human reference.
- ``real-vs-generated [--gamma 1] --out DIR``: how well a CNN tells real drawings from CFGDM
  samples, in full and with low-/high-pass frequency ablations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .clicks import ClicksError, load_clicks, parse_canvas


def _reliability(args: argparse.Namespace) -> int:
    from .reliability import reliability_table

    width, height = parse_canvas(args.canvas)
    clicks = load_clicks(args.clicks, width, height)
    table, summary = reliability_table(clicks, width, height, radius=args.radius, n_splits=args.splits,
                                       seed=args.seed, sigma=args.sigma,
                                       min_points_per_round=args.min_points, min_rounds=args.min_rounds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"per-stimulus reliability of {len(table)} stimuli -> {out}")
    print(json.dumps(summary))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import run_compare

    width, height = parse_canvas(args.canvas)
    summary = run_compare(args.clicks, args.stimuli, (width, height), Path(args.out),
                          classifier_weights=args.classifier_weights, cfgdm_weights=args.cfgdm_weights,
                          classifier_method=args.classifier_method, cfgdm_method=args.cfgdm_method,
                          quick=args.quick, seed=args.seed, sources=args.sources, rounds_path=args.rounds,
                          batch_size=args.batch_size,
                          overrides={"min_rounds": args.min_rounds, "min_points_per_round": args.min_points,
                                     "sigma": args.sigma, "radius": args.radius, "mass": args.mass,
                                     "control_stimuli": args.control_stimuli})
    print(f"wrote {args.out}/per_stimulus.csv, summary.json, figures and report.html")
    print(json.dumps({"sources": list(summary["sources"]), "n_stimuli": summary["n_stimuli"]}))
    return 0


def _originality(args: argparse.Namespace) -> int:
    from models.cfgdm import OneShotCFGDM

    from .compare import jsonable
    from .studies.originality import cfgdm_generator, load_critic, load_heldout, plot, sweep

    drawings, categories = load_heldout(args.heldout, args.categories)
    critic = load_critic(args.critic_weights)
    model = OneShotCFGDM.from_pretrained(args.cfgdm_weights)
    gammas = [float(g) for g in args.gammas.split(",")]
    summary, per_category = sweep(cfgdm_generator(model, args.steps), critic, drawings, categories, gammas,
                                  args.samples, args.seed, n_boot=200 if args.quick else 2000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "originality_recognizability.csv", index=False)
    per_category.to_csv(out / "per_category.csv", index=False)
    plot(summary, out / "originality_recognizability.png")
    print(summary.round(4).to_string(index=False))
    print(json.dumps(jsonable({"chance": summary.attrs["chance"], "n_categories": len(categories),
                                "points": summary.to_dict(orient="records")})))
    return 0


def _real_vs_generated(args: argparse.Namespace) -> int:
    from models.cfgdm import OneShotCFGDM

    from .compare import jsonable
    from .studies.originality import cfgdm_generator, load_heldout
    from .studies.real_vs_generated import distinguishability, generate_set, plot

    real, categories = load_heldout(args.heldout, args.categories)
    real = real[:, :args.per_category]
    model = OneShotCFGDM.from_pretrained(args.cfgdm_weights)
    generated = generate_set(cfgdm_generator(model, args.steps), real, args.gamma, args.seed)
    test = np.random.default_rng(args.seed).permutation(len(categories))[:max(1, len(categories) // 4)]
    table = distinguishability(real, generated, test, epochs=args.epochs, seed=args.seed,
                               n_boot=200 if args.quick else 2000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "distinguishability.csv", index=False)
    plot(table, out / "distinguishability.png")
    print(table.round(4).to_string(index=False))
    print(json.dumps(jsonable({"gamma": args.gamma, "test_categories": [categories[i] for i in sorted(test)],
                               "bands": table.to_dict(orient="records")})))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("reliability", help="split-half reliability of human maps")
    rel.add_argument("--clicks", required=True, help="clicks CSV (stimulus, trial|round, x, y[, participant, t_ms])")
    rel.add_argument("--canvas", required=True, help="W or WxH of the stimuli's pixel frame")
    rel.add_argument("--out", default="out/reliability_per_stimulus.csv", help="per-stimulus CSV (default %(default)s)")
    rel.add_argument("--radius", type=float, default=None, help="brush radius in pixels (default: the game's)")
    rel.add_argument("--sigma", type=float, default=None, help="blur sigma in pixels (default 3%% of the canvas)")
    rel.add_argument("--splits", type=int, default=50)
    rel.add_argument("--seed", type=int, default=0)
    rel.add_argument("--min-points", type=int, default=1, help="drop rounds with fewer points")
    rel.add_argument("--min-rounds", type=int, default=4, help="drop stimuli with fewer rounds")
    rel.set_defaults(func=_reliability)

    cmp_ = sub.add_parser("compare", help="compare human maps with CFGDM and classifier maps")
    cmp_.add_argument("--clicks", required=True)
    cmp_.add_argument("--stimuli", required=True, help="folder of <stimulus>.png|jpg, a strokes .ndjson, or a set .npz")
    cmp_.add_argument("--canvas", required=True)
    cmp_.add_argument("--out", required=True)
    cmp_.add_argument("--classifier-weights", default=None)
    cmp_.add_argument("--cfgdm-weights", default=None)
    cmp_.add_argument("--classifier-method", default="integrated_gradients")
    cmp_.add_argument("--cfgdm-method", default="integrated_gradients")
    cmp_.add_argument("--sources", default="human,classifier,cfgdm",
                      help="comma-separated map sources to include")
    cmp_.add_argument("--quick", action="store_true", help="small attribution settings (tests, previews)")
    cmp_.add_argument("--min-rounds", type=int, default=None, help="drop stimuli with fewer rounds (default 4)")
    cmp_.add_argument("--min-points", type=int, default=None, help="drop rounds with fewer points (default 1)")
    cmp_.add_argument("--sigma", type=float, default=None, help="blur sigma in pixels (default 3%% of the canvas)")
    cmp_.add_argument("--radius", type=float, default=None,
                      help="brush radius in pixels (default: the rounds' own from --rounds, else the legacy "
                           "ClickMe brush, 14 px at 256 px, scaled)")
    cmp_.add_argument("--control-stimuli", type=int, default=None,
                      help="run the random-weights/seed/method controls on this many random stimuli (default 60; "
                           "0 = all)")
    cmp_.add_argument("--rounds", default=None, help="the game's rounds.csv export: each round's brush radius")
    cmp_.add_argument("--batch-size", type=int, default=None,
                      help="most model inputs per forward pass; bounds peak memory (default 64)")
    cmp_.add_argument("--mass", type=float, default=None,
                      help="share of the map's mass for feature count and area (default 0.5)")
    cmp_.add_argument("--seed", type=int, default=0)
    cmp_.set_defaults(func=_compare)

    ori = sub.add_parser("originality", help="originality vs recognizability of CFGDM samples (Boutin et al. 2022)")
    ori.add_argument("--out", default="out/originality")
    ori.add_argument("--heldout", default=None, help="npz of held-out drawings (default data/oneshot/heldout40.npz)")
    ori.add_argument("--categories", type=int, default=None, help="use only the first N categories")
    ori.add_argument("--cfgdm-weights", default=None)
    ori.add_argument("--critic-weights", default=None)
    ori.add_argument("--gammas", default="0,0.5,1,2,4")
    ori.add_argument("--samples", type=int, default=5, help="samples per exemplar and gamma")
    ori.add_argument("--steps", type=int, default=25, help="DDIM steps")
    ori.add_argument("--quick", action="store_true", help="fewer bootstrap resamples")
    ori.add_argument("--seed", type=int, default=0)
    ori.set_defaults(func=_originality)

    rvg = sub.add_parser("real-vs-generated", help="real vs CFGDM drawings: distinguishability by frequency band")
    rvg.add_argument("--out", default="out/real_vs_generated")
    rvg.add_argument("--heldout", default=None)
    rvg.add_argument("--categories", type=int, default=None, help="use only the first N categories")
    rvg.add_argument("--per-category", type=int, default=25, help="real drawings (and samples) per category")
    rvg.add_argument("--cfgdm-weights", default=None)
    rvg.add_argument("--gamma", type=float, default=1.0)
    rvg.add_argument("--steps", type=int, default=25, help="DDIM steps")
    rvg.add_argument("--epochs", type=int, default=8)
    rvg.add_argument("--quick", action="store_true", help="fewer bootstrap resamples")
    rvg.add_argument("--seed", type=int, default=0)
    rvg.set_defaults(func=_real_vs_generated)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (ClicksError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
