"""Which brush radius made the human maps: the data's own when it is known.

Human maps are footprints of the brush people actually used, so the analysis must use that
radius (and the machine maps get the same disc, `maps.prepare_map`). In order of precedence:

1. ``--radius`` given explicitly;
2. the game's ``rounds.csv`` export (``--rounds``): each round's ``settings.brush_radius_px``
   (or ``brush_fraction`` x the longer side of ``settings.width/height``), for the rounds in the
   clicks; when rounds differ the median is used and the spread reported;
3. otherwise the legacy ClickMe brush: 14 px on a 256 x 256 canvas, scaled to the canvas'
   longer side (``LEGACY_CLICKME_FRACTION``). Data without stored settings is legacy data: the
   game always exports the settings each round ran with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .clicks import ClicksError

LEGACY_CLICKME_RADIUS_PX = 14.0
LEGACY_CLICKME_CANVAS_PX = 256.0
LEGACY_CLICKME_FRACTION = LEGACY_CLICKME_RADIUS_PX / LEGACY_CLICKME_CANVAS_PX


def _round_radius(settings: str) -> float | None:
    try:
        info = json.loads(settings) if isinstance(settings, str) and settings else {}
    except json.JSONDecodeError:
        return None
    if info.get("brush_radius_px"):
        return float(info["brush_radius_px"])
    if info.get("brush_fraction") and info.get("width") and info.get("height"):
        return float(info["brush_fraction"]) * max(float(info["width"]), float(info["height"]))
    return None


def resolve_radius(clicks: pd.DataFrame, width: int, height: int, radius: float | None = None,
                   rounds_path: str | Path | None = None) -> tuple[float, dict[str, Any]]:
    """``(radius in canvas pixels, {"source", ...})`` by the module docstring's precedence."""
    if radius is not None:
        if not radius > 0:
            raise ClicksError(f"--radius must be positive (got {radius})")
        return float(radius), {"source": "--radius"}
    if rounds_path is not None:
        try:
            rounds = pd.read_csv(rounds_path, dtype={"round": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ClicksError(f"{rounds_path}: cannot read rounds CSV ({exc})") from None
        if not {"round", "settings"} <= set(rounds.columns):
            raise ClicksError(f"{rounds_path}: a rounds.csv export needs columns round and settings")
        used = rounds[rounds["round"].isin(set(clicks["trial"]))]
        radii = np.array([r for r in map(_round_radius, used["settings"]) if r is not None])
        if len(radii):
            return float(np.median(radii)), {"source": f"rounds.csv settings ({len(radii)} rounds)",
                                             "min": float(radii.min()), "max": float(radii.max()),
                                             "rounds_without_radius": int(len(used) - len(radii))}
    legacy = LEGACY_CLICKME_FRACTION * max(width, height)
    return legacy, {"source": f"legacy ClickMe brush ({LEGACY_CLICKME_RADIUS_PX:g} px at "
                              f"{LEGACY_CLICKME_CANVAS_PX:g} px, scaled to the canvas): the data do not say"}
