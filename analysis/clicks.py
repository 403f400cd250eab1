"""Reading click (brush point) tables, whatever produced them.

Two schemes are accepted and normalised to columns ``stimulus, trial, x, y`` (+ ``participant``,
``t_ms`` when present):
- legacy ClickMe-style CSV: ``stimulus, trial, x, y`` with optional ``participant, t_ms``;
- the game's export ``clicks.csv``: ``study, participant, round, stimulus, category,
  point_index, x, y, t_ms`` (``round`` is the trial).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("stimulus", "x", "y")


class ClicksError(ValueError):
    """The clicks file cannot be used (the message says why)."""


def parse_canvas(text: str) -> tuple[int, int]:
    """``"W"`` or ``"WxH"`` -> ``(W, H)``."""
    parts = str(text).lower().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise ClicksError(f"canvas must be W or WxH (got {text!r})") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise ClicksError(f"canvas must be W or WxH with positive sizes (got {text!r})")
    return dims[0], dims[1]


def normalise_clicks(frame: pd.DataFrame, width: int | None = None, height: int | None = None) -> pd.DataFrame:
    """Clicks with ``stimulus, trial, x, y`` (+ ``participant``, ``t_ms``); rows outside the canvas
    or with non-finite coordinates are an error, not silently dropped."""
    df = frame.copy()
    if "trial" not in df.columns and "round" in df.columns:
        df = df.rename(columns={"round": "trial"})
    missing = [c for c in (*REQUIRED, "trial") if c not in df.columns]
    if missing:
        raise ClicksError(f"clicks table lacks column(s) {', '.join(missing)}")
    for col in ("x", "y"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    bad = ~np.isfinite(df[["x", "y"]].to_numpy(np.float64)).all(axis=1)
    if bad.any():
        raise ClicksError(f"{int(bad.sum())} row(s) have missing or non-numeric x/y (first at row {int(np.argmax(bad))})")
    if width is not None and height is not None:
        outside = (df.x < 0) | (df.x > width) | (df.y < 0) | (df.y > height)
        if outside.any():
            raise ClicksError(f"{int(outside.sum())} point(s) lie outside the {width}x{height} canvas")
    df["stimulus"] = df["stimulus"].astype(str)
    df["trial"] = df["trial"].astype(str)
    if "participant" in df.columns:
        df["participant"] = df["participant"].astype(str)
    keep = [c for c in ("stimulus", "trial", "participant", "category", "x", "y", "t_ms", "point_index") if c in df.columns]
    df = df[keep]
    order = ["stimulus", "trial"] + (["point_index"] if "point_index" in df.columns else [])
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def load_clicks(path: str | Path, width: int | None = None, height: int | None = None) -> pd.DataFrame:
    """Read a clicks CSV into the normalised table."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ClicksError(f"{path}: cannot read clicks CSV ({exc})") from None
    return normalise_clicks(frame, width, height)
