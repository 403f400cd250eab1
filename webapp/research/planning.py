"""The dashboard's planning line: genuine rounds per drawing a target split-half ceiling needs.

Next to a study's coverage target the dashboard shows, projected by Spearman-Brown from the
study's own pilot data (`analysis.planning.pilot_projection`), how many genuine rounds per
drawing its human maps need for a split-half ceiling of the study's ``target_ceiling`` setting
(default 0.8). The target in rounds is a guess made before any data; this line is what the data
say once there are some.

Genuine rounds (`genuine_conditions`): rounds of the study in the page's date range that count
toward the study under the server's one rule (`services.rounds.counts_toward_study`: played to a
result - recognised or timed out, not skipped, abandoned or still running -, credited by the
plausibility checks, at least 3 brush points: fewer cannot be a stroke, and on the real
ClickMe-QuickDraw export two-point rounds were artefacts), by participants not excluded.

Cost: one aggregate query decides whether anything changed since the last computation (the
result is cached per process on the genuine rounds' count, latest end, total points and first and
last round id); the computation uses
at most `MAX_PILOT_DRAWINGS` drawings (those with the most genuine rounds) and at most
`MAX_ROUNDS_PER_DRAWING` rounds of each (fewer on large canvases, within `PIXEL_BUDGET`), so the
page stays fast on a study of any size. The projection holds at any number of pilot rounds: it
is read from the ceiling at the rounds used.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func, select

from analysis.planning import MAX_PILOT_DRAWINGS, MIN_PILOT_DRAWINGS, pilot_projection, projected_ceiling

from ..extensions import db
from ..models import BrushPoint, Player, Round, Stimulus
from ..services.rounds import MIN_POINTS_PER_STUDY_ROUND, counts_toward_study
from .filters import Scope
from .studies import DEFAULT_TARGET_CEILING

#: at most this many rounds per drawing enter the split-half (the first by round id: a random order)
MAX_ROUNDS_PER_DRAWING = 30
#: ... and fewer on large canvases: rounds x canvas pixels over all drawings stay under this budget
#: (each round's footprint is blurred at full size; 20 M pixels is about a second of work), but
#: never fewer than `MIN_ROUNDS_PER_DRAWING`
PIXEL_BUDGET = 20_000_000
MIN_ROUNDS_PER_DRAWING = 4
GENUINE_RULE = ("genuine rounds: those that count toward the study (recognised or timed out, credited, at least "
                f"{MIN_POINTS_PER_STUDY_ROUND} brush points), by participants not excluded")
_CACHE: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_CACHE_SIZE = 64


def target_ceiling(settings: dict[str, Any] | None) -> float:
    value = (settings or {}).get("target_ceiling")
    return float(value) if value not in (None, "") else DEFAULT_TARGET_CEILING


def genuine_conditions(scope: Scope) -> list[Any]:
    """WHERE terms on `Round` (joined with `Player`) selecting the study's genuine rounds."""
    return [*scope.round_conditions(), counts_toward_study(), Player.excluded.is_(False)]


def _genuine() -> Any:
    return select(Round.id).join(Player, Player.id == Round.player_id)


def plan(scope: Scope) -> dict[str, Any] | None:
    """The planning line's numbers for the scope's study (None without a study): the
    `pilot_projection` result plus ``genuine_rule``, ``max_drawings``, ``max_rounds``,
    ``target_rounds`` and ``ceiling_at_target`` (the projected ceiling at the study's target
    rounds per stimulus)."""
    if scope.study is None:
        return None
    settings = scope.study.settings or {}
    target = target_ceiling(settings)
    where = genuine_conditions(scope)
    fingerprint = tuple(db.session.execute(
        select(func.count(Round.id), func.max(Round.ended_at), func.sum(Round.n_points), func.min(Round.id),
               func.max(Round.id)).join(Player, Player.id == Round.player_id).where(*where)).one())
    key = (str(db.engine.url), scope.study.id, scope.start, scope.end, target, fingerprint,
           settings.get("target_rounds_per_stimulus"))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    result = _compute(where, target)
    target_rounds = int(settings.get("target_rounds_per_stimulus") or 0)
    result.setdefault("max_rounds", MAX_ROUNDS_PER_DRAWING)
    result.update(genuine_rule=GENUINE_RULE, max_drawings=MAX_PILOT_DRAWINGS,
                  target_rounds=target_rounds or None,
                  ceiling_at_target=(projected_ceiling(result["r_single"], target_rounds)
                                     if result.get("r_single") is not None and target_rounds else None))
    _CACHE[key] = result
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def _compute(where: list[Any], target: float) -> dict[str, Any]:
    counts = db.session.execute(
        select(Round.stimulus_id, func.count(Round.id).label("n")).join(Player, Player.id == Round.player_id)
        .where(*where).group_by(Round.stimulus_id).having(func.count(Round.id) >= 2)
        .order_by(func.count(Round.id).desc(), Round.stimulus_id)).all()
    eligible = len(counts)
    chosen = [sid for sid, _ in counts[:MAX_PILOT_DRAWINGS]]
    if eligible < MIN_PILOT_DRAWINGS:  # nothing to project: do not load a single point
        return {"status": "needs_pilot_data", "target": target, "n_drawings": eligible, "n_eligible": eligible,
                "min_drawings": MIN_PILOT_DRAWINGS, "ceiling": None, "mean_rounds": None, "r_single": None,
                "rounds_needed": None}
    from .maps_export import _radius

    stimuli = {s.id: s for s in db.session.scalars(select(Stimulus).where(Stimulus.id.in_(chosen)))}
    canvas = max(s.width * s.height for s in stimuli.values())
    max_rounds = max(MIN_ROUNDS_PER_DRAWING, min(MAX_ROUNDS_PER_DRAWING, PIXEL_BUDGET // (len(chosen) * canvas)))
    rounds = db.session.execute(_genuine().add_columns(Round.stimulus_id, Round.settings)
                                .where(*where, Round.stimulus_id.in_(chosen))
                                .order_by(Round.stimulus_id, Round.id)).all()
    kept: dict[str, tuple[int, dict[str, Any]]] = {}
    per_drawing: dict[int, int] = defaultdict(int)
    for round_id, stimulus_id, settings in rounds:
        if per_drawing[stimulus_id] < max_rounds:
            per_drawing[stimulus_id] += 1
            kept[round_id] = (stimulus_id, settings or {})
    coords: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for round_id, x, y in db.session.execute(
            select(BrushPoint.round_id, BrushPoint.x, BrushPoint.y).where(BrushPoint.round_id.in_(list(kept)))
            .order_by(BrushPoint.round_id, BrushPoint.idx).execution_options(yield_per=5000)):
        coords[round_id].append((x, y))
    points: dict[str, list[np.ndarray]] = defaultdict(list)
    radii: dict[str, list[float]] = defaultdict(list)
    for round_id, (stimulus_id, settings) in sorted(kept.items()):
        if coords.get(round_id):
            name = str(stimulus_id)
            points[name].append(np.asarray(coords[round_id], np.float64))
            radii[name].append(_radius(settings, stimuli[stimulus_id]))
    widths = {str(sid): s.width for sid, s in stimuli.items()}
    heights = {str(sid): s.height for sid, s in stimuli.items()}
    result = pilot_projection(dict(points), widths, heights, dict(radii), target=target,
                              max_drawings=MAX_PILOT_DRAWINGS)
    result.update(n_eligible=eligible, max_rounds=max_rounds)
    return result
