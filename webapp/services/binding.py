"""Binding a recruited participant to the browser that started their study.

Knowing someone's platform id (a PROLIFIC_PID travels in links, e-mails and screenshots) must
not be enough to read their progress, collect their completion URL or withdraw their data. So
when a participant joins, the server makes a random secret, keeps it in that browser's session
cookie (signed, HttpOnly, SameSite=Lax, Secure in production) and stores only its SHA-256 in
``Player.binding_hash``. Every study page, the game API and withdrawal accept a recruited player
only from a browser holding the secret; another browser with the same id gets a clear page.

Public players need no binding: their cookie is their identity and nothing links it to an id
someone else could know. Participants stored before bindings existed (``binding_hash`` NULL)
stay tied to the browser whose session already names them, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import session
from sqlalchemy import select

from ..extensions import db
from ..models import Player

#: session key holding ``{study id: secret}`` (one browser may take part in several studies)
SESSION_KEY = "study_keys"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bind_to_this_browser(player: Player) -> None:
    """Issue the participant's secret to this browser and store its hash (caller commits)."""
    secret = secrets.token_urlsafe(32)
    keys = dict(session.get(SESSION_KEY) or {})
    keys[str(player.study_id)] = secret
    session[SESSION_KEY] = keys
    player.binding_hash = _digest(secret)


def is_bound_here(player: Player) -> bool:
    """Whether this browser may act as ``player``."""
    if player.external_id is None:
        return True
    if player.binding_hash is None:
        return session.get("player") == player.public_id
    secret = (session.get(SESSION_KEY) or {}).get(str(player.study_id))
    return isinstance(secret, str) and hmac.compare_digest(_digest(secret), player.binding_hash)


def bound_participant(study_id: int) -> Player | None:
    """This browser's participant in the study, found by the secret it holds (whoever the
    session's current player is): a browser that took part in two studies resumes each."""
    secret = (session.get(SESSION_KEY) or {}).get(str(study_id))
    if not isinstance(secret, str):
        return None
    return db.session.scalar(select(Player).where(Player.study_id == study_id,
                                                  Player.binding_hash == _digest(secret)))
