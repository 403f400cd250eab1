"""Starting rounds: every round start of a pipeline tick in one transaction.

A round start decides a lot: is the id new or a re-post (idempotent; someone else's id is 409),
has the player consented (403), may they play this study (404/403) and have they rounds left
in it (409), are they under the active-round cap (429 with ``Retry-After``), and which drawing
comes next: the least-played of the active set, never the player's previous one (ties at
random). Done one start at a time through the ORM that took about thirteen statements, each
start's own write transaction and most of a millisecond of Python per statement, and with 200
players a start came every few batches: starts cost the worker more than the batches did.

`start_rounds` takes all the starts that arrived during one tick (`services.pipeline` runs them
on its thread, in the tick's one transaction) and makes the same decisions, in arrival order,
from a fixed number of reads: the players (locked in id order on PostgreSQL, so one
player's starts in several workers still run one after another and the cap holds), the ids
that already exist, the players' running rounds, their previous stimuli and the play counts
of the stimuli (`Stimulus.play_count`, `services.coverage`); then one INSERT of the new rounds
and one UPDATE of the counts. Starts decided earlier in the same call count for the
later ones (a player's second start sees the first as running and as their previous drawing;
the counts move). The sweep for abandoned rounds runs once per call, in the same transaction.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import numpy as np
from flask import current_app
from sqlalchemy import Connection, bindparam, func, insert, select

from models import render

from ..extensions import db
from ..models import Player, Round, Stimulus, Study
from .clock import server_now
from .coverage import add_plays
from .errors import ServiceError
from .expiry import deadline_ms, sweep_abandoned
from .live import LiveRound, load_rounds
from .rounds import round_state, rounds_played
from .sampling import least_played, pool_set_ids, study_stimulus_ids
from .stimuli import preload_stimulus_views, stimulus_view

#: what the page may report about its device (anything else is stored as unknown, None)
DEVICE_CLASSES = ("phone", "tablet", "desktop")
#: seconds a player at the active-round cap is told to wait (a round frees up within one timer)
RETRY_AFTER_S = 5

_P = Player.__table__
_R = Round.__table__
_S = Stimulus.__table__
_IDS = bindparam("ids", expanding=True)
_PLAYERS = (select(_P.c.id, _P.c.consent_version, _P.c.study_id, _P.c.address_hash,
                   _P.c.total_score, _P.c.best_round)
            .where(_P.c.id.in_(_IDS)).order_by(_P.c.id).with_for_update(of=_P))
_EXISTING = select(_R.c.id, _R.c.player_id).where(_R.c.id.in_(_IDS))
_numbered = (select(_R.c.player_id, _R.c.stimulus_id, _R.c.status, _R.c.started_at, _R.c.settings,
                    func.row_number().over(partition_by=_R.c.player_id,
                                           order_by=(_R.c.started_at.desc(), _R.c.id.desc())).label("n"))
             .where(_R.c.player_id.in_(_IDS)).subquery())
#: each player's active rounds, and their latest round (n = 1) whatever its status
_RUNNING_AND_PREVIOUS = select(_numbered).where((_numbered.c.status == "active") | (_numbered.c.n == 1))
_COUNTS = select(_S.c.id, _S.c.set_id, _S.c.play_count, _S.c.full_reveal_recognised).where(
    _S.c.set_id.in_(_IDS))
_INSERT = insert(_R)


@dataclass
class Start:
    """One round start as the page asked for it (``POST /api/rounds``)."""

    player_id: int
    body: dict[str, Any]


@dataclass
class Started:
    """A start's outcome: the round's state and 201 (new) or 200 (a re-post); the new round's
    entry for the hot path; or the refusal."""

    state: dict[str, Any] | None = None
    status: int = 0
    live: LiveRound | None = None
    error: Exception | None = None


def valid_round_id(value: object) -> str:
    if not isinstance(value, str):
        raise ServiceError("round_id must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ServiceError("round_id must be a UUID string") from None


def device_class(value: object) -> str | None:
    """The page's device class if it is one we know, else None (never an error: a missing or
    odd value must not stop anyone from playing; the analysis treats None as unknown)."""
    return value if isinstance(value, str) and value in DEVICE_CLASSES else None


def _settings(study: Study | None, width: int, height: int, model_version: str) -> dict[str, Any]:
    cfg = current_app.config
    overrides = study.settings if study is not None else {}
    timer_ms = int(overrides.get("timer_ms") or cfg["ROUND_TIMER_MS"])
    fraction = float(overrides.get("brush_fraction") or cfg["BRUSH_FRACTION"])
    return {"timer_ms": timer_ms, "brush_fraction": fraction,
            "brush_radius_px": render.brush_radius_px(width, height, fraction),
            "recognition_min_prob": float(cfg["RECOGNITION_MIN_PROB"]),
            "timeout_grace_ms": int(cfg["TIMEOUT_GRACE_MS"]),
            "width": width, "height": height, "model_version": model_version}


class _Decisions:
    """What one call has read and decided so far, shared by its starts in arrival order."""

    def __init__(self, conn: Any, starts: Sequence[Start], round_ids: list[str]) -> None:
        player_ids = sorted({s.player_id for s in starts})
        self.conn = conn
        self.players = {row.id: row for row in conn.execute(_PLAYERS, {"ids": player_ids})}
        self.owners = dict(conn.execute(_EXISTING, {"ids": round_ids}).all())
        self.created: dict[str, LiveRound] = {}
        self.running: Counter = Counter()
        self.previous: dict[int, int] = {}
        self.studies: dict[str, Study | None] = {}
        self.default_sets: list[int] | None = None
        self.counts: dict[int, int] = {}
        self.sets_of: dict[int, int] = {}
        #: drawings the classifier does not recognise even fully revealed (`services.recognition`)
        self.unwinnable: set[int] = set()
        self.sets_read: set[int] = set()
        self._player_ids = player_ids
        self._players_read = False

    def read_players_rounds(self) -> None:
        """The players' running rounds and previous stimuli (once, when a start needs them);
        the sweep for abandoned rounds goes first, as it changes the play counts."""
        if self._players_read:
            return
        self._players_read = True
        sweep_abandoned(commit=False)
        now = server_now()
        rows = self.conn.execute(_RUNNING_AND_PREVIOUS, {"ids": self._player_ids})
        for player_id, stimulus_id, status, started_at, settings, n in rows:
            if n == 1:
                self.previous[player_id] = stimulus_id
            if status == "active" and (now - started_at) / timedelta(milliseconds=1) <= deadline_ms(settings):
                self.running[player_id] += 1

    def study(self, slug: str) -> Study | None:
        if slug not in self.studies:
            self.studies[slug] = db.session.scalar(select(Study).where(Study.slug == slug))
        return self.studies[slug]

    def set_ids(self, study: Study | None) -> list[int]:
        if study is not None and study.stimulus_sets:
            return [s.id for s in study.stimulus_sets]
        if self.default_sets is None:
            self.default_sets = _default_set_ids()
        return self.default_sets

    def play_counts(self, set_ids: list[int]) -> dict[int, int]:
        missing = [sid for sid in set_ids if sid not in self.sets_read]
        if missing:
            for stimulus_id, set_id, count, winnable in self.conn.execute(_COUNTS, {"ids": missing}):
                self.counts[stimulus_id], self.sets_of[stimulus_id] = count, set_id
                if winnable is False:
                    self.unwinnable.add(stimulus_id)
            self.sets_read.update(missing)
            preload_stimulus_views(self.counts)
        wanted = set(set_ids)
        return {sid: n for sid, n in self.counts.items() if self.sets_of[sid] in wanted}


def _default_set_ids() -> list[int]:
    """The default stimulus set's id, read once per process: a set keeps its id for good (an
    import adds to it), so only its absence is worth asking about again."""
    name = current_app.config["DEFAULT_STIMULUS_SET"]
    known = current_app.extensions.setdefault("default_set_ids", {})
    if not known.get(name):
        known[name] = pool_set_ids([name])
    return known[name]


def _study_for(decisions: _Decisions, player: Any, slug: object) -> Study | None:
    """The study a new round belongs to. A recruited participant's rounds always belong to their
    own study (webapp/study_nav.py): a start without ``study`` is attached to it, and one naming
    another study is refused, so no round of theirs is ever stored outside it."""
    if player.study_id is not None:
        slug = _own_study_slug(player, slug)
    if slug is None:
        return None
    study = decisions.study(slug)  # type: ignore[arg-type]
    if study is None or not study.active:
        raise ServiceError(f"unknown or closed study {slug!r}", status=404)
    if study.mode != "public" and player.study_id != study.id:
        raise ServiceError("this study is for recruited participants: use your study link", status=403)
    if study.mode != "public":
        quota = int(study.settings.get("rounds_per_participant") or 0)
        if quota and rounds_played(db.session.get(Player, player.id), study) >= quota:
            raise ServiceError("all rounds of this study are done", status=409)
    return study


def _own_study_slug(player: Any, slug: object) -> object:
    """The study slug a participant's round start stands for: their own study's when the page
    named none, refused (403) when it named another one."""
    own = db.session.scalar(select(Study.slug).where(Study.id == player.study_id, Study.mode != "public"))
    if own is None or slug == own:
        return slug
    if slug is None:
        return own
    raise ServiceError(f"you are taking part in the study {own!r}: rounds of another study "
                       "or of the open game are not stored for you", status=403)


def _decide(decisions: _Decisions, start: Start, rid: str, version: str,
            rng: random.Random) -> dict[str, Any] | None:
    """The new round's row for one start, or None for a re-post; raises its refusal."""
    player = decisions.players.get(start.player_id)
    if player is None:  # withdrawn since the request was let in
        raise ServiceError("no player session: load the game page first", status=403)
    owner = decisions.owners.get(rid)
    if owner is not None:
        if owner != player.id:
            raise ServiceError("this round id belongs to someone else", status=409)
        return None
    if player.consent_version is None:
        raise ServiceError("consent required before playing", status=403)
    study = _study_for(decisions, player, start.body.get("study"))
    decisions.read_players_rounds()
    cap = int(current_app.config["MAX_ACTIVE_ROUNDS"])
    running = decisions.running[player.id]
    if running >= cap:
        raise ServiceError(f"you already have {running} rounds running (at most {cap}): "
                           "finish or skip one first", status=429, retry_after=RETRY_AFTER_S)
    set_ids = decisions.set_ids(study)
    if not set_ids:
        raise ServiceError("no stimulus set is active: import one with "
                           "`flask --app wsgi stimuli import`", status=409)
    counts = decisions.play_counts(set_ids)
    only = study_stimulus_ids(study)
    if only:
        counts = {sid: n for sid, n in counts.items() if sid in set(only)}
    # The open game serves no drawing that cannot be won; a study serves the ones it chose.
    chosen = least_played(counts, decisions.previous.get(player.id), rng,
                          decisions.unwinnable if study is None else ())
    stimulus = stimulus_view(chosen)
    decisions.counts[chosen] += 1
    decisions.running[player.id] += 1
    decisions.previous[player.id] = chosen
    decisions.owners[rid] = player.id
    return {"id": rid, "player_id": player.id, "stimulus_id": chosen, "started_at": server_now(),
            "study_id": study.id if study is not None else None, "category": stimulus.category,
            "status": "active", "model_version": version,
            "settings": _settings(study, stimulus.width, stimulus.height, version),
            "address_hash": player.address_hash, "device_class": device_class(start.body.get("device_class"))}


