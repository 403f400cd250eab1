"""Monitoring pages: overview, participants (with quality flags), stimuli (maps, reliability).

Every number on the overview is a SQL aggregate (COUNT/SUM/AVG ... GROUP BY), and every list is
paginated, so a page costs a fixed handful of queries whether the study has a hundred rounds or
a million; no brush point is loaded into Python except for the one page of stimuli whose maps
are drawn. All pages take ``?study=<slug>`` (absent = all data) plus the date filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

from flask import Response, abort, render_template, request
from sqlalchemy import Select, case, func, literal, or_, select

from ..extensions import db
from ..models import Player, Round, Stimulus, StimulusSet, Study, study_stimulus_sets
from . import bp
from .access import visible_studies
from .auth import current_researcher, researcher_required
from .codes import participant_code
from .filters import Scope, scope_from_args
from ..services.sampling import study_stimulus_ids
from .quality import REJECT_CODES, flags_for
from .planning import plan
from .studies import projection

PAGE_SIZE = 50
STIMULI_PAGE_SIZE = 24
DEFAULT_TARGET = 10


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def _page(total: int, size: int) -> Page:
    try:
        number = int(request.args.get("page", 1))
    except ValueError:
        number = 1
    return Page(max(1, min(number, max(1, math.ceil(total / size)))), size, total)


def _scope() -> Scope:
    """The page's scope, within the researcher's own studies; the dashboard shows excluded
    participants too (marked as such)."""
    try:
        scope = scope_from_args(request.args, current_researcher())
    except LookupError:
        abort(404)
    except ValueError:
        abort(400)
    return replace(scope, exclude_flagged=False, include_excluded=True)


def _scoped_rounds(scope: Scope) -> Any:
    return select(Round).where(*scope.round_conditions()).subquery()


def _target(scope: Scope) -> int:
    if scope.study is None:
        return DEFAULT_TARGET
    return int(scope.study.settings.get("target_rounds_per_stimulus") or DEFAULT_TARGET)


def _stimuli_in_scope(scope: Scope) -> Select[Any]:
    """Stimuli the study uses: its chosen ones, else all of its sets' (all stimuli for all data)."""
    query = select(Stimulus.id)
    if scope.study is not None:
        query = query.join(study_stimulus_sets, study_stimulus_sets.c.set_id == Stimulus.set_id).where(
            study_stimulus_sets.c.study_id == scope.study.id)
        chosen = study_stimulus_ids(scope.study)
        if chosen:
            query = query.where(Stimulus.id.in_(chosen))
    return query


def summary(scope: Scope) -> dict[str, Any]:
    rounds = _scoped_rounds(scope)
    recognized = func.sum(case((rounds.c.status == "recognized", 1), else_=0))
    total, players, points, hits = db.session.execute(
        select(func.count(), func.count(func.distinct(rounds.c.player_id)),
               func.coalesce(func.sum(rounds.c.n_points), 0), func.coalesce(recognized, 0))).one()
    by_status = dict(db.session.execute(select(rounds.c.status, func.count()).group_by(rounds.c.status)).all())
    result = {"rounds": total, "participants": players, "points": int(points),
              "recognition_rate": (hits / total) if total else None, "by_status": by_status}
    if scope.study is not None:
        joined, consented, completed = db.session.execute(
            select(func.count(), func.count(Player.consented_at), func.count(Player.completed_at))
            .where(Player.study_id == scope.study.id)).one()
        result.update(joined=joined, consented=consented, completed=completed)
    return result


def categories(scope: Scope) -> list[dict[str, Any]]:
    """Recognition rate and mean / fastest time to recognition per category."""
    rounds = _scoped_rounds(scope)
    hit = rounds.c.status == "recognized"
    played = rounds.c.status.in_(("recognized", "timeout", "skipped"))
    rows = db.session.execute(
        select(rounds.c.category, func.sum(case((played, 1), else_=0)), func.sum(case((hit, 1), else_=0)),
               func.avg(case((hit, rounds.c.duration_ms))), func.min(case((hit, rounds.c.duration_ms))))
        .group_by(rounds.c.category).order_by(rounds.c.category))
    return [{"category": cat, "played": int(played or 0), "recognized": int(hits or 0),
             "rate": (hits / played) if played else None,
             "mean_ms": float(mean) if mean is not None else None, "min_ms": fastest}
            for cat, played, hits, mean, fastest in rows]


def _played_rounds(scope: Scope) -> Any:
    """Rounds in scope that count toward coverage: abandoned ones were never played."""
    return select(Round).where(*scope.round_conditions(), Round.status != "abandoned").subquery()


#: how the coverage lists may be ordered (the stimuli page also sorts by reliability)
ORDERS = {"rounds_desc": "most rounds first", "rounds_asc": "fewest rounds first", "key": "by name"}


