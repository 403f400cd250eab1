"""Export page and download endpoints (browser session or `Authorization: Bearer` token).

    GET /research/export/<kind>?study=&start=&end=&exclude_flagged=1&include_external_ids=1

``kind`` is clicks, rounds, guesses, maps or bundle (``clicks.csv`` etc. also work). The
response streams straight from the database cursor (`stream_with_context` keeps the request's
session open while the generator runs).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, render_template, request, stream_with_context

from ..extensions import db
from . import bp
from .access import visible_studies
from .auth import current_researcher, researcher_required
from .bundle import KINDS, export_stream
from .exports import ExportOptions
from .filters import scope_from_args


def _kind(raw: str) -> str | None:
    if raw in KINDS:
        return raw
    return next((kind for kind, (name, _) in KINDS.items() if name == raw), None)


@bp.get("/export")
@researcher_required
def export_page() -> Any:
    studies = db.session.scalars(visible_studies(current_researcher())).all()
    return render_template("research/export.html", studies=studies, kinds=KINDS,
                           selected=request.args.get("study", ""))


@bp.get("/export/<kind>")
@researcher_required
def export_file(kind: str) -> Any:
    resolved = _kind(kind)
    if resolved is None:
        return jsonify(error=f"unknown export {kind!r}; one of {', '.join(KINDS)}"), 404
    try:
        scope = scope_from_args(request.args, current_researcher())
    except LookupError as exc:
        return jsonify(error=str(exc)), 404
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    options = ExportOptions(scope, external_ids=request.args.get("include_external_ids") == "1")
    name, mimetype = KINDS[resolved]
    prefix = scope.study.slug if scope.study else "all"
    response = Response(stream_with_context(export_stream(resolved, options)), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{prefix}-{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
