"""Data-quality flags per participant, computed in SQL so they scale with the database.

A flag is a reason to look, not a verdict: the researcher decides (`Player.excluded`) or asks an
export to drop every flagged participant (`exclude_flagged`). Each rule names what a human
cannot plausibly do:

* ``too_fast`` - a round with more points by its page times (ms since the round started) than a
  pointer device can report (faster than 1 ms per point means more than 1000 events a second:
  scripted input).
* ``few_points`` - most rounds ended with almost nothing brushed (clicking through for payment).
* ``repeated_path`` - two rounds with the very same point path (same count and coordinate sums
  to 1/1000 px), which a hand never reproduces: replayed input.
* ``address_burst`` - many new participants, or more rounds than a person can play, from one
  (salted, hashed) address within one hour. Each study sets the threshold
  (``address_burst_per_hour``, default 5; 0 turns the rule off for labs and classrooms).

Two rules use the server's clock only, so a client that forges its ``t_ms`` cannot hide from them:

* ``server_too_fast`` - a round with many points that all reached the server sooner after the
  round started than one point per millisecond allows (received_at, not t_ms).

Both are `services.plausibility.faster_than_a_pointer` in SQL: the game refuses to credit a round
the moment a batch breaks that rule, so a round flagged here was never credited.
* ``implausible_input`` - rounds the game itself refused to credit because a batch could not have
  been drawn by the time it arrived (`Round.flag_reason`, webapp/services/plausibility.py).

Two rules judge study participation, for approving or rejecting submissions on Prolific:

* ``low_effort`` - at least half of a participant's ended study rounds did not count toward
  completion under the study's one rule (`services.rounds.counts_toward_study`: skipped, left
  unfinished, not credited, or fewer than 3 brush points), with at least 3 ended rounds.
* ``duplicate_id`` - the participant's platform id has more than one attempt in the study (the
  study link gives a second browser an attempt of its own rather than lock the id's owner out).

`REJECT_CODES` are the flags that say the participant did not genuinely take part (scripted,
replayed or skipped-through input); the participants page marks them as grounds to reject.
The others (``few_points``, ``address_burst``, ``duplicate_id``) ask the researcher to look.

Imported legacy rounds carry no trustworthy times and are left out of every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import Select, and_, case, func, literal, or_, select

from ..extensions import db
from ..models import BrushPoint, Player, Round, Study
from ..services.plausibility import faster_than_a_pointer
from ..services.rounds import RESULTS, counts_toward_study
from .filters import Scope

IMPORTED = "imported"
FEW_POINTS = 3
FEW_POINTS_MIN_ROUNDS = 3
FEW_POINTS_FRACTION = 0.5
REPEAT_MIN_POINTS = 5
BURST_PLAYERS_PER_HOUR = 5
#: rounds one person can play in an hour; the rounds rule scales with the participants rule
BURST_ROUNDS_PER_PERSON_HOUR = 120
#: low_effort: judged from this many ended study rounds on, when at most half of them counted
LOW_EFFORT_MIN_ROUNDS = 3
#: flags that are grounds to reject a submission (the others ask the researcher to look)
REJECT_CODES = frozenset({"too_fast", "server_too_fast", "implausible_input", "repeated_path",
                          "low_effort"})


@dataclass(frozen=True)
class Flag:
    code: str
    detail: str


def _hour(column: Any) -> Any:
    """The UTC hour of a timestamp, in the dialect's own function (SQL has no portable one)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H", column)


def _ms_between(start: Any, end: Any) -> Any:
    """Milliseconds from one timestamp column to another, in the dialect's own arithmetic."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) * 1000
    return (func.julianday(end) - func.julianday(start)) * 86_400_000


def _scoped_rounds(scope: Scope, player_ids: Iterable[int] | None) -> Any:
    """Rounds the rules look at, as a subquery (id, player_id, n_points, status, started_at,
    flag_reason)."""
    query = select(Round.id, Round.player_id, Round.n_points, Round.status, Round.started_at,
                   Round.flag_reason).where(
        *scope.round_conditions(), Round.status != IMPORTED)
    if player_ids is not None:
        query = query.where(Round.player_id.in_(list(player_ids)))
    return query.subquery()


def _point_stats(rounds: Any) -> Any:
    """Per round: point count, last page time (ms since the round started), a path fingerprint
    (sums of rounded coordinates) and the server ms from the start to the last point's arrival."""
    return (select(BrushPoint.round_id.label("round_id"), rounds.c.player_id,
                   func.count().label("n"),
                   func.max(BrushPoint.t_ms).label("last_t"),
                   func.sum(func.round(BrushPoint.x * 1000)).label("sx"),
                   func.sum(func.round(BrushPoint.y * 1000)).label("sy"),
                   _ms_between(rounds.c.started_at, func.max(BrushPoint.received_at)).label("server_span"))
            .join(rounds, rounds.c.id == BrushPoint.round_id)
            .group_by(BrushPoint.round_id, rounds.c.player_id, rounds.c.started_at)
            .subquery())