def coverage(scope: Scope, size: int, order: str = "rounds_desc", min_rounds: int = 0,
             only_ids: Sequence[int] | None = None) -> tuple[Page, list[dict[str, Any]]]:
    """Stimuli with their round counts in scope (at least ``min_rounds``), in ``order``; when
    ``only_ids`` is given, those stimuli in that order (the caller sorted them)."""
    rounds = _played_rounds(scope)
    counts = (select(rounds.c.stimulus_id, func.count().label("n"),
                     func.sum(case((rounds.c.status == "recognized", 1), else_=0)).label("hits"))
              .group_by(rounds.c.stimulus_id).subquery())
    stimuli = _stimuli_in_scope(scope).subquery()
    n = func.coalesce(counts.c.n, 0)
    listed = (select(Stimulus.id, Stimulus.key, Stimulus.category, StimulusSet.name, n,
                     func.coalesce(counts.c.hits, 0), Stimulus.full_reveal_label,
                     Stimulus.full_reveal_p, Stimulus.full_reveal_recognised)
              .join(stimuli, stimuli.c.id == Stimulus.id)
              .join(StimulusSet, StimulusSet.id == Stimulus.set_id)
              .outerjoin(counts, counts.c.stimulus_id == Stimulus.id)
              .where(n >= min_rounds))
    if only_ids is not None:
        total = len(only_ids)
        page = _page(total, size)
        ids = list(only_ids)[page.offset:page.offset + page.size]
        found = {row[0]: row for row in db.session.execute(listed.where(Stimulus.id.in_(ids)))}
        rows = [found[sid] for sid in ids if sid in found]
    else:
        total = db.session.scalar(select(func.count()).select_from(listed.subquery())) or 0
        page = _page(total, size)
        keys = {"rounds_asc": (n, Stimulus.key), "key": (Stimulus.key,)}.get(order, (n.desc(), Stimulus.key))
        rows = db.session.execute(listed.order_by(*keys, Stimulus.id).limit(page.size).offset(page.offset))
    return page, [{"id": sid, "key": key, "category": cat, "set": set_name, "rounds": count,
                   "recognized": hits, "full_reveal": _full_reveal(label, p, recognised)}
                  for sid, key, cat, set_name, count, hits, label, p, recognised in rows]


def _full_reveal(label: str | None, p: float | None, recognised: bool | None) -> dict[str, Any] | None:
    """The classifier's guess on the whole drawing (`services.recognition`), None if unchecked."""
    if recognised is None:
        return None
    return {"label": label, "p": p, "recognised": recognised}


def not_winnable(scope: Scope) -> int:
    """Stimuli in scope the classifier does not recognise even fully revealed: rounds on them
    can only end as a timeout or a skip."""
    stimuli = _stimuli_in_scope(scope).subquery()
    return db.session.scalar(select(func.count()).select_from(Stimulus)
                             .join(stimuli, stimuli.c.id == Stimulus.id)
                             .where(Stimulus.full_reveal_recognised.is_(False))) or 0


def stimulus_ids_by_reliability(scope: Scope, min_rounds: int, descending: bool) -> list[int]:
    """Every stimulus in scope (with at least ``min_rounds``) ordered by split-half reliability;
    those without a value (too few rounds) last. Reliability is computed for each stimulus with
    at least two rounds, so this costs one map per such stimulus: fine for a study's few hundred
    stimuli, which is what this page lists."""
    from .maps_export import reliability_for

    rounds = _played_rounds(scope)
    counts = select(rounds.c.stimulus_id, func.count().label("n")).group_by(rounds.c.stimulus_id).subquery()
    n = func.coalesce(counts.c.n, 0)
    stimuli = _stimuli_in_scope(scope).subquery()
    rows = db.session.execute(select(stimuli.c.id, n).outerjoin(counts, counts.c.stimulus_id == stimuli.c.id)
                              .where(n >= min_rounds)).all()
    values = reliability_for(replace(scope, include_excluded=False),
                             [sid for sid, count in rows if count >= 2])
    sign = -1 if descending else 1
    return sorted((sid for sid, _ in rows),
                  key=lambda sid: (values.get(sid) is None, sign * (values.get(sid) or 0.0), sid))


def coverage_totals(scope: Scope) -> dict[str, int]:
    """How many stimuli have reached the target, and how many rounds are still missing."""
    rounds = _played_rounds(scope)
    counts = select(rounds.c.stimulus_id, func.count().label("n")).group_by(rounds.c.stimulus_id).subquery()
    stimuli = _stimuli_in_scope(scope).subquery()
    target = _target(scope)
    n = func.coalesce(counts.c.n, 0)
    done, missing = db.session.execute(
        select(func.coalesce(func.sum(case((n >= target, 1), else_=0)), 0),
               func.coalesce(func.sum(case((n < target, literal(target) - n), else_=0)), 0))
        .select_from(stimuli).outerjoin(counts, counts.c.stimulus_id == stimuli.c.id)).one()
    result = {"at_target": int(done), "rounds_missing": int(missing), "target": target}
    if scope.study is not None:
        n_used = db.session.scalar(select(func.count()).select_from(stimuli)) or 0
        result["projection"] = projection(scope.study.settings, n_used)
        result["met"] = n_used > 0 and int(done) == n_used
        per_person = int(scope.study.settings.get("rounds_per_participant") or 0)
        result["participants_missing"] = math.ceil(int(missing) / per_person) if per_person else 0
    return result


