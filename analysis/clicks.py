"""Reading click (brush point) tables, whatever produced them, by one stated ingestion rule.

Three schemes are accepted and normalised to columns ``stimulus, trial, x, y`` (+ ``participant``,
``category``, ``t_ms``, ``point_index`` when present):
- legacy ClickMe-style CSV: ``stimulus, trial, x, y`` with optional ``participant, t_ms``;
- the game's export ``clicks.csv``: ``study, participant, round, stimulus, category,
  point_index, x, y, t_ms`` (``round`` is the trial);
- the ClickMe-QuickDraw export (`data/clickme_quickdraw`): ``stimulus, category, round, point,
  x, y`` (``round`` is the trial, ``point`` the point's order within it).

Real legacy exports are messy, so `ingest` applies one rule, used by every command, and
counts what it changed in a `DataCheck` (printed and written by the CLI):

1. rows whose x or y is missing or not a finite number are dropped;
2. points at most `CLIP_TOLERANCE` pixels outside the ``W x H`` canvas (float round-off such as
   x = -7e-16, a pointer sliding over the edge) are clipped onto it; points farther out (a
   round dragged off the canvas) are dropped, the round keeps its points on the canvas;
3. a round whose path (the sequence of x, y) equals an earlier round of the same stimulus is an
   exact repeat — legacy exports store snapshots of one round several times — and is dropped,
   keeping the first (``keep_repeats`` keeps them);
4. rounds that are not brushing are dropped (``keep_non_brushing`` keeps them), by
   `NON_BRUSHING_RULE` (see `non_brushing`): a round with fewer than `MIN_STROKE_POINTS` points
   (no stroke), or one whose points all lie within `LINE_TOLERANCE` of the canvas' longer side
   of one straight line while fewer than half of them fall on the drawing's brush-dilated ink
   (a line unrelated to the drawing, such as the diagonal x = y of the ClickMe-QuickDraw dumps);
   without the drawing's ink the second clause takes every straight round;
5. rounds with only 1-2 points and points exactly on the diagonal x == y (a symptom of an
   export that copied x into y) are counted too.

``strict`` refuses (`ClicksError`, exit 2 in the CLI) instead of applying rules 1-4 (rule 4
only when ``keep_non_brushing`` is off).
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
#: a stroke needs at least this many points (two points are a segment, not a brushing path)
MIN_STROKE_POINTS = 3
#: a round "lies on one straight line" when no point is farther than this share of the canvas'
#: longer side from its best-fitting line (2% = 5.1 px on the 256 px ClickMe-QuickDraw canvas)
LINE_TOLERANCE = 0.02
#: a straight round is brushing the drawing when at least this share of its points is on the ink region
ON_INK_SHARE = 0.5
#: the reasons `non_brushing` gives
FEW_POINTS = "fewer than 3 points"
LINE_OFF_INK = "straight line off the ink"
LINE_INK_UNKNOWN = "straight line (ink unknown)"
NON_BRUSHING_RULE = (f"a round is not brushing if it holds fewer than {MIN_STROKE_POINTS} points (no stroke), or if "
                     f"all its points lie within {LINE_TOLERANCE:.0%} of the canvas' longer side of one straight "
                     f"line (total least squares) and fewer than {ON_INK_SHARE:.0%} of them fall on the drawing's "
                     "ink dilated by the brush radius (a line unrelated to the drawing, such as the diagonal "
                     "x = y); without the drawing's ink every such straight round counts")
#: the data check counts the drawings with at least this many kept rounds
ROUND_COUNTS = (1, 2, 4)


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
    non_brushing_rule: str = NON_BRUSHING_RULE
    non_brushing_rounds: int = 0
    non_brushing_dropped: int = 0
    non_brushing_reasons: dict[str, int] = field(default_factory=dict)
    ink_known: int = 0
    points_kept: int = 0
    rounds_kept: int = 0
    rounds_per_stimulus: dict[str, float] = field(default_factory=dict)
    stimuli_with_rounds: dict[str, int] = field(default_factory=dict)
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
               f"  rounds that are not brushing: {self.non_brushing_rounds:,}"
               + (" (" + ", ".join(f"{why}: {n:,}" for why, n in self.non_brushing_reasons.items()) + ")"
                  if self.non_brushing_reasons else "")
               + f"; dropped {self.non_brushing_dropped:,}"
               + ("" if self.non_brushing_dropped or not self.non_brushing_rounds else " (KEPT: --keep-non-brushing)"),
               f"    rule: {self.non_brushing_rule}",
               f"    the drawing's ink is known for {self.ink_known:,} of {self.stimuli:,} stimuli",
               f"  participant ids: {'yes' if self.participant_ids else 'NO (participant statistics are skipped)'}",
               f"  kept: {self.points_kept:,} points, {self.rounds_kept:,} rounds; stimuli with "
               + ", ".join(f">= {k} rounds: {n:,}" for k, n in self.stimuli_with_rounds.items())]
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
    if "point_index" not in df.columns and "point" in df.columns:
        df = df.rename(columns={"point": "point_index"})
    missing = [c for c in (*REQUIRED, "trial") if c not in df.columns]
    if missing:
        raise ClicksError(f"clicks table lacks column(s) {', '.join(missing)}")
    for col in ("x", "y"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    if "point_index" in df.columns:
        df["point_index"] = pd.to_numeric(df["point_index"], errors="coerce")
    for col in ("stimulus", "trial", "participant", "category"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    keep = [c for c in ("stimulus", "trial", "participant", "category", "x", "y", "t_ms", "point_index")
            if c in df.columns]
    return df[keep]


def normalised_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with the ingestion rule's column names and types (``trial``, ``point_index``,
    numeric x/y) and nothing else changed."""
    return _columns(frame)


