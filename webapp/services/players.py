"""Who the visitor is: a player bound to the signed session cookie, with a pseudonym."""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
import uuid

from flask import Request, current_app, session
from sqlalchemy import select

from ..extensions import db
from ..models import Player, utcnow
from .binding import is_bound_here
from .errors import ServiceError

PSEUDONYM_MAX = 24
_ADJECTIVES = ["Swift", "Curious", "Bold", "Quiet", "Bright", "Lucky", "Clever", "Gentle", "Brave",
               "Sunny", "Witty", "Calm", "Eager", "Nimble", "Jolly", "Keen"]
_ANIMALS = ["Otter", "Falcon", "Panda", "Lynx", "Heron", "Koala", "Badger", "Gecko", "Marten",
            "Puffin", "Ibex", "Wombat", "Narwhal", "Tapir", "Fox", "Owl"]


def generate_pseudonym(rng: random.Random | None = None) -> str:
    """A friendly random name such as ``CleverOtter42`` (players may change it)."""
    rng = rng or random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}{rng.choice(_ANIMALS)}{rng.randrange(10, 100)}"


def address_hash(request: Request) -> str | None:
    """Salted SHA-256 of the client address: lets quality checks spot bursts from one address
    without storing the address itself. ``X-Forwarded-For`` counts only behind trusted proxies
    (``webapp/addresses.py`` rewrites ``remote_addr`` then)."""
    address = request.remote_addr
    if not address:
        return None
    salt = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{salt}|{address}".encode()).hexdigest()


def current_player(create: bool = True) -> Player | None:
    """The player of this session, created (with a cookie) on first sight when ``create``.
    A recruited participant counts only in the browser they are bound to."""
    from flask import request

    public_id = session.get("player")
    if public_id:
        player = db.session.scalar(select(Player).where(Player.public_id == public_id))
        if player is not None and is_bound_here(player):
            return player
    if not create:
        return None
    player = Player(public_id=str(uuid.uuid4()), pseudonym=generate_pseudonym(),
                    address_hash=address_hash(request))
    db.session.add(player)
    db.session.commit()
    session["player"] = player.public_id
    session.permanent = True
    return player


def _control_class() -> str:
    """A regex character class body of every control, format and private-use character of the
    Basic Multilingual Plane (Unicode categories Cc, Cf, Co): invisible or direction-changing
    characters that would let a pseudonym impersonate another on the leaderboard. (Unpaired
    surrogates never get this far: `api.errors.json_body` refuses them as invalid text.)"""
    def escape(code: int) -> str:
        return f"\\u{code:04x}"

    parts = []
    for category in ("Cc", "Cf", "Co"):
        codes = [c for c in range(0x10000) if unicodedata.category(chr(c)) == category]
        start = codes[0]
        for prev, cur in zip(codes, codes[1:] + [None]):
            if cur != prev + 1:
                parts.append(escape(start) if start == prev else f"{escape(start)}-{escape(prev)}")
                start = cur
    return "".join(parts)


_C = _control_class()
#: A pseudonym: 1-24 characters after trimming surrounding whitespace, none of them a control or
#: format character. One regex for the server's check and the OpenAPI schema, so both agree.
PSEUDONYM_PATTERN = rf"^\s*[^\s{_C}](?:[^{_C}]{{0,{PSEUDONYM_MAX - 2}}}[^\s{_C}])?\s*$"


def clean_pseudonym(value: object) -> str:
    """Validate a pseudonym against `PSEUDONYM_PATTERN` and trim it (stored as given otherwise;
    pages escape it when they render it)."""
    if not isinstance(value, str):
        raise ServiceError("pseudonym must be a string")
    if re.fullmatch(PSEUDONYM_PATTERN, value) is None:
        raise ServiceError(f"pseudonym must be 1-{PSEUDONYM_MAX} printable characters")
    return value.strip()


def give_consent(player: Player, version: object, agree: object) -> None:
    """Record that the player agreed to the current consent text (its version is stored)."""
    required = current_app.config["CONSENT_VERSION"]
    if agree is not True:
        raise ServiceError("consent requires \"agree\": true")
    if version != required:
        raise ServiceError(f"consent version must be {required!r}", status=409)
    player.consent_version = required
    player.consented_at = utcnow()
    db.session.commit()


def player_summary(player: Player) -> dict:
    """The player's public view (GET /api/me)."""
    required = current_app.config["CONSENT_VERSION"]
    return {"pseudonym": player.pseudonym, "total_score": player.total_score,
            "best_round": player.best_round, "rounds_played": player.rounds_played,
            "consent_version": player.consent_version, "consent_required": required,
            "needs_consent": player.consent_version != required}
