"""Keeping a recruited participant inside their study, whatever they click.

A Prolific participant plays on the game page in study mode (``/?study=<slug>``). Every other
page of the site (how to play, leaderboard, about, consent) links back to the game; before, those
links dropped ``?study=``, the progress bar and the Withdraw link vanished, and the next rounds
were stored outside the study, never counting toward completion (issue 21). The rule now:

* Every link to the game a participant sees leads to their study's game page (`template_context`
  gives the templates ``play_url``), and ``/`` itself sends them there (`redirect_to_study`).
* Every page shows which study they are in, their progress and how to withdraw; links that
  leave the site open in a new tab and say so.
* The server attaches every round a participant starts to their study
  (`services.rounds.start_round`), whatever the page sends, so no round of theirs is ever
  stored outside it.

Recruited participants stay off the public leaderboard unless their study says otherwise in its
consent text (study setting ``leaderboard``; `on_public_leaderboard`).

A participant is a player bound to a recruited (non-public) study: `Player.study_id` is set
only when someone joins through a study link and consents (`research.participation`).
"""

from __future__ import annotations

from typing import Any

from flask import g, request, url_for
from markupsafe import Markup
from sqlalchemy import or_, select

from .extensions import db
from .models import Player, Study


def recruited_study(player: Player | None) -> Study | None:
    """The recruited study ``player`` takes part in, or None for an open-game player."""
    if player is None or player.study_id is None:
        return None
    study = db.session.scalar(select(Study).where(Study.id == player.study_id))
    return study if study is not None and study.mode != "public" else None


def study_game_url(study: Study) -> str:
    """The game page in study mode (static/js/game.js reads ``?study=``)."""
    return f"{url_for('pages.game')}?study={study.slug}"


def redirect_to_study(player: Player | None) -> str | None:
    """Where ``/`` must send a participant who arrived without (or with another) ``?study=``."""
    study = recruited_study(player)
    if study is None or request.args.get("study") == study.slug:
        return None
    return study_game_url(study)


#: attributes of a link that leaves the site, for a participant: a new tab, so the study stays
EXTERNAL_IN_NEW_TAB = Markup(' target="_blank" rel="noopener"')


def template_context() -> dict[str, Any]:
    """What the site's templates need to keep a participant in their study: ``play_url`` (the
    game, in study mode for a participant), ``study_nav`` (None for open-game players) and
    ``external_link_attrs`` for links that leave the site."""
    from .services.rounds import rounds_played

    player = getattr(g, "player", None)
    study = recruited_study(player)
    if study is None:
        return {"play_url": url_for("pages.game"), "study_nav": None, "external_link_attrs": ""}
    total = int(study.settings.get("rounds_per_participant") or 0)
    return {"play_url": study_game_url(study), "external_link_attrs": EXTERNAL_IN_NEW_TAB,
            "study_nav": {"name": study.name, "slug": study.slug, "rounds_total": total,
                          "rounds_done": min(rounds_played(player, study), total),
                          "completed": player.completed_at is not None,
                          "withdraw_url": url_for("study.withdraw")}}


def completion_rule() -> str:
    """The one completion rule in words (`services.rounds.study_credit` decides it): the study
    page, the dashboard and docs/run-a-study.md all say exactly this (a test holds them equal)."""
    from .services.rounds import MIN_POINTS_PER_STUDY_ROUND

    return ("A round counts toward completion when it ends with a result (the drawing was "
            "recognised, or the time ran out) from brush input the game credited, with at least "
            f"{MIN_POINTS_PER_STUDY_ROUND} brush points: a quick win always counts, a skip never does.")


def on_public_leaderboard() -> Any:
    """SQL condition on `Player`: open-game players, and recruited participants only of studies
    whose consent text says they appear on the leaderboard (setting ``leaderboard`` = 1)."""
    shown = [study.id for study in db.session.scalars(select(Study).where(Study.mode != "public"))
             if (study.settings or {}).get("leaderboard")]
    return or_(Player.external_id.is_(None), Player.study_id.in_(shown))