def _path_keys(df: pd.DataFrame) -> pd.Series:
    """One hash per round (stimulus, trial) of its point sequence, to find exact repeats."""
    hashed = pd.util.hash_pandas_object(df[["x", "y"]], index=False).to_numpy()
    position = df.groupby(["stimulus", "trial"], sort=False).cumcount().to_numpy().astype(np.uint64)
    mixed = pd.Series(hashed * (position * np.uint64(2) + np.uint64(1)), index=df.index)  # order matters
    keys = mixed.groupby([df["stimulus"], df["trial"]], sort=False).agg(["sum", "size"])
    return keys["sum"].astype(str) + ":" + keys["size"].astype(str)


def line_deviation(points: np.ndarray) -> float:
    """Largest distance (pixels) of a point from the total-least-squares line through the points
    (0 for fewer than 3 points or points that all coincide)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    centred = pts - pts.mean(0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]  # direction of least spread
    return float(np.abs(centred @ normal).max())


def on_ink_share(points: np.ndarray, ink: np.ndarray, width: int, height: int) -> float:
    """Share of the points (x, y in the ``width x height`` canvas) that fall on a True pixel of
    ``ink`` (any resolution: the canvas is scaled onto it)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    ink = np.asarray(ink, bool)
    rows, cols = ink.shape
    c = np.clip((pts[:, 0] * cols / width).astype(np.int64), 0, cols - 1)
    r = np.clip((pts[:, 1] * rows / height).astype(np.int64), 0, rows - 1)
    return float(ink[r, c].mean()) if len(pts) else 0.0


