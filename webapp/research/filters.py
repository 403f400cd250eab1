"""Which data a dashboard or export looks at: study, date range and participant exclusions.

One `Scope` is parsed from query strings, forms and CLI options alike, so "study X from May to
June without flagged participants" means the same rows on the page, in the CLI and in the
manifest of a bundle. A researcher's scope is limited to the studies they may see
(`research.access`): asking for another's study is "unknown study", and "all data" means all of
their own studies' data (administrators and the command line see everything).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import ColumnElement, Select, select

from ..extensions import db
from ..models import Player, Researcher, Round, Study


@dataclass(frozen=True)
class Scope:
    """A selection of rounds. ``end`` is exclusive; dates are UTC days."""

    study: Study | None = None
    start: date | None = None
    end: date | None = None
    #: also drop participants with an automatic data-quality flag (see quality.py)
    exclude_flagged: bool = False
    #: keep participants a researcher marked `excluded` (dropped by default)
    include_excluded: bool = False
    #: with no ``study``: only these studies' rounds (a researcher's own); None = all data
    study_ids: tuple[int, ...] | None = None

    def round_conditions(self) -> list[ColumnElement[bool]]:
        """WHERE terms on `Round` for study and dates (not participant exclusions)."""
        terms: list[ColumnElement[bool]] = []
        if self.study is not None:
            terms.append(Round.study_id == self.study.id)
        elif self.study_ids is not None:
            terms.append(Round.study_id.in_(self.study_ids))
        if self.start is not None:
            terms.append(Round.started_at >= datetime.combine(self.start, datetime.min.time()))
        if self.end is not None:
            terms.append(Round.started_at < datetime.combine(self.end, datetime.min.time()))
        return terms

    def rounds(self) -> Select[Any]:
        """SELECT of `Round` ids in scope, participant exclusions applied (a subquery)."""
        query = select(Round.id).where(*self.round_conditions())
        if not self.include_excluded:
            query = query.join(Player, Player.id == Round.player_id).where(Player.excluded.is_(False))
        if self.exclude_flagged:
            from .quality import flagged_player_ids
            flagged = flagged_player_ids(replace(self, exclude_flagged=False, include_excluded=True))
            if flagged:
                query = query.where(Round.player_id.not_in(flagged))
        return query

    def describe(self) -> dict[str, Any]:
        """JSON-ready description, for manifests and page headers."""
        described = {"study": self.study.slug if self.study else None,
                     "start": self.start.isoformat() if self.start else None,
                     "end_exclusive": self.end.isoformat() if self.end else None,
                     "exclude_flagged": self.exclude_flagged,
                     "include_excluded": self.include_excluded}
        if self.study is None and self.study_ids is not None:
            described["own_studies"] = len(self.study_ids)
        return described


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD") from None


def _flag(raw: Any) -> bool:
    return str(raw).lower() in ("1", "true", "on", "yes")


def scope_from_args(args: Mapping[str, Any], researcher: Researcher | None = None) -> Scope:
    """Parse ``study``, ``start``, ``end`` (inclusive day), ``exclude_flagged`` and
    ``include_excluded``; raise ValueError (shown to the user) or LookupError (unknown study, or
    one ``researcher`` may not see). Without ``researcher`` (the command line): all data."""
    from .access import may_see, visible_study_ids

    study = None
    slug = (args.get("study") or "").strip()
    if slug:
        study = db.session.scalar(select(Study).where(Study.slug == slug))
        if study is None or (researcher is not None and not may_see(researcher, study)):
            raise LookupError(f"unknown study {slug!r}")
    own = visible_study_ids(researcher) if researcher is not None and study is None else None
    start = _day(args.get("start"), "start")
    last = _day(args.get("end"), "end")
    end = last + timedelta(days=1) if last else None
    if start and end and end <= start:
        raise ValueError("end must not be before start")
    return Scope(study=study, start=start, end=end, exclude_flagged=_flag(args.get("exclude_flagged")),
                 include_excluded=_flag(args.get("include_excluded")), study_ids=own)
