"""Make a SIMULATED messy legacy ClickMe-QuickDraw export (``data/examples/legacy/`` by default).

We do not have the original lab's human click data. This builds data with the same shape and the
same defects, so the analysis' handling of them can be tested and shown: Quick, Draw! drawings at
256x256 whose categories are outside the game's 17, named ``<category index>_<drawing index>``
(``0_0``) with a separate ``categories.csv``; players who brush along the strokes
(`analysis.simulate.stroke_rounds`); and the export's defects (`analysis.simulate.legacy_export`):
each round stored 2-6 times, no participant ids, points just outside the canvas (x = -7e-16),
rounds dragged off an edge, 1-2 point rounds, rows with y == x. **Not human data.**

    .venv/bin/python scripts/make_legacy_example.py                      # 24 stimuli -> data/examples/legacy
    .venv/bin/python scripts/make_legacy_example.py --categories 50 --per-category 5 --out out/legacy_full

Needs ``../shared/data/quickdraw/simplified_strokes`` (``--source``). Seeded (``--seed``, default 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from analysis.simulate import legacy_export, stroke_polylines  # noqa: E402
from models.render import strokes_to_bitmap  # noqa: E402

SIZE = 256


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(REPO.parent / "shared" / "data" / "quickdraw" / "simplified_strokes"))
    parser.add_argument("--categories", type=int, default=8)
    parser.add_argument("--per-category", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "data" / "examples" / "legacy"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source, out = Path(args.source), Path(args.out)
    files = sorted(source.glob("*.ndjson"))
    if len(files) < args.categories:
        parser.error(f"{source}: needs at least {args.categories} simplified-strokes .ndjson files")
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(len(files), size=args.categories, replace=False))
    (out / "stimuli").mkdir(parents=True, exist_ok=True)
    polylines, categories, lines = {}, [], []
    for c, index in enumerate(chosen):
        with files[index].open(encoding="utf-8") as handle:
            items = [json.loads(next(handle)) for _ in range(args.per_category)]
        for k, item in enumerate(items):
            name = f"{c}_{k}"
            Image.fromarray(strokes_to_bitmap(item["drawing"], SIZE), mode="L").save(out / "stimuli" / f"{name}.png")
            polylines[name] = stroke_polylines(item["drawing"], SIZE)
            categories.append((name, item["word"]))
            lines.append(json.dumps({"key_id": name, "word": item["word"], "source_key_id": item["key_id"],
                                     "drawing": item["drawing"]}))
    (out / "drawings.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "categories.csv").write_text("stimulus,category\n" + "".join(f"{n},{w}\n" for n, w in categories))
    clicks = legacy_export(polylines, SIZE, seed=args.seed)
    clicks.to_csv(out / "clicks.csv", index=False)
    print(f"{len(polylines)} stimuli, {clicks.trial.nunique()} rounds, {len(clicks)} points (SIMULATED) -> {out}")


if __name__ == "__main__":
    main()
