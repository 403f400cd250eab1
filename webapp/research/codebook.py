"""The codebook: every exported file and column, in one place.

Writers take their headers from here (so a column cannot exist without a description), and the
bundle's `codebook.md` / `codebook.csv` and the column tables of docs/data.md are rendered from
the same table (``.venv/bin/python scripts/write_codebook_docs.py`` rewrites the latter; a
test fails when they differ).
"""

from __future__ import annotations

import csv
import io

#: file -> [(column, type, description)]
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "clicks.csv": [
        ("study", "str", "study slug, empty for rounds played outside a study"),
        ("participant", "str", "pseudonymous participant code: 'p-' + 16 hex of SHA-256 of the "
                               "player's random id (stable across exports, not the platform id)"),
        ("round", "str", "round id (UUID made by the game page; for imported data a new UUID)"),
        ("stimulus", "str", "stimulus key, unique within its stimulus set (Stimulus.key)"),
        ("category", "str", "the stimulus' category (what the player was asked to show)"),
        ("point_index", "int", "0-based position of the brush point within its round"),
        ("x", "float", "brush point x in the stimulus' pixel frame (0 = left edge, width = right)"),
        ("y", "float", "brush point y in the stimulus' pixel frame (0 = top edge, height = bottom)"),
        ("t_ms", "float", "ms since the round started on the page clock (performance.now); 0 for "
                          "imported data without times"),
        ("device_class", "str", "phone | tablet | desktop as the game page reported it (a coarse "
                                "pointer with a short screen side under 600 px is a phone, 600 px "
                                "or more a tablet, a fine pointer a desktop); empty if unknown"),
        ("external_id", "str", "recruitment platform id (PROLIFIC_PID); only in exports made "
                               "with include_external_ids"),
    ],
    "rounds.csv": [
        ("study", "str", "study slug, empty outside a study"),
        ("participant", "str", "pseudonymous participant code (as in clicks.csv)"),
        ("round", "str", "round id"),
        ("stimulus", "str", "stimulus key"),
        ("stimulus_set", "str", "name of the stimulus set the stimulus belongs to"),
        ("category", "str", "stimulus category"),
        ("status", "str", "recognized | timeout | skipped | abandoned (left by its page, ended by "
                          "the server; not a played round) | active (not ended yet) | imported"),
        ("score", "int", "game points the round earned (0 unless recognised)"),
        ("n_points", "int", "number of brush points stored for the round"),
        ("duration_ms", "int", "server-measured ms from round start to its end (empty if none)"),
        ("started_at", "datetime", "round start, UTC, ISO 8601"),
        ("ended_at", "datetime", "round end, UTC, ISO 8601 (empty if never ended)"),
        ("model_version", "str", "classifier version that guessed ('legacy-import' for imports)"),
        ("settings", "json", "settings the round ran with (timer_ms, brush_fraction, "
                             "brush_radius_px, recognition_min_prob, width, height, ...)"),
        ("excluded", "bool", "1 if a researcher excluded the participant (only exported on request)"),
        ("credited", "bool", "1 if the round counted for the player (leaderboard); 0 when the server "
                             "did not believe its input (see flag_reason) or it was abandoned"),
        ("flag_reason", "str", "why the server did not believe the round's input: the rule "
                               "(t_ms_ahead_of_server | pointer_too_fast | ink_faster_than_server_clock) "
                               "and its figures; empty when plausible"),
        ("dropped_points", "int", "points the server refused because they arrived after the round's "
                                  "end + grace or were implausible (not in clicks.csv)"),
        ("device_class", "str", "phone | tablet | desktop (as in clicks.csv); empty if unknown"),
        ("external_id", "str", "recruitment platform id (PROLIFIC_PID); only in exports made "
                               "with include_external_ids"),
    ],
    "guesses.jsonl": [
        ("study", "str", "study slug or null"),
        ("participant", "str", "pseudonymous participant code"),
        ("round", "str", "round id"),
        ("stimulus", "str", "stimulus key"),
        ("category", "str", "stimulus category (the correct answer)"),
        ("guess_index", "int", "0-based order of the guess within its round"),
        ("n_points", "int", "brush points the classifier had seen when it guessed"),
        ("server_ms", "int", "server ms since round start when the guess was made"),
        ("client_t_ms", "float", "page t_ms of the last point the guess saw (null if unknown)"),
        ("top5", "list", "five best labels, best first: [{\"label\": str, \"p\": probability}]"),
        ("correct", "bool", "true if the guess counted as recognition"),
        ("model_version", "str", "classifier version that made the guess"),
        ("created_at", "datetime", "UTC time the guess was stored, ISO 8601"),
    ],
    "maps.npz": [
        ("<stimulus_set>/<stimulus>", "float32[H,W]", "human importance map of the stimulus at "
         "its own resolution (analysis.maps), from the exported rounds with at least one point"),
        ("<stimulus_set>/<stimulus>.n_rounds", "int64[]", "number of rounds the map averages"),
    ],
    "heatmaps/<stimulus_set>/<stimulus>.png": [
        ("image", "png", "the human map drawn over the stimulus (colour = relative importance)"),
    ],
    "manifest.json": [
        ("created_at", "datetime", "when the bundle was made (UTC)"),
        ("filters", "object", "study, date range and exclusions the export was made with"),
        ("files", "object", "per file: rows (data rows or arrays/images), bytes, sha256"),
    ],
}


OPTIONAL = {"external_id"}


def header(file: str, external_ids: bool = False) -> list[str]:
    """Column names of ``file``; optional personal columns only when asked for."""
    return [column for column, _, _ in COLUMNS[file] if external_ids or column not in OPTIONAL]


def as_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "column", "type", "description"])
    for file, columns in COLUMNS.items():
        writer.writerows([file, *column] for column in columns)
    return out.getvalue()


def tables_markdown(level: int = 2) -> str:
    """One markdown table per file, each under a heading of ``level``."""
    lines: list[str] = []
    for file, columns in COLUMNS.items():
        lines += [f"{'#' * level} {file}", "", "| column | type | description |", "|---|---|---|"]
        lines += [f"| `{c}` | {t} | {d.replace('|', chr(92) + '|')} |" for c, t, d in columns]
        lines.append("")
    return "\n".join(lines)


def as_markdown() -> str:
    intro = ["# Codebook", "",
             "Every file of a Drawing Attention export and every column in it. Times are UTC; "
             "coordinates are in each stimulus' own pixel frame. Participants appear only as "
             "pseudonymous codes unless the export was asked to include platform ids "
             "(`external_id`).", ""]
    return "\n".join(intro) + "\n" + tables_markdown(2)


#: docs/data.md holds the tables between these two lines
DOCS_START = "<!-- codebook: generated from webapp/research/codebook.py, do not edit by hand -->"
DOCS_END = "<!-- codebook: end -->"


def docs_section() -> str:
    """What docs/data.md holds between its codebook markers."""
    return f"{DOCS_START}\n\n{tables_markdown(3)}\n{DOCS_END}"


def write_docs(path: str) -> bool:
    """Rewrite the codebook section of ``path``; True when it changed."""
    from pathlib import Path

    file = Path(path)
    text = file.read_text()
    start, end = text.index(DOCS_START), text.index(DOCS_END) + len(DOCS_END)
    new = text[:start] + docs_section() + text[end:]
    file.write_text(new)
    return new != text

