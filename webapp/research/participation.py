"""Recruited participation (Prolific): study link, consent, progress, completion, withdrawal.

Flow: Prolific sends the participant to ``/study/<slug>?PROLIFIC_PID=..&STUDY_ID=..&SESSION_ID=..``.
The id must have Prolific's format (24 hexadecimal characters). A browser that has not taken
part yet sees the consent page; the ids wait in the session until the consent form (a
CSRF-checked POST) creates the `Player`, binds it to this browser (`services.binding`) and makes
it the session's player. A link opened by GET therefore never swaps anyone's identity. A
participant who comes back in the same browser resumes with their rounds.

An id is not a password: it travels in links and screenshots. So the study link says nothing
about whether an id has joined (every browser not yet bound sees the same consent page), and
nobody can squat an id: a second browser with the same id starts an attempt of its own instead
of being refused, and the dashboard flags ids with more than one attempt
(`quality` ``duplicate_id``) for the researcher to review before approving anyone on Prolific.

After consent the game page runs in study mode (``/?study=<slug>``) and reads
``GET /study/<slug>/state``. After the last round the page posts how many points it sent per
round to ``POST /study/<slug>/complete``; only when the server holds all of them, and the
study's rounds were genuinely played (`services.rounds.rounds_played`), does it answer with the
completion URL, so nobody is paid for data that never arrived or for rounds skipped through.
"""

from __future__ import annotations

import re
from typing import Any

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request,
                   session, url_for)
from sqlalchemy import select

from ..extensions import csrf, db
from ..models import Player, Round, Study, utcnow
from ..services.binding import bind_to_this_browser, bound_participant, is_bound_here
from ..services.errors import ServiceError
from ..services.players import commit_new_player, new_player
from ..services.rounds import rounds_played
from .withdrawal import withdraw_player

participation_bp = Blueprint("study", __name__)

#: Prolific's participant ids are 24 hexadecimal characters (a made-up id is refused)
PROLIFIC_ID_RE = re.compile(r"^[0-9a-fA-F]{24}$")
#: what is kept of the platform's STUDY_ID and SESSION_ID (anything else is not stored)
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: session key of the platform ids from a study link, waiting for the consent form
PENDING_KEY = "study_entry"


def _study_or_404(slug: str) -> Study:
    study = db.session.scalar(select(Study).where(Study.slug == slug, Study.active.is_(True)))
    if study is None:
        abort(404)
    return study


def session_player() -> Player | None:
    """The session's player, if this browser may act as them (see `services.binding`)."""
    public_id = session.get("player")
    if not public_id:
        return None
    player = db.session.scalar(select(Player).where(Player.public_id == public_id))
    return player if player is not None and is_bound_here(player) else None


def _participant(study: Study) -> Player | None:
    """This browser's participant in this recruited study: the session's player if they belong
    to it, else the participant this browser holds the binding secret of."""
    player = session_player()
    if player is not None and player.study_id == study.id:
        return player
    return bound_participant(study.id)


def _platform_id(value: str | None) -> str | None:
    """A STUDY_ID or SESSION_ID worth keeping (short, safe characters), else None."""
    value = (value or "").strip()
    return value if EXTERNAL_ID_RE.match(value) else None


def _note_ids(player: Player, external_study: str | None, external_session: str | None) -> None:
    player.external_study_id = _platform_id(external_study) or player.external_study_id
    player.external_session_id = _platform_id(external_session) or player.external_session_id


def join_study(study: Study, pid: str, external_study: str | None,
               external_session: str | None) -> Player:
    """Create the participant bound to this browser and make them the session's player
    (commits). An id that already has an attempt in another browser gets a new attempt here:
    refusing it would let whoever used the id first lock its owner out. The game's pseudonym,
    address and creation rules apply, so participants look like any player."""
    player = new_player(study_id=study.id, external_id=pid)
    bind_to_this_browser(player)
    _note_ids(player, external_study, external_session)
    commit_new_player(player)
    return player


def rounds_target(study: Study) -> int:
    return int(study.settings.get("rounds_per_participant") or 0)


def _rounds(player: Player, study: Study) -> list[tuple[str, str, int]]:
    """(id, status, n_points) of the participant's rounds in this study."""
    rows = db.session.execute(select(Round.id, Round.status, Round.n_points)
                              .where(Round.player_id == player.id, Round.study_id == study.id))
    return [(r[0], r[1], r[2]) for r in rows]


def game_url(study: Study) -> str:
    return f"/?study={study.slug}"


def state(study: Study, player: Player) -> dict[str, Any]:
    """What the game page needs in study mode (read by static/js/study.js)."""
    return {"slug": study.slug, "name": study.name, "mode": study.mode,
            "rounds_total": rounds_target(study), "rounds_done": rounds_played(player, study),
            "consent_version": study.consent_version,
            "needs_consent": player.consent_version != study.consent_version,
            "completed": player.completed_at is not None,
            "complete_url": url_for("study.complete", slug=study.slug),
            "withdraw_url": url_for("study.withdraw")}


# --- pages ------------------------------------------------------------------------------------


