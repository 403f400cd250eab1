"""The hot path: every request about a round in a process goes through one tick loop.

A request thread (HTTP or WebSocket) hands its batch of brush points to `Pipeline.add_points`
(or its round start to `start_round`, its end of the round to `end_round`, its read to
`read_round`) and waits. Each tick takes every request that arrived meanwhile, in two stages on
two threads, so that one tick is written while the next is prepared:

1. the applier loads the rounds it has no `live.LiveRound` for (three reads for all of them),
   applies each request in arrival order (`brushing.apply_batch`: validation, anti-cheat, late
   points, skip, the revealed mask; `apply_end`, `apply_read`), guesses for every round with new
   points in one forward pass (`GuessService.top5_many`) and decides recognition by the
   server's clock, all with no transaction open, and hands the tick over;
2. the writer stores it in one transaction: the tick's round starts (`starting.start_rounds`)
   and its rounds' changes (`group_commit.write`), checking under the row locks that no round
   changed since it was read; then it answers each request, only after that commit.

Before, each batch ran its own two transactions, and one worker's CPU went to Flask, the ORM
and six to eight statements per batch, and each round start its own ORM transaction (docs/load.md
has the figures). Now the statements are shared by all requests of a tick, whose size grows with
the load: the busier the server, the cheaper each batch. New rounds go straight into the cache;
on SQLite the writer is the game's only writer, and on PostgreSQL each tick waits for one flush
of the log, not one per start and per batch. The applier runs at most one tick ahead, on the
entries the writer has not committed yet; if that commit fails, the entries are given up
(`LiveRound.stale`) and the requests of both ticks on them are replayed.

Rounds that changed elsewhere (another worker, the sweep for abandoned rounds, a withdrawal)
are caught by the version check: their entries are dropped, and their requests go to the front
of the queue to be replayed on freshly loaded rows. A request that keeps meeting such changes is
answered 503 (retry) after `MAX_ATTEMPTS`. A database error (or another worker inserting the
same new round id first) rolls the whole tick back and replays it, and fails its requests after
`MAX_ATTEMPTS`, with nothing acknowledged. A later batch of a round whose guess is in the
current tick waits for the next one, so a round's batches are decided in order.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from flask import Flask, current_app

from models import render

from ..database import begin_write
from ..extensions import db
from . import brushing, group_commit
from .clock import server_now
from .errors import ServiceError
from .group_commit import RoundWork
from .guessing import get_guess_service
from .live import LiveRound, LiveRounds, load_rounds
from .rounds import round_state
from .starting import Start, Started, start_rounds
from .stimuli import stimulus_view

#: times a batch is replayed after its round changed elsewhere (or the database failed)
MAX_ATTEMPTS = 5
#: an idle tick thread ends after this long and starts again with the next batch
IDLE_EXIT_S = 30.0
#: longest a request waits for its answer (a tick takes milliseconds; this is for a wedged one)
ANSWER_TIMEOUT_S = 60.0
#: seconds a 503 asks the client to wait
RETRY_AFTER_S = 1


@dataclass(eq=False)
class Job:
    """One request waiting for its tick: ``start`` (``payload`` is the request's body),
    ``points`` (the batch), ``end`` (``{"reason"}``) or ``read``."""

    kind: str
    player_id: int
    round_id: str
    payload: dict[str, Any]
    arrived: datetime
    future: Future = field(default_factory=Future)
    attempts: int = 0
    #: what applying it did (None until applied, or when it was refused)
    change: brushing.Change | None = None
    #: the round as the page will see it once committed (without the player's totals)
    state: dict[str, Any] | None = None
    error: BaseException | None = None


@dataclass
class Tick:
    """A tick between its two stages: the round starts to decide, and the requests applied (with
    each round's share) for the writer to store and answer."""

    starts: list[Job]
    ready: list[Job]
    works: dict[str, RoundWork]


class Pipeline:
    """The tick loop of one app in one process (see the module docstring)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.rounds = LiveRounds()
        self._queue: list[Job] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._handoff: queue.Queue[Tick] = queue.Queue(maxsize=1)
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._window_s = float(app.config["GUESS_BATCH_WINDOW_MS"]) / 1000.0
        self._max_jobs = int(app.config["GUESS_MAX_BATCH"])
        #: ticks run, requests answered in them, and requests replayed because their round had
        #: changed elsewhere (benchmarks and tests read them)
        self.ticks = 0
        self.requests = 0
        self.replays = 0

    # --- the request threads' side -------------------------------------------------------------

    def add_points(self, player_id: int, round_id: str, payload: dict[str, Any],
                   arrived: datetime) -> dict[str, Any]:
        """Apply a batch (``{"start_index", "points", "end"?}``) that arrived at ``arrived`` and
        return the round's state once it is committed; raises `ServiceError` for a refusal."""
        return self._submit(Job("points", player_id, round_id, payload, arrived))

    def end_round(self, player_id: int, round_id: str, reason: str) -> dict[str, Any]:
        """The page ends the round (``skip`` or ``timeout``, `brushing.apply_end`)."""
        return self._submit(Job("end", player_id, round_id, {"reason": reason}, server_now()))

    def read_round(self, player_id: int, round_id: str) -> dict[str, Any]:
        """The round's state (ended first if its time is over by the server's clock)."""
        return self._submit(Job("read", player_id, round_id, {}, server_now()))

    def start_round(self, player_id: int, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Start (or re-post) a round (`starting.start_rounds`); ``(state, 201 or 200)``. Starts
        run on the writer, all of a tick's in its one transaction: on SQLite the writer is then
        the game's only writer, so no start waits out another writer's lock (under load they
        did, for the 5 s busy timeout, and failed)."""
        return self._submit(Job("start", player_id, "", body, server_now()))

    def _submit(self, job: Job) -> Any:
        self._enqueue([job])
        return job.future.result(timeout=ANSWER_TIMEOUT_S)

    def revealed_image(self, round_id: str) -> np.ndarray | None:
        """What the classifier sees of the round now (None for an unknown round): the stimulus
        where the round's stored points revealed it, rebuilt from the database."""
        with db.engine.connect() as conn:
            live = load_rounds(conn, [round_id]).get(round_id)
        if live is None:
            return None
        return render.reveal(stimulus_view(live.stimulus_id).pixels, live.mask)

    def _enqueue(self, jobs: list[Job], front: bool = False) -> None:
        with self._cond:
            if front:
                self._queue[:0] = jobs
            else:
                self._queue.extend(jobs)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="batch-pipeline", daemon=True)
                self._thread.start()
            self._cond.notify()

    # --- the tick thread ----------------------------------------------------------------------

    def _take(self) -> list[Job] | None:
        """The next tick's batches: wait for one, then up to the window for company. None when
        idle long enough to end the thread (a new batch starts a new one)."""
        with self._cond:
            deadline = time.monotonic() + IDLE_EXIT_S
            while not self._queue:
                if not self._cond.wait(timeout=max(0.0, deadline - time.monotonic())) \
                        and not self._queue and time.monotonic() >= deadline:
                    self._thread = None
                    return None
            window_end = time.monotonic() + self._window_s
            while len(self._queue) < self._max_jobs:
                remaining = window_end - time.monotonic()
                if remaining <= 0 or not self._cond.wait(timeout=remaining):
                    break
            jobs, self._queue[:self._max_jobs] = self._queue[:self._max_jobs], []
            return jobs

    def _run(self) -> None:
        """The applier: takes each tick's requests, applies them and guesses, and hands the tick
        to the writer (`_write_loop`), then goes on with the next one while it commits."""
        with self.app.app_context():
            while (jobs := self._take()) is not None:
                self.ticks += 1
                try:
                    tick = self._prepare(jobs)
                except BaseException as exc:  # never leave a request waiting forever
                    for job in jobs:  # entries it may have half changed are read again
                        if (live := self.rounds.get(job.round_id)) is not None:
                            self._forget(live)
                    self._fail_unqueued(jobs, exc)
                    continue
                finally:
                    db.session.close()  # hold nothing between ticks
                self._hand_over(tick)

    def _prepare(self, jobs: list[Job]) -> Tick:
        """A tick's first stage, with no transaction open: apply its requests about live rounds,
        guess, and seal what each round's row and answers will be."""
        ready, waiting, works = self._apply_all([job for job in jobs if job.kind != "start"])
        self._guess([(works[job.round_id].live, job) for job in ready
                     if job.change is not None and job.change.image is not None])
        for work in works.values():
            work.seal()
        for job in ready:
            if job.error is None:
                live = works[job.round_id].live
                job.state = round_state(live, (0, 0))  # the totals come with the commit
        if waiting:
            self._enqueue(waiting, front=True)
        return Tick([job for job in jobs if job.kind == "start"], ready, works)

    def _hand_over(self, tick: Tick) -> None:
        """Queue the tick for the writer (waiting while the writer still has one queued: the
        applier runs at most one tick ahead), and make sure a writer runs."""
        self._handoff.put(tick)
        with self._writer_lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="batch-writer",
                                                daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        """The writer: stores each tick in one transaction and answers its requests."""
        with self.app.app_context():
            while True:
                try:
                    tick = self._handoff.get(timeout=IDLE_EXIT_S)
                except queue.Empty:
                    with self._writer_lock:
                        if self._handoff.empty():
                            self._writer = None
                            return
                    continue
                try:
                    self._store(tick)
                except BaseException as exc:  # never leave a request waiting forever
                    self._fail_unqueued(tick.starts + tick.ready, exc)
                finally:
                    db.session.close()

    def _store(self, tick: Tick) -> None:
        """A tick's second stage: its one transaction, then its answers."""
        if not (tick.starts or tick.works):
            self._answer(tick.ready, tick.works, group_commit.Committed(set(), {}))
            return
        try:
            started, committed = self._write(tick.starts, tick.works)
        except Exception as exc:  # the database failed: nothing of this tick is stored
            db.session.rollback()
            for work in tick.works.values():
                self._forget(work.live)
            self._retry_or_fail(tick.starts + tick.ready, exc)
        else:
            self._answer_starts(tick.starts, started)
            self._answer(tick.ready, tick.works, committed)

    def _forget(self, live: LiveRound) -> None:
        """Drop a round whose entry may not match the database (its tick failed, or another
        process changed it). A tick prepared meanwhile on the same entry replays too."""
        live.stale = True
        self.rounds.drop(live.id)

    def _fail_unqueued(self, jobs: list[Job], exc: BaseException) -> None:
        with self._cond:
            queued = set(map(id, self._queue))
        for job in jobs:
            if not job.future.done() and id(job) not in queued:
                job.future.set_exception(exc)

    def _apply_all(self, jobs: list[Job]) -> tuple[list[Job], list[Job], dict[str, RoundWork]]:
        """Apply the tick's requests about live rounds in arrival order, with no transaction
        open: ``(ready, waiting, works)``, where ``waiting`` are those of a round whose guess is
        already in this tick (they go to the next) and ``works`` each round's share."""
        lives = self._live_rounds({job.round_id for job in jobs}) if jobs else {}
        works: dict[str, RoundWork] = {}
        ready: list[Job] = []
        waiting: list[Job] = []
        held: set[str] = set()
        for job in jobs:
            if job.round_id in held:
                waiting.append(job)
                continue
            ready.append(job)
            job.change = None
            live = lives.get(job.round_id)
            if live is None:
                job.error = ServiceError("unknown round", status=404)
            elif live.player_id != job.player_id:
                job.error = ServiceError("this round belongs to someone else", status=403)
            else:
                work = works.setdefault(live.id, RoundWork.of(live))
                try:
                    job.change = self._apply(job, live)
                except ServiceError as exc:
                    job.error = exc
                    continue
                work.changes.append(job.change)
                if job.change.image is not None:
                    held.add(live.id)
        return ready, waiting, works

    def _write(self, starts: list[Job], works: dict[str, RoundWork]
               ) -> tuple[list[Started], group_commit.Committed]:
        """The tick's one transaction: its round starts, then its rounds' changes (one commit,
        so one flush of PostgreSQL's log, per tick)."""
        version = get_guess_service().version  # may load the classifier: before taking a lock
        begin_write()
        conn = db.session.connection()
        started = start_rounds(conn, [Start(job.player_id, job.payload) for job in starts], version)
        committed = group_commit.write(conn, works)
        db.session.commit()
        return started, committed

    def _answer_starts(self, jobs: list[Job], outcomes: list[Started]) -> None:
        for job, outcome in zip(jobs, outcomes):
            if outcome.error is not None:
                job.future.set_exception(outcome.error)
                continue
            if outcome.live is not None:
                self.rounds.put(outcome.live)
            job.future.set_result((outcome.state, outcome.status))
            self.requests += 1

    @staticmethod
    def _apply(job: Job, live: LiveRound) -> brushing.Change:
        if job.kind == "points":
            return brushing.apply_batch(live, job.payload, job.arrived)
        if job.kind == "end":
            return brushing.apply_end(live, job.payload["reason"])
        return brushing.apply_read(live)

    def _answer(self, ready: list[Job], works: dict[str, RoundWork],
                committed: group_commit.Committed) -> None:
        """Answer the tick's requests after its commit; replay those of rounds that changed."""
        for rid, work in works.items():
            if rid in committed.conflicts:
                self._forget(work.live)
            else:
                work.live.version = work.after_version
        replay = [job for job in ready if job.round_id in committed.conflicts]
        self.replays += len(replay)
        self._retry_or_fail(replay, ServiceError("this round keeps changing elsewhere: send the "
                                                 "batch again", status=503, retry_after=RETRY_AFTER_S))
        for job in ready:
            if job.round_id in committed.conflicts:
                continue
            if job.error is not None:
                job.future.set_exception(job.error)
                continue
            total, best = committed.totals[works[job.round_id].live.player_id]
            job.future.set_result({**job.state, "total_score": total, "best_round": best})
            self.requests += 1

    def _live_rounds(self, round_ids: set[str]) -> dict[str, LiveRound]:
        """The tick's rounds: cached entries, and the others loaded from the database."""
        lives = {rid: live for rid in round_ids if (live := self.rounds.get(rid)) is not None}
        missing = round_ids - lives.keys()
        if missing:
            with db.engine.connect() as conn:
                loaded = load_rounds(conn, missing)
            for live in loaded.values():
                self.rounds.put(live)
            lives.update(loaded)
        return lives

    def _guess(self, guessing: list[tuple[LiveRound, Job]]) -> None:
        """One forward pass for every image of the tick, then each round's decision. When the
        classifier fails, those batches fail (their points are still stored)."""
        if not guessing:
            return
        service = get_guess_service()
        try:
            answers = service.top5_many([job.change.image for _, job in guessing])
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            for _, job in guessing:
                job.error = exc
            return
        guessed_at = server_now()
        for (live, job), top5 in zip(guessing, answers):
            brushing.settle_guess(live, job.change, top5, guessed_at, service.version)

    def _retry_or_fail(self, jobs: list[Job], error: BaseException) -> None:
        """Replay ``jobs`` in the next tick, or fail those tried `MAX_ATTEMPTS` times."""
        again = []
        for job in jobs:
            job.attempts += 1
            job.error = None
            if job.attempts >= MAX_ATTEMPTS:
                job.future.set_exception(error)
            else:
                again.append(job)
        if again:
            self._enqueue(again, front=True)


_init_lock = threading.Lock()


def get_pipeline(app: Flask | None = None) -> Pipeline:
    """The app's pipeline (one per app and process, created on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    pipeline = app.extensions.get("pipeline")
    if pipeline is None:
        with _init_lock:
            pipeline = app.extensions.setdefault("pipeline", Pipeline(app))
    return pipeline
