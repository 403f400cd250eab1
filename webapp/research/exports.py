"""Streaming export writers: clicks.csv, rounds.csv, guesses.jsonl (maps and the bundle build on
them in `bundle.py`).

Each writer is a generator of ``bytes`` chunks over a `yield_per` query (a server-side cursor on
PostgreSQL), so an export of millions of points holds one batch of rows in memory, whether it
goes to an HTTP response or to a file from the CLI.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import Select, select

from ..extensions import db
from ..models import BrushPoint, Guess, Player, Round, Stimulus, StimulusSet, Study
from .codebook import header
from .codes import participant_code
from .filters import Scope

BATCH = 2000


@dataclass(frozen=True)
class ExportOptions:
    scope: Scope
    #: add the recruitment platform id (personal data) next to the pseudonymous code
    external_ids: bool = False


@dataclass
class Counter:
    """Rows written by a writer, filled in as it streams (for the bundle's manifest)."""

    rows: int = 0


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="milliseconds") if value else ""


def _base(options: ExportOptions, *columns: Any) -> Select[Any]:
    """Round-level columns joined with participant, stimulus and study, rows in scope only."""
    return (select(Study.slug, Player.public_id, Player.external_id, Round.id, Stimulus.key,
                   Round.category, *columns)
            .select_from(Round)
            .join(Player, Player.id == Round.player_id)
            .join(Stimulus, Stimulus.id == Round.stimulus_id)
            .outerjoin(Study, Study.id == Round.study_id)
            .where(Round.id.in_(options.scope.rounds())))


def _stream(query: Select[Any]) -> Iterator[Any]:
    yield from db.session.execute(query.execution_options(yield_per=BATCH))


def _csv_chunks(head: list[str], rows: Iterable[list[Any]], counter: Counter) -> Iterator[bytes]:
    """CSV text in chunks of about BATCH rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    for row in rows:
        writer.writerow(row)
        counter.rows += 1
        if counter.rows % BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _external(options: ExportOptions, external_id: str | None) -> list[str]:
    """The optional last column: the platform id, only when the researcher asked for it."""
    return [external_id or ""] if options.external_ids else []


def clicks_csv(options: ExportOptions, counter: Counter | None = None) -> Iterator[bytes]:
    """One row per brush point, in round order then point order."""
    counter = counter or Counter()
    query = (_base(options, BrushPoint.idx, BrushPoint.x, BrushPoint.y, BrushPoint.t_ms,
                   Round.device_class)
             .join(BrushPoint, BrushPoint.round_id == Round.id)
             .order_by(Round.started_at, Round.id, BrushPoint.idx))
    # repr() writes the shortest text that parses back to the identical float.
    rows = ([slug or "", participant_code(pub), rid, key, cat, idx, repr(x), repr(y), repr(t),
             device or "", *_external(options, ext)]
            for slug, pub, ext, rid, key, cat, idx, x, y, t, device in _stream(query))
    return _csv_chunks(header("clicks.csv", options.external_ids), rows, counter)


def rounds_csv(options: ExportOptions, counter: Counter | None = None) -> Iterator[bytes]:
    """One row per round with its outcome and the settings it ran with."""
    counter = counter or Counter()
    query = (_base(options, StimulusSet.name, Round.status, Round.points, Round.n_points,
                   Round.duration_ms, Round.started_at, Round.ended_at, Round.model_version,
                   Round.settings, Player.excluded, Round.credited, Round.flag_reason,
                   Round.dropped_points, Round.device_class)
             .join(StimulusSet, StimulusSet.id == Stimulus.set_id)
             .order_by(Round.started_at, Round.id))
    rows = ([slug or "", participant_code(pub), rid, key, set_name, cat, status, score, n_points,
             "" if duration is None else duration, _iso(started), _iso(ended), model,
             json.dumps(settings, sort_keys=True), int(excluded), int(credited), flag or "", dropped,
             device or "", *_external(options, ext)]
            for (slug, pub, ext, rid, key, cat, set_name, status, score, n_points, duration,
                 started, ended, model, settings, excluded, credited, flag, dropped, device)
            in _stream(query))
    return _csv_chunks(header("rounds.csv", options.external_ids), rows, counter)


def guesses_jsonl(options: ExportOptions, counter: Counter | None = None) -> Iterator[bytes]:
    """One JSON object per guess, in round order then guess order."""
    counter = counter or Counter()
    query = (_base(options, Guess.n_points, Guess.server_ms, Guess.client_t_ms, Guess.top5,
                   Guess.correct, Guess.model_version, Guess.created_at)
             .join(Guess, Guess.round_id == Round.id)
             .order_by(Round.started_at, Round.id, Guess.id))
    keys = header("guesses.jsonl", options.external_ids)
    lines: list[str] = []
    previous_round, index = None, 0
    for (slug, pub, ext, rid, key, cat, n_points, server_ms, client_t, top5, correct, model,
         created) in _stream(query):
        index = index + 1 if rid == previous_round else 0
        previous_round = rid
        values = [slug, participant_code(pub), rid, key, cat, index, n_points, server_ms, client_t,
                  top5, bool(correct), model, _iso(created)]
        record = dict(zip(keys, values))
        if options.external_ids:
            record["external_id"] = ext
        lines.append(json.dumps(record) + "\n")
        counter.rows += 1
        if len(lines) >= BATCH:
            yield "".join(lines).encode()
            lines = []
    yield "".join(lines).encode()


#: kind -> (file name, mimetype, writer)
WRITERS: dict[str, tuple[str, str, Callable[..., Iterator[bytes]]]] = {
    "clicks": ("clicks.csv", "text/csv", clicks_csv),
    "rounds": ("rounds.csv", "text/csv", rounds_csv),
    "guesses": ("guesses.jsonl", "application/x-ndjson", guesses_jsonl),
}
