"""Import ClickMe-style click data (CSV ``stimulus, trial, x, y`` [, ``participant``, ``t_ms``]).

Old data then flows through the same maps, analysis and exports as game data. The file is read
twice: a validation pass that reports every problem (unknown stimulus keys, bad or out-of-frame
coordinates) before anything is written, then one transaction that writes players, rounds and
points, so an import either lands completely or not at all.

Mapping: each distinct ``participant`` becomes a new `Player` (one shared player when the column
is absent); each (participant, stimulus, trial) becomes a `Round` with status ``imported`` and
model version ``legacy-import``; rows keep their file order as point order. The column ``round``
is accepted for ``trial``, so this project's own clicks.csv can be imported back.
"""

from __future__ import annotations

import csv
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from flask import current_app
from sqlalchemy import insert, select

from models.render import brush_radius_px

from ..extensions import db
from ..models import BrushPoint, Player, Round, Stimulus, StimulusSet, Study, utcnow
from ..services.coverage import add_plays

STATUS = "imported"
MODEL_VERSION = "legacy-import"
MAX_REPORTED = 20
POINT_BATCH = 5000

TrialKey = tuple[str, str, str]  # participant, stimulus, trial


class ImportFailed(ValueError):
    """The file cannot be imported; the message lists what to fix. Nothing was written."""


@dataclass
class ImportReport:
    participants: int = 0
    rounds: int = 0
    points: int = 0
    round_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stim:
    id: int
    category: str
    width: int
    height: int


@dataclass(frozen=True)
class _Row:
    line: int
    key: TrialKey
    x: float
    y: float
    t_ms: float


def _columns(fieldnames: list[str] | None) -> dict[str, str]:
    """Our column name -> the file's column name (case and spaces ignored)."""
    found = {name.strip().lower(): name for name in fieldnames or []}
    if "trial" not in found and "round" in found:
        found["trial"] = found["round"]
    missing = [c for c in ("stimulus", "trial", "x", "y") if c not in found]
    if missing:
        raise ImportFailed(f"missing column(s): {', '.join(missing)} "
                           "(need stimulus, trial, x, y; optional participant, t_ms)")
    return found


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass
class _Problems:
    lines: list[str] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)