def non_brushing(points: np.ndarray, ink: np.ndarray | None, width: int, height: int) -> str | None:
    """Why a round (``[n, 2]`` x, y in the ``width x height`` canvas, in brushing order) is not
    brushing, by `NON_BRUSHING_RULE`, or None when it is.

    ``ink`` is the drawing's ink dilated by the brush radius (`analysis.ink.ink_region`), boolean,
    at any resolution (the canvas is scaled onto it); None when the drawing is unknown.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < MIN_STROKE_POINTS:
        return FEW_POINTS
    if line_deviation(pts) > LINE_TOLERANCE * max(width, height):
        return None
    if ink is None:
        return LINE_INK_UNKNOWN
    return LINE_OFF_INK if on_ink_share(pts, ink, width, height) < ON_INK_SHARE else None


def ingest(frame: pd.DataFrame, width: int, height: int, strict: bool = False,
           keep_repeats: bool = False, keep_non_brushing: bool = False,
           ink: dict[str, np.ndarray] | None = None) -> tuple[pd.DataFrame, DataCheck]:
    """The normalised clicks after the rule in the module docstring, and what it found.

    ``ink`` maps a stimulus to its drawing's ink dilated by the brush (`analysis.ink.ink_region`,
    boolean, any resolution): with it a straight round on the drawing's strokes counts as
    brushing; stimuli missing from it are judged without ink.
    """
    df = _columns(frame)
    rule = ("strict: refuse off-canvas, non-finite and repeated"
            + ("" if keep_non_brushing else " rounds and rounds that are not brushing")) if strict else (
        f"clip within {CLIP_TOLERANCE:g} px, drop beyond; drop non-finite; "
        + ("keep repeated rounds" if keep_repeats else "drop repeated rounds") + "; "
        + ("keep rounds that are not brushing" if keep_non_brushing else "drop rounds that are not brushing"))
    ink = ink or {}
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
    check.ink_known = int(sum(1 for s in df["stimulus"].unique() if s in ink))
    reasons: dict[str, int] = {}
    not_brushing = []
    if len(df):
        xy = df[["x", "y"]].to_numpy(np.float64)
        for (stim, trial), rows in df.groupby(["stimulus", "trial"], sort=False).indices.items():
            why = non_brushing(xy[rows], ink.get(stim), width, height)
            if why is not None:
                reasons[why] = reasons.get(why, 0) + 1
                not_brushing.append((stim, trial))
    check.non_brushing_rounds = len(not_brushing)
    check.non_brushing_reasons = dict(sorted(reasons.items()))
    if not_brushing and strict and not keep_non_brushing:
        raise ClicksError(f"{len(not_brushing)} round(s) are not brushing ("
                          + ", ".join(f"{why}: {n}" for why, n in check.non_brushing_reasons.items()) + ")")
    if not_brushing and not keep_non_brushing:
        pairs = pd.MultiIndex.from_frame(df[["stimulus", "trial"]])
        df = df[~pairs.isin(not_brushing)].reset_index(drop=True)
        check.non_brushing_dropped = len(not_brushing)
        sizes = df.groupby(["stimulus", "trial"]).size() if len(df) else pd.Series(dtype=int)
    if LINE_INK_UNKNOWN in reasons:
        check.notes.append(f"the drawing's ink is unknown for {check.stimuli - check.ink_known} stimuli, so each "
                           "of their straight rounds counts as not brushing (give the stimuli to keep straight "
                           "strokes along the drawing)")
    check.points_kept, check.rounds_kept = int(len(df)), int(len(sizes))
    per_stim = sizes.groupby(level=0).size() if len(sizes) else pd.Series([0])
    check.rounds_per_stimulus = {"min": float(per_stim.min()), "median": float(per_stim.median()),
                                 "max": float(per_stim.max())}
    check.stimuli_with_rounds = {str(k): int((per_stim >= k).sum()) if len(sizes) else 0 for k in ROUND_COUNTS}
    if not check.participant_ids:
        check.notes.append("no participant column: leave-one-out uses rounds and the participant "
                           "uncertainty interval is skipped")
    return df, check


def normalise_clicks(frame: pd.DataFrame, width: int | None = None, height: int | None = None) -> pd.DataFrame:
    """Clicks with ``stimulus, trial, x, y`` (+ extras), strictly checked: anything the ingestion
    rule would change is an error, except that rounds that are not brushing are kept (a table
    built in code has no export artefacts). For tables built in code (tests, simulations)."""
    if width is None or height is None:
        df = _columns(frame)
        if not np.isfinite(df[["x", "y"]].to_numpy(np.float64)).all():
            raise ClicksError("some rows have missing or non-numeric x/y")
        order = ["stimulus", "trial"] + (["point_index"] if "point_index" in df.columns else [])
        return df.sort_values(order, kind="stable").reset_index(drop=True)
    return ingest(frame, width, height, strict=True, keep_non_brushing=True)[0]


def read_clicks_csv(path: str | Path) -> pd.DataFrame:
    """The raw table of a clicks CSV (no rule applied yet)."""
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ClicksError(f"{Path(path).name}: cannot read clicks CSV ({exc})") from None


def load_checked(path: str | Path, width: int, height: int, strict: bool = False,
                 keep_repeats: bool = False, keep_non_brushing: bool = False,
                 ink: dict[str, np.ndarray] | None = None) -> tuple[pd.DataFrame, DataCheck]:
    """Read a clicks CSV and apply the ingestion rule: ``(clicks, data check)``."""
    return ingest(read_clicks_csv(path), width, height, strict, keep_repeats, keep_non_brushing, ink)


def load_clicks(path: str | Path, width: int, height: int, strict: bool = False,
                keep_repeats: bool = False, keep_non_brushing: bool = False,
                ink: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Read a clicks CSV and apply the ingestion rule (see `load_checked` for its report)."""
    return load_checked(path, width, height, strict, keep_repeats, keep_non_brushing, ink)[0]
