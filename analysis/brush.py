"""The brush: what one point reveals (`Brush`), and which radius made the human maps.

`Brush` is the package's one description of a brush's shape and size, for human maps and, as
the same kernel, for machine maps; its geometry is `analysis.maps`' (`round_footprints`,
`square_footprints`) and its reliability `analysis.reliability`'s (`footprint_reliability`).
`LEGACY_CLICKME_SQUARE` is the original ClickMe game's reveal.

Which brush radius made the human maps: the data's own when it is known.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .clicks import ClicksError
from .maps import blur_normalize, human_map, prepare_map, round_footprints, square_footprints, square_kernel

BRUSH_SHAPES = ("square", "disc")

LEGACY_CLICKME_RADIUS_PX = 14.0
LEGACY_CLICKME_CANVAS_PX = 256.0
LEGACY_CLICKME_FRACTION = LEGACY_CLICKME_RADIUS_PX / LEGACY_CLICKME_CANVAS_PX


@dataclass(frozen=True)
class Brush:
    """The plan's brush: what one point reveals, for human maps and, as the same kernel, for
    machine maps (so no source is sharper by construction).

    ``square``: the original ClickMe game's ``size`` x ``size`` px square centred on the point
    (pixel centres within size/2 of it on both axes; ``reveal_size = 14`` in its home.js);
    ``disc``: `analysis.maps`' disc of radius ``size`` (the game of this repository).
    ``reach`` is the distance a point's footprint extends (half the side, or the radius): the
    stroke break of matched sampling and the dilation of the ink region use it.
    """

    shape: str
    size: float

    def __post_init__(self) -> None:
        if self.shape not in BRUSH_SHAPES:
            raise ValueError(f"brush shape must be one of {', '.join(BRUSH_SHAPES)} (got {self.shape!r})")

    def scaled(self, factor: float) -> "Brush":
        return Brush(self.shape, self.size * factor)

    @property
    def side(self) -> int:
        return max(1, int(round(self.size)))

    @property
    def reach(self) -> float:
        return self.side / 2 if self.shape == "square" else float(self.size)

    def footprints(self, rounds: list[np.ndarray], width: int, height: int) -> np.ndarray:
        """Boolean ``[R, H, W]``: the pixels each round revealed."""
        if self.shape == "disc":
            return round_footprints(rounds, width, height, self.size)
        return square_footprints(rounds, width, height, self.side)

    def human_map(self, rounds: list[np.ndarray], width: int, height: int, sigma: float) -> np.ndarray:
        """Rounds' footprints counted (once per round), blurred, normalised: `maps.human_map`'s rule."""
        if self.shape == "disc":
            return human_map(rounds, width, height, self.size, sigma)
        return blur_normalize(self.footprints(rounds, width, height).sum(0).astype(np.float64), sigma)

    def spread(self, unblurred: np.ndarray, sigma: float) -> np.ndarray:
        """A machine (or ink) map on the canvas spread by the same brush and blurred (`compare.spread`):
        `maps.prepare_map` with this brush's kernel (the disc of radius ``size``, or the square)."""
        height, width = np.shape(unblurred)
        if self.shape == "disc":
            return prepare_map(unblurred, width, height, sigma, self.size)
        return prepare_map(unblurred, width, height, sigma, kernel=square_kernel(self.side))

    def reliability(self, rounds: dict[str, list[np.ndarray]], width: int, height: int, sigma: float,
                    n_splits: int, seed: int) -> pd.DataFrame:
        """Per drawing: Spearman-Brown split-half reliability and the cross-drawing floor, by
        `analysis.reliability`'s procedure on this brush's footprints
        (`reliability.footprint_reliability`; columns ``stimulus, n_rounds, split_half, floor``)."""
        from .reliability import footprint_reliability  # reliability imports this module

        prints = ((name, self.footprints(rounds[name], width, height)) for name in sorted(rounds))
        return footprint_reliability(prints, sigma, n_splits, seed)


def parse_brush(text: str) -> Brush:
    """``"square:14"`` or ``"disc:3.5"`` (size in canvas pixels: the square's side, the disc's radius)."""
    shape, _, size = str(text).partition(":")
    try:
        value = float(size)
    except ValueError:
        value = float("nan")
    if shape not in BRUSH_SHAPES or not value > 0:
        raise ClicksError(f"--brush must be square:SIDE or disc:RADIUS with a positive size in pixels (got {text!r})")
    return Brush(shape, value)


#: the original ClickMe game's reveal: a 14 x 14 px square around each point on its 256 x 256
#: images (``reveal_size = 14`` in its home.js); `Brush.scaled` brings it to another canvas
LEGACY_CLICKME_SQUARE = Brush("square", 14)


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