def _rows(path: Path, stimuli: dict[str, _Stim], problems: _Problems) -> Iterator[_Row]:
    """Valid rows of the file; invalid ones are recorded in ``problems`` instead."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        cols = _columns(reader.fieldnames)
        for line, raw in enumerate(reader, start=2):
            name = (raw.get(cols["stimulus"]) or "").strip()
            stim = stimuli.get(name)
            x, y = _number(raw.get(cols["x"])), _number(raw.get(cols["y"]))
            t_ms = _number(raw.get(cols["t_ms"])) if "t_ms" in cols else 0.0
            problem = None
            if stim is None:
                problem = f"unknown stimulus {name!r}"
                problems.unknown.add(name)
            elif x is None or y is None or not (0 <= x <= stim.width and 0 <= y <= stim.height):
                problem = f"x, y must be numbers inside the {stim.width}x{stim.height} frame"
            elif t_ms is None or t_ms < 0:
                problem = "t_ms must be a number >= 0"
            if problem:
                problems.lines.append(f"line {line}: {problem}")
                continue
            participant = (raw.get(cols["participant"]) or "").strip() if "participant" in cols else ""
            trial = (raw.get(cols["trial"]) or "").strip()
            assert x is not None and y is not None and t_ms is not None
            yield _Row(line, (participant, name, trial), x, y, t_ms)


def _load_targets(set_name: str, study_slug: str | None) -> tuple[StimulusSet, Study | None, dict[str, _Stim]]:
    stimulus_set = db.session.scalar(select(StimulusSet).where(StimulusSet.name == set_name))
    if stimulus_set is None:
        raise ImportFailed(f"unknown stimulus set {set_name!r}")
    study = None
    if study_slug:
        study = db.session.scalar(select(Study).where(Study.slug == study_slug))
        if study is None:
            raise ImportFailed(f"unknown study {study_slug!r}")
    rows = db.session.execute(select(Stimulus.key, Stimulus.id, Stimulus.category, Stimulus.width,
                                     Stimulus.height).where(Stimulus.set_id == stimulus_set.id))
    return stimulus_set, study, {key: _Stim(*rest) for key, *rest in rows}


def _validate(path: Path, stimuli: dict[str, _Stim]) -> tuple[dict[TrialKey, int], bool]:
    """Points per trial, and whether the file has times; raises listing the problems."""
    problems = _Problems()
    counts: dict[TrialKey, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        has_times = "t_ms" in _columns(csv.DictReader(handle).fieldnames)
    for row in _rows(path, stimuli, problems):
        counts[row.key] = counts.get(row.key, 0) + 1
    if problems.lines:
        summary = f"{len(problems.lines)} bad row(s); nothing was imported."
        if problems.unknown:
            unknown = sorted(problems.unknown)
            summary += (f" Unknown stimulus keys (not in the set): {', '.join(unknown[:MAX_REPORTED])}"
                        + (" ..." if len(unknown) > MAX_REPORTED else "") + ".")
        raise ImportFailed(summary + "\n" + "\n".join(problems.lines[:MAX_REPORTED]))
    if not counts:
        raise ImportFailed("the file has no data rows")
    return counts, has_times


def import_clicks(path: Path, set_name: str, study_slug: str | None = None,
                  brush_fraction: float | None = None) -> ImportReport:
    """Validate then import ``path`` into the set ``set_name`` (optionally into a study)."""
    stimulus_set, study, stimuli = _load_targets(set_name, study_slug)
    counts, has_times = _validate(path, stimuli)
    fraction = brush_fraction if brush_fraction is not None else current_app.config["BRUSH_FRACTION"]
    now = utcnow()
    report = ImportReport()
    players: dict[str, int] = {}
    rounds: dict[TrialKey, tuple[str, int]] = {}  # trial -> (round id, next point index)
    points: list[dict[str, Any]] = []
    try:
        for row in _rows(path, stimuli, _Problems()):
            participant, key, trial = row.key
            if participant not in players:
                player = Player(public_id=str(uuid.uuid4()), study_id=study.id if study else None,
                                pseudonym=f"imported {participant}"[:32] if participant else "imported")
                db.session.add(player)
                db.session.flush()
                players[participant] = player.id
            if row.key not in rounds:
                stim = stimuli[key]
                rid = str(uuid.uuid4())
                settings = {"source": MODEL_VERSION, "file": path.name, "has_times": has_times,
                            "stimulus_set": stimulus_set.name, "legacy_participant": participant,
                            "legacy_trial": trial, "width": stim.width, "height": stim.height,
                            "brush_fraction": fraction,
                            "brush_radius_px": brush_radius_px(stim.width, stim.height, fraction)}
                db.session.execute(insert(Round), [{
                    "id": rid, "player_id": players[participant], "stimulus_id": stim.id,
                    "study_id": study.id if study else None, "category": stim.category,
                    "status": STATUS, "started_at": now, "ended_at": now, "points": 0,
                    "n_points": counts[row.key], "model_version": MODEL_VERSION,
                    "settings": settings}])
                rounds[row.key] = (rid, 0)
                report.round_ids.append(rid)
            rid, index = rounds[row.key]
            points.append({"round_id": rid, "idx": index, "x": row.x, "y": row.y,
                           "t_ms": row.t_ms, "received_at": now})
            rounds[row.key] = (rid, index + 1)
            if len(points) >= POINT_BATCH:
                db.session.execute(insert(BrushPoint), points)
                report.points += len(points)
                points = []
        if points:
            db.session.execute(insert(BrushPoint), points)
            report.points += len(points)
        add_plays(stimuli[key].id for _, key, _ in rounds)  # imported rounds count as played
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    report.participants, report.rounds = len(players), len(rounds)
    return report