@participation_bp.get("/study/<slug>")
def enter(slug: str) -> Any:
    """Entry link. Public studies are the open game; recruited ones need the platform's id."""
    study = _study_or_404(slug)
    if study.mode != "prolific":
        return _public_entry(study)
    pid = (request.args.get("PROLIFIC_PID") or "").strip()
    if pid:
        if not PROLIFIC_ID_RE.match(pid):
            return render_template("research/study_entry.html", study=study, problem="bad_id"), 400
        player = _participant(study)
        if player is None or player.external_id != pid:
            # Not taken part in this browser: nothing is stored and nobody's identity changes
            # until the consent form, and the page is the same whether or not the id has an
            # attempt elsewhere (no oracle).
            session[PENDING_KEY] = {"study": study.id, "pid": pid,
                                    "study_id": request.args.get("STUDY_ID"),
                                    "session_id": request.args.get("SESSION_ID")}
            return render_template("research/study_entry.html", study=study, problem=None,
                                   completed=False, state=_new_state(study))
        # A participant coming back in their own browser: resume.
        _note_ids(player, request.args.get("STUDY_ID"), request.args.get("SESSION_ID"))
        db.session.commit()
        session["player"] = player.public_id
    else:
        player = _participant(study)
        if player is None:
            return render_template("research/study_entry.html", study=study, problem="no_id"), 400
    if player.completed_at is not None:
        return render_template("research/study_entry.html", study=study, problem=None,
                               completed=True)
    if player.consent_version != study.consent_version:
        return render_template("research/study_entry.html", study=study, problem=None,
                               completed=False, state=state(study, player))
    return redirect(game_url(study))


def _new_state(study: Study) -> dict[str, Any]:
    """What the consent page says to someone who has not started yet."""
    return {"rounds_total": rounds_target(study), "rounds_done": 0}


def _public_entry(study: Study) -> Any:
    """Public studies are the open game with the site's own consent page in front of it (the
    game's API refuses rounds before consent, and sends such players back here)."""
    player = session_player()
    if player is None or player.consent_version != current_app.config["CONSENT_VERSION"]:
        return redirect(url_for("pages.consent", next=game_url(study)))
    return redirect(game_url(study))


@participation_bp.post("/study/<slug>/consent")
def consent(slug: str) -> Any:
    """The consent form (CSRF-protected) stores the study's consent version for this person."""
    study = _study_or_404(slug)
    player = _participant(study)
    pending = session.get(PENDING_KEY)
    if not (isinstance(pending, dict) and pending.get("study") == study.id):
        pending = None
    if player is None and pending is None:
        abort(403)
    if request.form.get("agree") != "yes":
        shown = state(study, player) if player is not None else _new_state(study)
        return render_template("research/study_entry.html", study=study, problem="no_consent",
                               completed=False, state=shown), 400
    if pending is not None and (player is None or player.external_id != pending.get("pid")):
        try:
            player = join_study(study, pending["pid"], pending.get("study_id"),
                                pending.get("session_id"))
        except ServiceError as exc:  # too many new players from this address
            db.session.rollback()
            abort(exc.status, description=exc.message)
        session.pop(PENDING_KEY, None)
    player.consent_version = study.consent_version
    player.consented_at = utcnow()
    db.session.commit()
    return redirect(game_url(study))


@participation_bp.get("/study/<slug>/state")
def study_state(slug: str) -> Any:
    study = _study_or_404(slug)
    player = _participant(study)
    if player is None:
        return jsonify(error="not a participant of this study"), 403
    return jsonify(state(study, player))


@participation_bp.post("/study/<slug>/complete")
@csrf.exempt
def complete(slug: str) -> Any:
    """Confirm every round is stored, then hand out the completion URL.

    Body: ``{"rounds": {"<round_id>": <points the page sent>, ...}}``. Rounds the page does not
    list (e.g. played before a reload) only need to be ended. Answer 409 with what is missing
    (``active_rounds``, ``unknown_rounds``, ``mismatched_rounds``, ``rounds_needed``) so the
    page can re-send and ask again. The cookie identifies the participant (SameSite=Lax keeps
    other sites from posting with it), which is why this JSON endpoint needs no form token."""
    study = _study_or_404(slug)
    player = _participant(study)
    if player is None:
        return jsonify(error="not a participant of this study"), 403
    body = request.get_json(silent=True)
    sent = body.get("rounds") if isinstance(body, dict) else None
    if not isinstance(sent, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in sent.items()):
        return jsonify(error='body must be {"rounds": {"<round_id>": <points sent>}}'), 400
    stored = {rid: (status, n) for rid, status, n in _rounds(player, study)}
    missing: dict[str, Any] = {
        "active_rounds": sorted(rid for rid, (status, _) in stored.items() if status == "active"),
        "unknown_rounds": sorted(rid for rid in sent if rid not in stored),
        "mismatched_rounds": [{"round_id": rid, "stored": stored[rid][1], "sent": count}
                              for rid, count in sorted(sent.items())
                              if rid in stored and stored[rid][1] != count],
        "rounds_needed": max(0, rounds_target(study) - rounds_played(player, study)),
    }
    if any(missing.values()):
        return jsonify(error="not all data is saved yet", **missing), 409
    if player.completed_at is None:
        player.completed_at = utcnow()
        db.session.commit()
    return jsonify(completed=True, completion_url=study.completion_url)


@participation_bp.route("/study/withdraw", methods=["GET", "POST"])
def withdraw() -> Any:
    """A participant deletes all of their data (confirmation page, then a CSRF-checked POST).
    Only the browser bound to a participant can do this (`session_player` checks it)."""
    player = session_player()
    if request.method == "GET":
        return render_template("research/withdraw.html", player=player, done=False)
    if player is not None:
        withdraw_player(player)
    session.pop("player", None)
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify(withdrawn=player is not None)
    return render_template("research/withdraw.html", player=None, done=True)