def _studies() -> Sequence[Study]:
    """The studies this researcher may see (the study picker)."""
    return db.session.scalars(visible_studies(current_researcher())).all()


STIMULI_ORDERS = {**ORDERS, "reliability_desc": "most reliable first",
                  "reliability_asc": "least reliable first"}


@bp.get("/dashboard")
@researcher_required
def dashboard() -> Any:
    scope = _scope()
    page, stimuli = coverage(scope, PAGE_SIZE, order="rounds_asc")
    return render_template("research/dashboard.html", scope=scope, studies=_studies(),
                           summary=summary(scope), categories=categories(scope),
                           coverage=stimuli, page=page, totals=coverage_totals(scope),
                           planning=plan(scope), not_winnable=not_winnable(scope),
                           created=request.args.get("created") == "1")


def participant_rows(scope: Scope, flagged_only: bool, search: str) -> tuple[Page, list[dict[str, Any]]]:
    """One page of participants with per-person round statistics and quality flags."""
    rounds = _scoped_rounds(scope)
    stats = (select(rounds.c.player_id, func.count().label("n"),
                    func.sum(case((rounds.c.status == "recognized", 1), else_=0)).label("hits"),
                    func.sum(rounds.c.n_points).label("points"),
                    func.max(rounds.c.started_at).label("last"))
             .group_by(rounds.c.player_id).subquery())
    members = [Player.id.in_(select(stats.c.player_id))]
    if scope.study is not None:
        members.append(Player.study_id == scope.study.id)
    where = [or_(*members)]
    flags: dict[int, Any] | None = None
    if flagged_only:
        flags = flags_for(scope)
        where.append(Player.id.in_(list(flags)))
    if search:
        where.append(Player.external_id == search)
    total = db.session.scalar(select(func.count(Player.id)).where(*where)) or 0
    page = _page(total, PAGE_SIZE)
    rows = db.session.execute(
        select(Player, stats.c.n, stats.c.hits, stats.c.points, stats.c.last)
        .outerjoin(stats, stats.c.player_id == Player.id).where(*where)
        .order_by(func.coalesce(stats.c.last, Player.created_at).desc(), Player.id)
        .limit(page.size).offset(page.offset)).all()
    if flags is None:
        flags = flags_for(scope, [row[0].id for row in rows])
    return page, [{"player": p, "code": participant_code(p.public_id), "rounds": n or 0,
                   "recognized": hits or 0, "points": points or 0, "last": last,
                   "flags": flags.get(p.id, [])} for p, n, hits, points, last in rows]


@bp.get("/participants")
@researcher_required
def participants() -> Any:
    scope = _scope()
    flagged_only = request.args.get("flagged") == "1"
    search = (request.args.get("q") or "").strip()
    page, rows = participant_rows(scope, flagged_only, search)
    return render_template("research/participants.html", scope=scope, studies=_studies(),
                           rows=rows, page=page, flagged_only=flagged_only, q=search,
                           reject_codes=REJECT_CODES)


@bp.get("/stimuli")
@researcher_required
def stimuli() -> Any:
    """Coverage with each stimulus' current human map and split-half reliability (one page)."""
    from .maps_export import reliability_for

    scope = _scope()
    order = request.args.get("sort", "rounds_desc")
    if order not in STIMULI_ORDERS:
        order = "rounds_desc"
    try:
        min_rounds = max(0, int(request.args.get("min_rounds") or 0))
    except ValueError:
        min_rounds = 0
    ordered = (stimulus_ids_by_reliability(scope, min_rounds, order == "reliability_desc")
               if order.startswith("reliability") else None)
    page, rows = coverage(scope, STIMULI_PAGE_SIZE, order, min_rounds, ordered)
    reliability = reliability_for(replace(scope, include_excluded=False), [r["id"] for r in rows])
    for row in rows:
        row["reliability"] = reliability.get(row["id"])
    return render_template("research/stimuli.html", scope=scope, studies=_studies(), rows=rows,
                           page=page, target=_target(scope), orders=STIMULI_ORDERS, order=order,
                           min_rounds=min_rounds)


@bp.get("/stimuli/<int:stimulus_id>/map.png")
@researcher_required
def stimulus_map(stimulus_id: int) -> Response:
    """The stimulus with its current human map drawn over it."""
    from .maps_export import heatmap_png

    stimulus = db.get_or_404(Stimulus, stimulus_id)
    scope = _scope()
    png = heatmap_png(replace(scope, include_excluded=False), stimulus)
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=60"
    return response
