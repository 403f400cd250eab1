"""Recruited participation (Prolific): study link, consent, progress, completion, withdrawal.

Flow: Prolific sends the participant to ``/study/<slug>?PROLIFIC_PID=..&STUDY_ID=..&SESSION_ID=..``.
We find or create the `Player` for (study, PROLIFIC_PID) - so a participant who closes the tab
and comes back resumes with their rounds - and put it in the session cookie. After consent to
the study's consent version, the game page runs in study mode (``/?study=<slug>``) and reads
``GET /study/<slug>/state``. After the last round the page posts how many points it sent per
round to ``POST /study/<slug>/complete``; only when the server holds all of them does it answer
with the completion URL, so nobody is paid for data that never arrived.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request,
                   session, url_for)
from sqlalchemy import select

from ..extensions import csrf, db
from ..models import Player, Round, Study, utcnow
from ..services.players import address_hash, generate_pseudonym
from .withdrawal import withdraw_player

participation_bp = Blueprint("study", __name__)

#: Prolific ids are 24 hex characters; accept any short id of safe characters.
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ENDED = ("recognized", "timeout", "skipped")
#: session key holding a participant's platform ids between the study link and consent
PENDING = "pending_participant"


def _study_or_404(slug: str) -> Study:
    study = db.session.scalar(select(Study).where(Study.slug == slug, Study.active.is_(True)))
    if study is None:
        abort(404)
    return study


def session_player() -> Player | None:
    public_id = session.get("player")
    if not public_id:
        return None
    return db.session.scalar(select(Player).where(Player.public_id == public_id))


def _participant(study: Study) -> Player | None:
    """The session's player if they belong to this recruited study."""
    player = session_player()
    return player if player is not None and player.study_id == study.id else None


def find_participant(study: Study, pid: str) -> Player | None:
    return db.session.scalar(select(Player).where(Player.study_id == study.id, Player.external_id == pid))


def find_or_create_participant(study: Study, pid: str, external_study: str | None,
                               external_session: str | None) -> Player:
    """The participant's one `Player` in this study: resumed if they come back."""
    player = find_participant(study, pid)
    if player is None:
        # The game's own pseudonym and address rules, so participants look like any player
        # and address-burst checks compare like with like.
        player = Player(public_id=str(uuid.uuid4()), pseudonym=generate_pseudonym(),
                        study_id=study.id, external_id=pid, address_hash=address_hash(request))
        db.session.add(player)
    player.external_study_id = external_study or player.external_study_id
    player.external_session_id = external_session or player.external_session_id
    db.session.commit()
    return player


def rounds_target(study: Study) -> int:
    return int(study.settings.get("rounds_per_participant") or 0)


def _rounds(player: Player, study: Study) -> list[tuple[str, str, int]]:
    """(id, status, n_points) of the participant's rounds in this study."""
    rows = db.session.execute(select(Round.id, Round.status, Round.n_points)
                              .where(Round.player_id == player.id, Round.study_id == study.id))
    return [(r[0], r[1], r[2]) for r in rows]


def _pending_state(study: Study) -> dict[str, Any]:
    """What the consent page shows someone who has not agreed yet (and so has no data)."""
    return {"rounds_total": rounds_target(study), "rounds_done": 0}


def game_url(study: Study) -> str:
    return f"/?study={study.slug}"


def state(study: Study, player: Player) -> dict[str, Any]:
    """What the game page needs in study mode (read by static/js/study.js)."""
    done = sum(1 for _, status, _ in _rounds(player, study) if status in ENDED)
    return {"slug": study.slug, "name": study.name, "mode": study.mode,
            "rounds_total": rounds_target(study), "rounds_done": done,
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
        if not EXTERNAL_ID_RE.match(pid):
            return render_template("research/study_entry.html", study=study, problem="bad_id"), 400
        player = find_participant(study, pid)
        if player is None:
            # Nothing is stored before consent (not even the platform id, e.g. after a
            # withdrawal): the ids wait in the session until the consent form is sent.
            session[PENDING] = {"study": study.id, "pid": pid, "study_id": request.args.get("STUDY_ID"),
                                "session_id": request.args.get("SESSION_ID")}
            return render_template("research/study_entry.html", study=study, problem=None,
                                   completed=False, state=_pending_state(study))
        find_or_create_participant(study, pid, request.args.get("STUDY_ID"), request.args.get("SESSION_ID"))
        session["player"] = player.public_id
        session.permanent = True
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
    pending = session.get(PENDING)
    if player is None and not (isinstance(pending, dict) and pending.get("study") == study.id):
        abort(403)
    if request.form.get("agree") != "yes":
        return render_template("research/study_entry.html", study=study, problem="no_consent", completed=False,
                               state=state(study, player) if player else _pending_state(study)), 400
    if player is None:
        player = find_or_create_participant(study, pending["pid"], pending.get("study_id"),
                                            pending.get("session_id"))
        session.pop(PENDING, None)
        session["player"] = player.public_id
        session.permanent = True
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
        "rounds_needed": max(0, rounds_target(study)
                             - sum(1 for status, _ in stored.values() if status in ENDED)),
    }
    if any(missing.values()):
        return jsonify(error="not all data is saved yet", **missing), 409
    if player.completed_at is None:
        player.completed_at = utcnow()
        db.session.commit()
    return jsonify(completed=True, completion_url=study.completion_url)


@participation_bp.route("/study/withdraw", methods=["GET", "POST"])
def withdraw() -> Any:
    """A participant deletes all of their data (confirmation page, then a CSRF-checked POST)."""
    player = session_player()
    if request.method == "GET":
        return render_template("research/withdraw.html", player=player, done=False)
    if player is not None:
        withdraw_player(player)
    session.pop("player", None)
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify(withdrawn=player is not None)
    return render_template("research/withdraw.html", player=None, done=True)
