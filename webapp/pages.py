"""The game's HTML pages: the game itself, consent, leaderboard, how-to and about.

Pages stay thin: they render a template and leave all game data to the JSON API (docs/API.md),
which the page's JavaScript (static/js) calls. Pages store nothing: a visitor becomes a player
(a row and a cookie) only by agreeing to the consent text, so the game page sends a visitor
without one to the consent page first (issue 21: a readiness poller or a crawler used to leave
a player row with an address hash per request).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from . import study_nav
from .redirects import is_local_path
from .services.players import current_player, player_summary
from .services.pseudonyms import PSEUDONYM_MAX

bp = Blueprint("pages", __name__)
# Study participants stay in their study on every page (links, banner): see webapp/study_nav.py.
bp.context_processor(study_nav.template_context)

#: the site icon (a yellow brush dot), also linked inline from base.html
FAVICON_SVG = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><circle cx='8' cy='8' "
               "r='6' fill='#ffc43d' stroke='#212b54' stroke-width='2.5'/></svg>")


@bp.before_request
def load_player() -> None:
    """The session's player, if the visitor has agreed to the consent (None otherwise)."""
    if request.endpoint == "pages.favicon":
        return
    g.player = current_player()


@bp.context_processor
def game_rules() -> dict[str, int]:
    """The rules the pages explain, from the same settings the server decides with."""
    return {"min_prob_percent": round(100 * float(current_app.config["RECOGNITION_MIN_PROB"])),
            "pseudonym_max": PSEUDONYM_MAX}


def _safe_next(target: str | None) -> str:
    """Only same-site paths may be a redirect target after consent (no open redirects)."""
    if is_local_path(target):
        return target
    return url_for("pages.game")


@bp.get("/")
def game() -> str | Response:
    """The game. A public player who has not agreed to the current consent version goes to the
    consent page first (recruited study players consent on their study's own entry page)."""
    player = g.player
    to_study = study_nav.redirect_to_study(player)
    if to_study is not None:  # a participant never plays outside their study
        return redirect(to_study)
    recruited = player is not None and player.study_id is not None and bool(request.args.get("study"))
    if not recruited and player_summary(player)["needs_consent"]:
        return redirect(url_for("pages.consent", next=request.full_path.rstrip("?")))
    return render_template("game/index.html", player=player)


@bp.get("/consent")
def consent() -> str:
    version = current_app.config["CONSENT_VERSION"]
    study = study_nav.recruited_study(g.player)
    if study is not None:  # a participant agreed to their study's text, not the open game's
        return render_template("game/consent.html", study=study)
    return render_template("game/consent.html", consent_version=version,
                           next_url=_safe_next(request.args.get("next")),
                           already=g.player is not None and g.player.consent_version == version)


@bp.get("/leaderboard")
def leaderboard() -> str:
    return render_template("game/leaderboard.html")


@bp.get("/how-to")
def how_to() -> str:
    return render_template("game/how_to.html")


@bp.get("/about")
def about() -> str:
    return render_template("game/about.html")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico regardless of the page's icon link."""
    return Response(FAVICON_SVG, mimetype="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})