def _too_fast(stats: Any) -> Select[Any]:
    return (select(stats.c.player_id, func.count())
            .where(faster_than_a_pointer(stats.c.n, stats.c.last_t))
            .group_by(stats.c.player_id))


def _server_too_fast(stats: Any) -> Select[Any]:
    return (select(stats.c.player_id, func.count())
            .where(faster_than_a_pointer(stats.c.n, stats.c.server_span))
            .group_by(stats.c.player_id))


def _implausible(rounds: Any) -> Select[Any]:
    return (select(rounds.c.player_id, func.count())
            .where(rounds.c.flag_reason.is_not(None))
            .group_by(rounds.c.player_id))


def _repeated(stats: Any) -> Select[Any]:
    dupes = (select(stats.c.player_id, (func.count() - 1).label("extra"))
             .where(stats.c.n >= REPEAT_MIN_POINTS)
             .group_by(stats.c.player_id, stats.c.n, stats.c.sx, stats.c.sy)
             .having(func.count() > 1).subquery())
    return select(dupes.c.player_id, func.sum(dupes.c.extra)).group_by(dupes.c.player_id)


def _few_points(rounds: Any) -> Select[Any]:
    few = func.sum(case((rounds.c.n_points < FEW_POINTS, 1), else_=0))
    total = func.count()
    return (select(rounds.c.player_id, few, total)
            .where(rounds.c.status != "active")
            .group_by(rounds.c.player_id)
            .having(and_(total >= FEW_POINTS_MIN_ROUNDS, few >= total * FEW_POINTS_FRACTION)))


def _low_effort(scope: Scope, player_ids: list[int] | None) -> Select[Any]:
    """Per participant with enough ended study rounds of which at most half counted: the round
    counts by cause (the study's completion rule decides what counts)."""
    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    ended, counted = func.count(), count(counts_toward_study())
    query = (select(Round.player_id, ended, counted, count(Round.status == "skipped"),
                    count(Round.status == "abandoned"),
                    count(Round.status.in_(RESULTS) & Round.credited.is_(False)),
                    count(Round.status.in_(RESULTS) & Round.credited.is_(True)
                          & (Round.n_points < FEW_POINTS)))
             .where(*scope.round_conditions(), Round.study_id.is_not(None),
                    Round.status.not_in(("active", IMPORTED)))
             .group_by(Round.player_id)
             .having(and_(ended >= LOW_EFFORT_MIN_ROUNDS, counted * 2 <= ended)))
    if player_ids is not None:
        query = query.where(Round.player_id.in_(player_ids))
    return query


def _low_effort_detail(ended: int, counted: int, skipped: int, abandoned: int, uncredited: int,
                       few: int) -> str:
    causes = [f"{n} {what}" for n, what in ((skipped, "skipped"), (abandoned, "left unfinished"),
                                            (uncredited, "not credited"),
                                            (few, f"with fewer than {FEW_POINTS} points")) if n]
    return (f"{ended - counted} of {ended} study rounds did not count toward completion"
            f" ({', '.join(causes)})")


def _duplicate_ids(scope: Scope, player_ids: list[int] | None) -> Select[Any]:
    """Participants whose platform id has more than one attempt in their study, with the count."""
    attempts = (select(Player.study_id, Player.external_id, func.count().label("n"))
                .where(Player.study_id.is_not(None), Player.external_id.is_not(None))
                .group_by(Player.study_id, Player.external_id).having(func.count() > 1).subquery())
    query = (select(Player.id, attempts.c.n)
             .join(attempts, and_(attempts.c.study_id == Player.study_id,
                                  attempts.c.external_id == Player.external_id)))
    if scope.study is not None:
        query = query.where(Player.study_id == scope.study.id)
    elif scope.study_ids is not None:
        query = query.where(Player.study_id.in_(scope.study_ids))
    if player_ids is not None:
        query = query.where(Player.id.in_(player_ids))
    return query


def burst_threshold(study: Study | None) -> int:
    """New participants per hour from one address that count as a burst (0 = rule off). A study
    run in a lab or classroom, where everyone shares one address, sets it (or turns it off)."""
    if study is None:
        return BURST_PLAYERS_PER_HOUR
    return int((study.settings or {}).get("address_burst_per_hour", BURST_PLAYERS_PER_HOUR) or 0)


