"""Command line: ``python -m analysis <command>``.

- ``reliability --clicks FILE --canvas W[xH]``: per-stimulus reliability to a CSV; the last line
  printed is a JSON summary (``ceiling``, ``floor``, ``n_stimuli``, ...).
- ``compare --clicks FILE --stimuli PATH --canvas W[xH] --out DIR``: human vs machine maps,
  metrics, statistics, figures and an HTML report.
- ``confirm --plan PLAN --clicks CSV --stimuli DIR --out DIR``: run a pre-registered plan (every
  setting and claim, e.g. ``analysis/plans/clickme_quickdraw.toml``) on an export; writes
  ``confirm.json`` with each claim's estimate, CI, p and verdict, and a one-page report.
- ``originality [--dataset quickdraw|omniglot] [--gammas 0,1,2,4] --out DIR``: originality vs
  recognizability of one-shot samples (CFGDM, baseline generator, human reference) on held-out
  categories, with generalization curves.
- ``real-vs-generated [--gamma 1] --out DIR``: how well a CNN tells real drawings from CFGDM
  samples, in full and with low-/high-pass frequency ablations.
- ``imitation --generator cfgdm|pipeline|folder --encoder critic|clip --out DIR``: can an encoder
  tell which identity (artist name, exemplar) a generated image imitates? (Casper et al. 2023)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .clicks import ClicksError, load_checked, parse_canvas


def _reliability(args: argparse.Namespace) -> int:
    from .reliability import reliability_table

    from .brush import parse_brush

    width, height = parse_canvas(args.canvas)
    brush = parse_brush(args.brush) if args.brush else None
    if brush is not None and args.radius is not None:
        raise ClicksError("give --brush or --radius, not both")
    ink = None
    if args.stimuli:  # straight rounds along the drawing's strokes are brushing (analysis.clicks)
        from .clicks import read_clicks_csv
        from .ink import stimulus_ink
        from .stimuli import load_stimuli

        ink = stimulus_ink(load_stimuli(args.stimuli), read_clicks_csv(args.clicks), width, height,
                           brush.reach if brush else args.radius, args.rounds)
    clicks, check = load_checked(args.clicks, width, height, strict=args.strict, keep_repeats=args.keep_repeats,
                                 keep_non_brushing=args.keep_non_brushing, ink=ink)
    print("\n".join(check.lines()))
    table, summary = reliability_table(clicks, width, height, radius=args.radius, n_splits=args.splits,
                                       seed=args.seed, sigma=args.sigma, rounds_path=args.rounds,
                                       min_points_per_round=args.min_points, min_rounds=args.min_rounds,
                                       brush=brush)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    check_path = out.with_name(out.stem + ".data_check.json")
    check_path.write_text(json.dumps(check.as_dict(), indent=2) + "\n")
    print(f"per-stimulus reliability of {len(table)} stimuli -> {out}; data check -> {check_path}")
    summary["data_check"] = {k: v for k, v in check.as_dict().items() if k != "notes"}
    print(json.dumps(summary))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import run_compare

    width, height = parse_canvas(args.canvas)
    summary = run_compare(args.clicks, args.stimuli, (width, height), Path(args.out),
                          classifier_weights=args.classifier_weights, cfgdm_weights=args.cfgdm_weights,
                          classifier_method=args.classifier_method, cfgdm_method=args.cfgdm_method,
                          quick=args.quick, seed=args.seed, sources=args.sources,
                          strict=args.strict, keep_repeats=args.keep_repeats,
                          keep_non_brushing=args.keep_non_brushing, categories=args.categories,
                          simulated=args.simulated, rounds_path=args.rounds, batch_size=args.batch_size,
                          overrides={"min_rounds": args.min_rounds, "min_points_per_round": args.min_points,
                                     "sigma": args.sigma, "radius": args.radius, "mass": args.mass,
                                     "control_stimuli": args.control_stimuli})
    print(f"wrote {args.out}/per_stimulus.csv, summary.json, data_check.json, figures and report.html")
    print(json.dumps({"sources": list(summary["sources"]), "n_stimuli": summary["n_stimuli"]}))
    return 0


def _confirm(args: argparse.Namespace) -> int:
    import torch

    from .confirm import confirm_main

    if args.threads:
        torch.set_num_threads(args.threads)
    record = confirm_main(args.plan, args.clicks, args.stimuli, args.out, args.categories, args.device)
    print(f"wrote {args.out}/confirm.json, per_stimulus.csv, fig5.png and report.html "
          f"({record['seconds']['total']:.0f} s)")
    print(json.dumps({"n_stimuli": record["n_stimuli"], "seconds": record["seconds"]["total"],
                      "claims": {c["name"]: c["holds"] for c in record["claims"]}}))
    return 0


def _originality(args: argparse.Namespace) -> int:
    from models.critic import load_critic

    from .studies.originality import run

    cfgdm, gammas = None, []
    if args.dataset == "quickdraw" and args.gammas:
        from models.cfgdm import OneShotCFGDM

        gammas = [float(g) for g in args.gammas.split(",")]
        cfgdm = OneShotCFGDM.from_pretrained(args.cfgdm_weights)
    if args.way < 2:
        raise ValueError("--way must be at least 2")
    critic = load_critic(args.critic or args.dataset)
    record = run(args.dataset, Path(args.out), critic, cfgdm, gammas, args.samples, args.humans, args.way,
                 args.categories, args.steps, args.seed, n_boot=200 if args.quick else 2000, sampler=args.sampler)
    for note in record["notes"]:
        print(note)
    for row in record["sources"]:
        print(f"{row['name']:<30} originality {row['originality']:.3f} [{row['originality_lo']:.3f}, "
              f"{row['originality_hi']:.3f}]  recognizability {row['recognizability']:.3f} "
              f"[{row['recognizability_lo']:.3f}, {row['recognizability_hi']:.3f}]")
    print(f"wrote {args.out}/summary.json, originality_recognizability.csv, generalization_curves.csv, "
          "per_sample.csv and plots")
    print(json.dumps({"dataset": record["dataset"], "chance": record["chance"], "n_categories": record["n_categories"],
                      "sources": [{k: row[k] for k in ("name", "originality", "recognizability")}
                                  for row in record["sources"]]}, ensure_ascii=False))
    return 0


def _real_vs_generated(args: argparse.Namespace) -> int:
    from models.cfgdm import SAMPLER_STEPS, OneShotCFGDM

    from .compare import jsonable
    from .studies.originality import cfgdm_generator, load_heldout
    from .studies.real_vs_generated import distinguishability, generate_set, plot

    real, categories = load_heldout(args.heldout, args.categories)
    real = real[:, :args.per_category]
    model = OneShotCFGDM.from_pretrained(args.cfgdm_weights)
    generated = generate_set(cfgdm_generator(model, args.steps, args.sampler), real, args.gamma, args.seed)
    test = np.random.default_rng(args.seed).permutation(len(categories))[:max(1, len(categories) // 4)]
    table = distinguishability(real, generated, test, epochs=args.epochs, seed=args.seed,
                               n_boot=200 if args.quick else 2000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "distinguishability.csv", index=False)
    plot(table, out / "distinguishability.png")
    print(table.round(4).to_string(index=False))
    print(json.dumps(jsonable({"gamma": args.gamma, "sampler": args.sampler,
                               "steps": args.steps or SAMPLER_STEPS[args.sampler],
                               "test_categories": [categories[i] for i in sorted(test)],
                               "bands": table.to_dict(orient="records")})))
    return 0


def _imitation(args: argparse.Namespace) -> int:
    import time

    from .compare import jsonable
    from .studies.imitation import audit, write_outputs
    from .studies.imitation_setup import build_audit

    started = time.perf_counter()
    setup = build_audit(args)
    result = audit(setup.imitator, setup.encoder, args.samples, identify_by=setup.identify_by,
                   template=args.template, exemplars=setup.exemplars, real_works=setup.real_works,
                   seed=args.seed, n_boot=200 if args.quick else 2000)
    result.summary.update(setup.description, seconds=round(time.perf_counter() - started, 1))
    write_outputs(result, Path(args.out))
    print(result.per_identity.round(3).to_string(index=False))
    print(f"wrote {args.out}/per_identity.csv, predictions.csv, summary.json and imitation.png")
    print(json.dumps(jsonable(result.summary)))
    return 0


def _ingestion_options(parser: argparse.ArgumentParser) -> None:
    """The options of the clicks ingestion rule (`analysis.clicks`), shared by every command."""
    parser.add_argument("--strict", action="store_true",
                        help="refuse off-canvas, non-finite or repeated rounds instead of clipping/dropping them")
    parser.add_argument("--keep-repeats", action="store_true",
                        help="keep rounds that exactly repeat an earlier round of the same stimulus")


def _non_brushing_option(parser: argparse.ArgumentParser) -> None:
    """Keep the rounds the ingestion rule finds are not brushing (`analysis.clicks.NON_BRUSHING_RULE`)."""
    parser.add_argument("--keep-non-brushing", action="store_true",
                        help="keep rounds that are not brushing (fewer than 3 points, or a straight line off the "
                             "drawing's ink); by default they are dropped and counted in the data check")


def _sampler_options(parser: argparse.ArgumentParser) -> None:
    """How the CFGDM samples (`OneShotCFGDM.sample`), shared by the studies that draw from it."""
    parser.add_argument("--sampler", choices=("ddpm", "ddim"), default="ddpm",
                        help="CFGDM sampler (default ddpm: ancestral sampling draws clean lines; ddim is faster)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default 250 for ddpm, 25 for ddim)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("reliability", help="split-half reliability of human maps")
    rel.add_argument("--clicks", required=True, help="clicks CSV (stimulus, trial|round, x, y[, participant, t_ms])")
    rel.add_argument("--canvas", required=True, help="W or WxH of the stimuli's pixel frame")
    rel.add_argument("--out", default="out/reliability_per_stimulus.csv", help="per-stimulus CSV (default %(default)s)")
    rel.add_argument("--radius", type=float, default=None,
                     help="brush radius in pixels (default: the rounds' own from --rounds, else the legacy "
                          "ClickMe brush, 14 px at 256 px, scaled; the same rule as compare)")
    rel.add_argument("--rounds", default=None, help="the game's rounds.csv export: each round's brush radius")
    rel.add_argument("--brush", default=None, metavar="square:SIDE|disc:RADIUS",
                     help="the brush in canvas pixels instead of the disc of --radius/--rounds, e.g. square:14 at "
                          "--canvas 256 for the original ClickMe game's reveal")
    rel.add_argument("--sigma", type=float, default=None, help="blur sigma in pixels (default 3%% of the canvas)")
    rel.add_argument("--splits", type=int, default=50)
    rel.add_argument("--seed", type=int, default=0)
    rel.add_argument("--min-points", type=int, default=1, help="drop rounds with fewer points")
    rel.add_argument("--min-rounds", type=int, default=4, help="drop stimuli with fewer rounds")
    rel.add_argument("--stimuli", default=None,
                     help="the drawings (as for compare): a straight round along a drawing's ink is then kept as "
                          "brushing; without them every straight round counts as not brushing")
    _ingestion_options(rel)
    _non_brushing_option(rel)
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
    cmp_.add_argument("--simulated", action="store_true",
                      help="the clicks are simulated, not human data (stated in the report's header)")
    cmp_.add_argument("--categories", default=None,
                      help="CSV stimulus,category: the category of each stimulus (overrides names like cat-001)")
    _ingestion_options(cmp_)
    _non_brushing_option(cmp_)
    cmp_.set_defaults(func=_compare)

    con = sub.add_parser("confirm", help="run a pre-registered plan (settings and claims) on an export")
    con.add_argument("--plan", required=True, help="plan TOML, e.g. analysis/plans/clickme_quickdraw.toml")
    con.add_argument("--clicks", required=True, help="the export's clicks CSV, read as it is")
    con.add_argument("--stimuli", required=True, help="folder of <stimulus>.png|jpg (or any stimuli the game reads)")
    con.add_argument("--categories", default=None, help="CSV stimulus,category (default: the clicks' category column)")
    con.add_argument("--out", required=True, help="folder for confirm.json, per_stimulus.csv, fig5.png, report.html")
    con.add_argument("--device", choices=("cpu", "cuda"), default=None,
                     help="where attribution runs (default: cuda when present, else cpu)")
    con.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    con.set_defaults(func=_confirm)

    ori = sub.add_parser("originality", help="originality vs recognizability of one-shot samples (Boutin et al. 2022)")
    ori.add_argument("--dataset", choices=("quickdraw", "omniglot"), default="quickdraw")
    ori.add_argument("--out", default="out/originality")
    ori.add_argument("--categories", type=int, default=None,
                     help="only the first N held-out categories (quickdraw) or benchmark runs (omniglot)")
    ori.add_argument("--critic", default=None, help="critic name or folder (default: the data set's shipped critic)")
    ori.add_argument("--cfgdm-weights", default=None)
    ori.add_argument("--gammas", default="0,0.5,1,2,4", help="CFGDM guidance scales (quickdraw only; '' for none)")
    ori.add_argument("--samples", type=int, default=5, help="samples per exemplar and source")
    ori.add_argument("--humans", type=int, default=5, help="other people's drawings per category (quickdraw)")
    ori.add_argument("--way", type=int, default=20, help="N of the N-way one-shot recognition trial")
    _sampler_options(ori)
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
    _sampler_options(rvg)
    rvg.add_argument("--epochs", type=int, default=8)
    rvg.add_argument("--quick", action="store_true", help="fewer bootstrap resamples")
    rvg.add_argument("--seed", type=int, default=0)
    rvg.set_defaults(func=_real_vs_generated)

    imi = sub.add_parser("imitation", help="can an encoder tell which identity a generated image imitates?")
    imi.add_argument("--out", default="out/imitation")
    imi.add_argument("--generator", choices=("cfgdm", "people", "pipeline", "folder"), default="cfgdm",
                     help="cfgdm: the one-shot CFGDM on held-out exemplars; people: other people's drawings "
                          "of the exemplars' categories (human reference); pipeline: a diffusers "
                          "text-to-image pipeline; folder: existing images, one subfolder per identity")
    imi.add_argument("--encoder", choices=("critic", "clip"), default="critic")
    imi.add_argument("--identify-by", choices=("text", "exemplar"), default=None,
                     help="references to identify against (default: text for clip, exemplar for critic)")
    imi.add_argument("--identities", default=None,
                     help="comma-separated names, or a text file with one per line (pipeline; optional for folder)")
    imi.add_argument("--template", default="Artwork from {identity}", help="prompt template (default %(default)r)")
    imi.add_argument("--samples", type=int, default=10, help="images per identity (and as many baseline images)")
    imi.add_argument("--real", default=None,
                     help="real works, one subfolder per identity (pipeline/folder); for --identify-by "
                          "exemplar the first image of each subfolder is the exemplar and is not tested")
    imi.add_argument("--heldout", default=None, help="cfgdm: npz of held-out drawings (default data/oneshot/heldout40.npz)")
    imi.add_argument("--categories", type=int, default=None, help="cfgdm: use only the first N categories")
    imi.add_argument("--cfgdm-weights", default=None)
    imi.add_argument("--gamma", type=float, default=1.0, help="cfgdm guidance scale")
    imi.add_argument("--pipeline", default=None, help="pipeline: local folder or hub id for DiffusionPipeline")
    imi.add_argument("--guidance-scale", type=float, default=None, help="pipeline guidance scale (default: the pipeline's)")
    imi.add_argument("--height", type=int, default=None)
    imi.add_argument("--width", type=int, default=None)
    imi.add_argument("--batch-size", type=int, default=8, help="pipeline prompts per call")
    imi.add_argument("--folder", default=None, help="folder: generated images, one subfolder per identity")
    _sampler_options(imi)  # --steps: the pipeline's inference steps too (default 25 there)
    imi.add_argument("--critic-weights", default=None)
    imi.add_argument("--clip", default=None, help="clip: local folder or hub id for CLIPModel/CLIPProcessor")
    imi.add_argument("--device", default=None)
    imi.add_argument("--quick", action="store_true", help="fewer bootstrap resamples")
    imi.add_argument("--seed", type=int, default=0)
    imi.set_defaults(func=_imitation)
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
