"""Reading click (brush point) tables, whatever produced them, by one stated ingestion rule.

Two schemes are accepted and normalised to columns ``stimulus, trial, x, y`` (+ ``participant``,
``category``, ``t_ms`` when present):
- legacy ClickMe-style CSV: ``stimulus, trial, x, y`` with optional ``participant, t_ms``;
- the game's export ``clicks.csv``: ``study, participant, round, stimulus, category,
  point_index, x, y, t_ms`` (``round`` is the trial).

Real legacy exports are messy, so `ingest` applies one rule, used by every command, and
counts what it changed in a `DataCheck` (printed and written by the CLI):

1. rows whose x or y is missing or not a finite number are dropped;
2. points at most `CLIP_TOLERANCE` pixels outside the ``W x H`` canvas (float round-off such as
   x = -7e-16, a pointer sliding over the edge) are clipped onto it; points farther out (a
   round dragged off the canvas) are dropped, the round keeps its points on the canvas;
3. a round whose path (the sequence of x, y) equals an earlier round of the same stimulus is an
   exact repeat — legacy exports store snapshots of one round several times — and is dropped,
   keeping the first (``keep_repeats`` keeps them);
4. rounds with only 1-2 points and points exactly on the diagonal x == y (a symptom of an
   export that copied x into y) are counted, not dropped.

``strict`` refuses (`ClicksError`, exit 2 in the CLI) instead of applying rules 1-3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("stimulus", "x", "y")
#: points up to this many pixels outside the canvas are clipped onto it; farther ones are dropped
CLIP_TOLERANCE = 1.0
#: rounds with at most this many points are reported as short
SHORT_ROUND_POINTS = 2


class ClicksError(ValueError):
    """The clicks file cannot be used (the message says why)."""


@dataclass
class DataCheck:
    """What the ingestion rule found and changed; every count refers to the input as read."""

    canvas: list[int]
    rule: str
    points_read: int = 0
    rounds_read: int = 0
    stimuli: int = 0
    nonfinite_points_dropped: int = 0
    off_canvas_points_clipped: int = 0
    off_canvas_points_dropped: int = 0
    rounds_emptied_off_canvas: int = 0
    repeated_rounds: int = 0
    repeated_rounds_dropped: int = 0
    distinct_rounds: int = 0
    short_rounds: int = 0
    diagonal_points: int = 0
    points_kept: int = 0
    rounds_kept: int = 0
    rounds_per_stimulus: dict[str, float] = field(default_factory=dict)
    participant_ids: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable data-check report."""
        rps = self.rounds_per_stimulus
        out = [f"data check ({self.rule})",
               f"  read: {self.points_read:,} points, {self.rounds_read:,} rounds, {self.stimuli:,} stimuli",
               f"  rounds per stimulus (kept): min {rps.get('min', 0):g}, median {rps.get('median', 0):g}, "
               f"max {rps.get('max', 0):g}",
               f"  repeated rounds (same stimulus, same path): {self.repeated_rounds:,} "
               f"({self.distinct_rounds:,} distinct paths); dropped {self.repeated_rounds_dropped:,}",
               f"  off-canvas points: {self.off_canvas_points_clipped:,} clipped (within {CLIP_TOLERANCE:g} px), "
               f"{self.off_canvas_points_dropped:,} dropped; rounds left empty: {self.rounds_emptied_off_canvas:,}",
               f"  non-finite x/y rows dropped: {self.nonfinite_points_dropped:,}",
               f"  rounds with 1-{SHORT_ROUND_POINTS} points: {self.short_rounds:,}; "
               f"points on the diagonal x == y: {self.diagonal_points:,}",
               f"  participant ids: {'yes' if self.participant_ids else 'NO (participant statistics are skipped)'}",
               f"  kept: {self.points_kept:,} points, {self.rounds_kept:,} rounds"]
        out += [f"  note: {n}" for n in self.notes]
        return out


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