def _bursts(scope: Scope, player_ids: Iterable[int] | None) -> dict[int, Flag]:
    """Participants whose address had a burst of new participants or rounds in some hour, each
    judged by the threshold of their own study (players outside studies: the default)."""
    if scope.study is not None:
        studies = [scope.study]
    elif scope.study_ids is not None:  # a researcher's own studies
        studies = list(db.session.scalars(select(Study).where(Study.id.in_(scope.study_ids))))
    else:
        studies = list(db.session.scalars(select(Study)))
    groups: dict[int, list[int | None]] = {}
    for study in studies:
        groups.setdefault(burst_threshold(study), []).append(study.id)
    if scope.study is None and scope.study_ids is None:
        groups.setdefault(BURST_PLAYERS_PER_HOUR, []).append(None)
    found: dict[int, Flag] = {}
    for threshold, study_ids in groups.items():
        if threshold > 0:
            found.update(_bursts_at(scope, player_ids, threshold, study_ids))
    return found


def _bursts_at(scope: Scope, player_ids: Iterable[int] | None, threshold: int,
               study_ids: list[int | None]) -> dict[int, Flag]:
    hour_p = _hour(Player.created_at)
    busy_players = (select(Player.address_hash, hour_p.label("hour"), literal("participants").label("kind"),
                           func.count().label("n"))
                    .where(Player.address_hash.is_not(None))
                    .group_by(Player.address_hash, hour_p)
                    .having(func.count() >= threshold))
    hour_r = _hour(Round.started_at)
    rounds_limit = threshold * BURST_ROUNDS_PER_PERSON_HOUR
    busy_rounds = (select(Round.address_hash, hour_r.label("hour"), literal("rounds").label("kind"),
                          func.count().label("n"))
                   .where(Round.address_hash.is_not(None), *scope.round_conditions())
                   .group_by(Round.address_hash, hour_r)
                   .having(func.count() >= rounds_limit))
    busy: dict[str, str] = {}
    for address, hour, kind, n in db.session.execute(busy_players.union_all(busy_rounds)):
        limit = threshold if kind == "participants" else rounds_limit
        busy.setdefault(address, f"{n} {'new participants' if kind == 'participants' else 'rounds'} "
                                 f"from one address in the hour {str(hour)[:13]} (threshold {limit}; "
                                 "a lab study can raise it or turn the rule off in its settings)")
    members = select(Player.id, Player.address_hash).where(Player.address_hash.in_(list(busy)))
    if player_ids is not None:
        members = members.where(Player.id.in_(list(player_ids)))
    if scope.study is not None:
        members = members.where(Player.id.in_(select(Round.player_id).where(*scope.round_conditions())))
    else:  # all data: each participant under their own study's threshold
        in_study = [Player.study_id.in_([i for i in study_ids if i is not None])]
        if None in study_ids:
            in_study.append(Player.study_id.is_(None))
        members = members.where(or_(*in_study))
    return {pid: Flag("address_burst", busy[address]) for pid, address in db.session.execute(members)}


def flags_for(scope: Scope, player_ids: Iterable[int] | None = None) -> dict[int, list[Flag]]:
    """Flags by player id for everyone in ``scope`` (or only ``player_ids``, e.g. one page).

    Costs a fixed number of queries whatever the data size; the point rules aggregate
    `brush_point` in the database and only flagged player ids come back to Python."""
    ids = None if player_ids is None else list(player_ids)
    if ids is not None and not ids:
        return {}
    rounds = _scoped_rounds(scope, ids)
    stats = _point_stats(rounds)
    found: dict[int, list[Flag]] = {}

    def add(pid: int, flag: Flag) -> None:
        found.setdefault(pid, []).append(flag)

    for pid, count in db.session.execute(_too_fast(stats)):
        add(pid, Flag("too_fast", f"{count} round(s) brushed faster than 1 ms per point"))
    for pid, count in db.session.execute(_server_too_fast(stats)):
        add(pid, Flag("server_too_fast", f"{count} round(s) whose points reached the server faster "
                                         "than 1 ms per point"))
    for pid, count in db.session.execute(_implausible(rounds)):
        add(pid, Flag("implausible_input", f"{count} round(s) not credited: input no hand could "
                                           "draw by the time it arrived"))
    for pid, few, total in db.session.execute(_few_points(rounds)):
        add(pid, Flag("few_points", f"{few} of {total} rounds with fewer than {FEW_POINTS} points"))
    for pid, extra in db.session.execute(_repeated(stats)):
        add(pid, Flag("repeated_path", f"{extra} round(s) repeat an earlier identical path"))
    for pid, flag in _bursts(scope, ids).items():
        add(pid, flag)
    for pid, *counts in db.session.execute(_low_effort(scope, ids)):
        add(pid, Flag("low_effort", _low_effort_detail(*counts)))
    for pid, n in db.session.execute(_duplicate_ids(scope, ids)):
        add(pid, Flag("duplicate_id", f"this platform id has {n} attempts in the study (other "
                                      "browsers or devices); check them before approving"))
    return found


def flagged_player_ids(scope: Scope) -> list[int]:
    return sorted(flags_for(scope))
