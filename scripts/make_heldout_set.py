"""Make ``data/oneshot/heldout40.npz``: the CFGDM's 40 held-out categories, 25 drawings each.

The one-shot studies (`analysis.studies.originality`) need drawings of categories the generator
and the critic never saw; a fresh clone has no ``../shared``, so they are rendered once
(`models.render.strokes_to_bitmap`, 28x28) and shipped. Source: Quick, Draw! simplified strokes
(Google Creative Lab, CC BY 4.0), ``../shared/data/quickdraw/simplified_strokes``; the categories
are ``cfgdm.json``'s ``test_categories`` (seed 0 split of 303).

    .venv/bin/python scripts/make_heldout_set.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from models.oneshot_data import DEFAULT_STROKES  # noqa: E402
from models.render import strokes_to_bitmap  # noqa: E402


def main() -> None:
    categories = json.loads((REPO / "models" / "weights" / "cfgdm" / "cfgdm.json").read_text())["test_categories"]
    images = []
    for category in categories:
        lines = (DEFAULT_STROKES / f"{category}.ndjson").read_text(encoding="utf-8").splitlines()
        images.append([strokes_to_bitmap(json.loads(line)["drawing"]) for line in lines if line.strip()][:25])
    out = REPO / "data" / "oneshot" / "heldout40.npz"
    np.savez_compressed(out, images=np.asarray(images, dtype=np.uint8), categories=np.asarray(categories))
    print(f"{len(categories)} categories x {len(images[0])} drawings -> {out}")


if __name__ == "__main__":
    main()