def _columns(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.copy()
    if "trial" not in df.columns and "round" in df.columns:
        df = df.rename(columns={"round": "trial"})
    missing = [c for c in (*REQUIRED, "trial") if c not in df.columns]
    if missing:
        raise ClicksError(f"clicks table lacks column(s) {', '.join(missing)}")
    for col in ("x", "y"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in ("stimulus", "trial", "participant", "category"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    keep = [c for c in ("stimulus", "trial", "participant", "category", "x", "y", "t_ms", "point_index")
            if c in df.columns]
    return df[keep]


def _path_keys(df: pd.DataFrame) -> pd.Series:
    """One hash per round (stimulus, trial) of its point sequence, to find exact repeats."""
    hashed = pd.util.hash_pandas_object(df[["x", "y"]], index=False).to_numpy()
    position = df.groupby(["stimulus", "trial"], sort=False).cumcount().to_numpy().astype(np.uint64)
    mixed = pd.Series(hashed * (position * np.uint64(2) + np.uint64(1)), index=df.index)  # order matters
    keys = mixed.groupby([df["stimulus"], df["trial"]], sort=False).agg(["sum", "size"])
    return keys["sum"].astype(str) + ":" + keys["size"].astype(str)


def ingest(frame: pd.DataFrame, width: int, height: int, strict: bool = False,
           keep_repeats: bool = False) -> tuple[pd.DataFrame, DataCheck]:
    """The normalised clicks after the rule in the module docstring, and what it found."""
    df = _columns(frame)
    rule = "strict: refuse off-canvas, non-finite and repeated" if strict else (
        f"clip within {CLIP_TOLERANCE:g} px, drop beyond; drop non-finite; "
        + ("keep repeated rounds" if keep_repeats else "drop repeated rounds"))
    check = DataCheck(canvas=[width, height], rule=rule, points_read=len(df),
                      rounds_read=int(df.groupby(["stimulus", "trial"]).ngroups) if len(df) else 0,
                      stimuli=int(df["stimulus"].nunique()), participant_ids="participant" in df.columns)

    bad = ~np.isfinite(df[["x", "y"]].to_numpy(np.float64)).all(axis=1)
    if bad.any() and strict:
        raise ClicksError(f"{int(bad.sum())} row(s) have missing or non-numeric x/y (first at row {int(np.argmax(bad))})")
    check.nonfinite_points_dropped = int(bad.sum())
    df = df[~bad]

    x, y = df["x"].to_numpy(np.float64), df["y"].to_numpy(np.float64)
    outside = (x < 0) | (x > width) | (y < 0) | (y > height)
    if outside.any() and strict:
        raise ClicksError(f"{int(outside.sum())} point(s) lie outside the {width}x{height} canvas")
    near = (x >= -CLIP_TOLERANCE) & (x <= width + CLIP_TOLERANCE) & (y >= -CLIP_TOLERANCE) & (y <= height + CLIP_TOLERANCE)
    check.off_canvas_points_clipped = int((outside & near).sum())
    check.off_canvas_points_dropped = int((outside & ~near).sum())
    rounds_before = df.groupby(["stimulus", "trial"]).ngroups if len(df) else 0
    df = df.assign(x=np.clip(x, 0, width), y=np.clip(y, 0, height))[~(outside & ~near)]
    check.rounds_emptied_off_canvas = int(rounds_before - (df.groupby(["stimulus", "trial"]).ngroups if len(df) else 0))

    order = ["stimulus", "trial"] + (["point_index"] if "point_index" in df.columns else [])
    df = df.sort_values(order, kind="stable").reset_index(drop=True)
    if len(df):
        keys = _path_keys(df)
        stims = keys.index.get_level_values(0)
        repeat = pd.DataFrame({"s": stims, "k": keys.to_numpy()}).duplicated().to_numpy()
        check.repeated_rounds = int(repeat.sum())
        check.distinct_rounds = int(len(keys) - repeat.sum())
        if check.repeated_rounds and strict:
            raise ClicksError(f"{check.repeated_rounds} round(s) repeat an earlier round of the same stimulus exactly")
        if not keep_repeats and repeat.any():
            dropped = set(zip(stims[repeat], keys.index.get_level_values(1)[repeat]))
            pairs = pd.MultiIndex.from_frame(df[["stimulus", "trial"]])
            df = df[~pairs.isin(list(dropped))].reset_index(drop=True)
            check.repeated_rounds_dropped = check.repeated_rounds
        if check.repeated_rounds:
            check.notes.append(f"{check.repeated_rounds} exact repeats would inflate split-half reliability "
                               "(a round correlates perfectly with its copy)"
                               + ("; they are KEPT (--keep-repeats)" if keep_repeats else ""))
    sizes = df.groupby(["stimulus", "trial"]).size() if len(df) else pd.Series(dtype=int)
    check.short_rounds = int((sizes <= SHORT_ROUND_POINTS).sum())
    check.diagonal_points = int((df["x"] == df["y"]).sum())
    check.points_kept, check.rounds_kept = int(len(df)), int(len(sizes))
    per_stim = sizes.groupby(level=0).size() if len(sizes) else pd.Series([0])
    check.rounds_per_stimulus = {"min": float(per_stim.min()), "median": float(per_stim.median()),
                                 "max": float(per_stim.max())}
    if not check.participant_ids:
        check.notes.append("no participant column: leave-one-out uses rounds and the participant "
                           "uncertainty interval is skipped")
    return df, check


def normalise_clicks(frame: pd.DataFrame, width: int | None = None, height: int | None = None) -> pd.DataFrame:
    """Clicks with ``stimulus, trial, x, y`` (+ extras), strictly checked: anything the ingestion
    rule would change is an error. For tables built in code (tests, simulations)."""
    if width is None or height is None:
        df = _columns(frame)
        if not np.isfinite(df[["x", "y"]].to_numpy(np.float64)).all():
            raise ClicksError("some rows have missing or non-numeric x/y")
        order = ["stimulus", "trial"] + (["point_index"] if "point_index" in df.columns else [])
        return df.sort_values(order, kind="stable").reset_index(drop=True)
    return ingest(frame, width, height, strict=True)[0]


def read_clicks_csv(path: str | Path) -> pd.DataFrame:
    """The raw table of a clicks CSV (no rule applied yet)."""
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ClicksError(f"{Path(path).name}: cannot read clicks CSV ({exc})") from None


def load_checked(path: str | Path, width: int, height: int, strict: bool = False,
                 keep_repeats: bool = False) -> tuple[pd.DataFrame, DataCheck]:
    """Read a clicks CSV and apply the ingestion rule: ``(clicks, data check)``."""
    return ingest(read_clicks_csv(path), width, height, strict, keep_repeats)


def load_clicks(path: str | Path, width: int, height: int, strict: bool = False,
                keep_repeats: bool = False) -> pd.DataFrame:
    """Read a clicks CSV and apply the ingestion rule (see `load_checked` for its report)."""
    return load_checked(path, width, height, strict, keep_repeats)[0]
