"""Who may see which study: its owner, its collaborators and administrators (issue 20).

A study's owner is the researcher who made it (``Study.created_by``; on the command line
``studies create --owner NAME``); the owner or an administrator shares it with collaborators
(``studies share SLUG NAME``, or the study form). A researcher sees, edits and exports only the
studies they own or collaborate on; data outside any study (the open game) is for
administrators. Someone else's study answers exactly like a study that does not exist (404),
so its slug is not confirmed either.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import Select, or_, select

from ..extensions import db
from ..models import Player, Researcher, Round, Study, study_collaborators


def visible_studies(researcher: Researcher) -> Select:
    """SELECT of the studies ``researcher`` may see, ordered by slug."""
    query = select(Study).order_by(Study.slug)
    if researcher.is_admin:
        return query
    shared = select(study_collaborators.c.study_id).where(
        study_collaborators.c.researcher_id == researcher.id)
    return query.where(or_(Study.created_by == researcher.id, Study.id.in_(shared)))


def visible_study_ids(researcher: Researcher) -> tuple[int, ...] | None:
    """Ids of the studies ``researcher`` may see; None for an administrator (all data)."""
    if researcher.is_admin:
        return None
    return tuple(db.session.scalars(visible_studies(researcher).with_only_columns(Study.id)))


def may_see(researcher: Researcher, study: Study) -> bool:
    return (researcher.is_admin or study.created_by == researcher.id
            or any(c.id == researcher.id for c in study.collaborators))


def may_share(researcher: Researcher, study: Study) -> bool:
    """Only the owner (or an administrator) changes who else sees a study."""
    return researcher.is_admin or study.created_by == researcher.id


def study_or_404(researcher: Researcher, slug: str) -> Study:
    """The study named ``slug`` if ``researcher`` may see it, else 404."""
    study = db.session.scalar(select(Study).where(Study.slug == slug))
    if study is None or not may_see(researcher, study):
        abort(404)
    return study


def player_or_404(researcher: Researcher, player_id: int) -> Player:
    """A participant of one of ``researcher``'s studies, or a player with rounds in one (any
    player for an administrator)."""
    player = db.session.get(Player, player_id)
    if player is None:
        abort(404)
    if researcher.is_admin:
        return player
    ids = visible_study_ids(researcher) or ()
    played_there = db.session.scalar(select(Round.id).where(
        Round.player_id == player.id, Round.study_id.in_(ids)).limit(1))
    if player.study_id not in ids and played_there is None:
        abort(404)
    return player


def researchers_named(usernames: list[str]) -> list[Researcher]:
    """The accounts with these user names (blank entries ignored); ValueError for an unknown one."""
    names = sorted({name.strip() for name in usernames if name.strip()})
    found = list(db.session.scalars(select(Researcher).where(Researcher.username.in_(names))))
    missing = sorted(set(names) - {r.username for r in found})
    if missing:
        raise ValueError(f"unknown researchers: {', '.join(missing)}")
    return found


def set_collaborators(study: Study, usernames: list[str]) -> None:
    """Share ``study`` with exactly these researchers (ValueError for an unknown name); the
    caller commits."""
    study.collaborators = [r for r in researchers_named(usernames) if r.id != study.created_by]