def start_rounds(conn: Connection, starts: Sequence[Start], version: str,
                 rng: random.Random | None = None) -> list[Started]:
    """Start (or answer re-posts of) ``starts`` in the write transaction open on ``conn``
    (the tick's: `database.begin_write`), in order; one `Started` each, valid once the caller
    has committed. New rounds get ``version`` (the classifier's) and a state with no guess and
    the player's totals as read under the lock.

    PostgreSQL lets another worker insert the same round id meanwhile (a page retrying over a
    flaky network reached both): its primary key admits one, the INSERT here raises
    `IntegrityError`, and the pipeline runs the tick again, where the id is a re-post."""
    rng = rng or random.SystemRandom()
    outcomes = [Started() for _ in starts]
    ids: dict[int, str] = {}
    for i, start in enumerate(starts):  # refusals that need no database
        try:
            rid = valid_round_id(start.body.get("round_id"))
            if start.body.get("study") is not None and not isinstance(start.body.get("study"), str):
                raise ServiceError("study must be a string or null")
        except ServiceError as exc:
            outcomes[i].error = exc
        else:
            ids[i] = rid
    if not ids:
        return outcomes
    decisions = _Decisions(conn, [starts[i] for i in ids], sorted(set(ids.values())))
    rows: list[dict[str, Any]] = []
    for i, rid in ids.items():
        try:
            row = _decide(decisions, starts[i], rid, version, rng)
        except ServiceError as exc:
            outcomes[i].error = exc
            continue
        if row is not None:
            rows.append(row)
            decisions.created[rid] = LiveRound.started(row, stimulus_view(row["stimulus_id"]))
            outcomes[i].live, outcomes[i].status = decisions.created[rid], 201
        else:
            outcomes[i].status = 200
    reposted = [rid for i, rid in ids.items()
                if outcomes[i].status == 200 and rid not in decisions.created]
    stored = load_rounds(conn, reposted) if reposted else {}
    totals = {pid: (row.total_score, row.best_round) for pid, row in decisions.players.items()}
    if rows:
        conn.execute(_INSERT, rows)
        add_plays([row["stimulus_id"] for row in rows])
    for i, rid in ids.items():
        outcome = outcomes[i]
        if outcome.error is not None:
            continue
        if outcome.live is not None:
            outcome.state = round_state(outcome.live, totals[outcome.live.player_id])
        else:
            live = decisions.created.get(rid) or stored[rid]
            outcome.state = round_state(live, totals[live.player_id])
    return outcomes
