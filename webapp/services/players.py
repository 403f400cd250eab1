"""Who the visitor is: a player bound to the signed session cookie, with a pseudonym.

A visitor is nobody until they agree to the consent text: pages and ``GET /api/me`` store
nothing, and the consent (``POST /api/consent``, or a study's consent form) creates the player
and its cookie (issue 21). Creating players is limited per client address class
(``LIMIT_NEW_PLAYERS_PER_ADDRESS``), and pseudonyms are unique as a reader sees them
(`services.pseudonyms`).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import uuid

from flask import Request, current_app, request, session
from limits import parse_many
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..addresses import address_class
from ..extensions import db, limiter
from ..models import Player, utcnow
from .binding import is_bound_here
from .errors import ServiceError
from .pseudonyms import clean_pseudonym, pseudonym_key
_ADJECTIVES = ["Swift", "Curious", "Bold", "Quiet", "Bright", "Lucky", "Clever", "Gentle", "Brave",
               "Sunny", "Witty", "Calm", "Eager", "Nimble", "Jolly", "Keen"]
_ANIMALS = ["Otter", "Falcon", "Panda", "Lynx", "Heron", "Koala", "Badger", "Gecko", "Marten",
            "Puffin", "Ibex", "Wombat", "Narwhal", "Tapir", "Fox", "Owl"]


def generate_pseudonym(rng: random.Random | None = None, digits: int = 2) -> str:
    """A friendly random name such as ``CleverOtter42`` (players may change it)."""
    rng = rng or random.SystemRandom()
    number = rng.randrange(10 ** (digits - 1), 10 ** digits)
    return f"{rng.choice(_ADJECTIVES)}{rng.choice(_ANIMALS)}{number}"


def address_hash(request: Request) -> str | None:
    """Salted SHA-256 of the client's address class (`addresses.address_class`: the address, or
    an IPv6 client's /64): lets quality checks spot bursts from one address without storing the
    address itself. ``X-Forwarded-For`` counts only behind trusted proxies
    (``webapp/addresses.py`` rewrites ``remote_addr`` then)."""
    address = request.remote_addr
    if not address:
        return None
    salt = current_app.config["SECRET_KEY"]
    return hashlib.sha256(f"{salt}|{address_class(address)}".encode()).hexdigest()


def current_player() -> Player | None:
    """The player of this session, if any (a recruited participant counts only in the browser
    they are bound to). A visitor becomes one by agreeing to the consent (`join`): nothing is
    stored about a visitor before they agree (issue 21)."""
    public_id = session.get("player")
    if public_id:
        player = db.session.scalar(select(Player).where(Player.public_id == public_id))
        if player is not None and is_bound_here(player):
            return player
    return None


def check_new_player_allowed() -> None:
    """429 (with Retry-After) when this client address class already made
    ``LIMIT_NEW_PLAYERS_PER_ADDRESS`` players (Flask-Limiter syntax); counts this one."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    key = address_class()
    strategy = limiter.limiter
    items = parse_many(str(current_app.config["LIMIT_NEW_PLAYERS_PER_ADDRESS"]))
    for item in items:
        if not strategy.test(item, "new-player", key):
            reset_at, _ = strategy.get_window_stats(item, "new-player", key)
            retry = max(1, math.ceil(reset_at - time.time()))
            raise ServiceError(f"too many new players from this address ({item}); try again in "
                               f"{retry} s", status=429, retry_after=retry)
    for item in items:
        strategy.hit(item, "new-player", key)


def new_player(**fields: object) -> Player:
    """A new `Player` for this request's client (added to the session's transaction, not
    committed: `commit_new_player`), under the per-address creation limit, with a generated
    pseudonym and nothing played yet."""
    check_new_player_allowed()
    name = generate_pseudonym()
    player = Player(public_id=str(uuid.uuid4()), pseudonym=name, pseudonym_key=pseudonym_key(name),
                    address_hash=address_hash(request), total_score=0, best_round=0,
                    rounds_played=0, **fields)
    db.session.add(player)
    return player


#: digits of the generated pseudonym's number after each clash (`commit_new_player`)
_RETRY_DIGITS = (2, 2, 4, 4, 6)


def commit_new_player(player: Player) -> dict:
    """Commit the transaction that adds ``player`` (`new_player`), make them the session's
    player, and return their summary (`player_summary`) as committed. The generated pseudonym
    is not looked up first: the unique pseudonym key refuses a taken one, and the player then
    gets another, with a longer number after two clashes.

    Everyone of a study launch joins within the same minutes, so a join is kept to one INSERT
    and one commit (docs/load.md): nothing is read back after it either."""
    public_id = player.public_id
    retries: list[int | None] = [*_RETRY_DIGITS, None]  # None: a name nobody else can hold
    while True:
        summary = player_summary(player)  # before the commit, which expires what it reads
        try:
            db.session.commit()
            break
        except IntegrityError:
            db.session.rollback()
            if not retries or not pseudonym_taken(player.pseudonym):
                raise
            digits = retries.pop(0)
            name = (generate_pseudonym(digits=digits) if digits is not None
                    else f"Player{uuid.uuid4().hex[:12]}")
            player.pseudonym, player.pseudonym_key = name, pseudonym_key(name)
            db.session.add(player)
    session["player"] = public_id
    session.permanent = True
    return summary


def join(version: str) -> dict:
    """Make this visitor a player who agreed to consent ``version`` (`check_consent_answer`), in
    one transaction; returns their summary."""
    return commit_new_player(new_player(consent_version=version, consented_at=utcnow()))


def pseudonym_taken(name: str, by_other_than: Player | None = None) -> bool:
    """Whether a player (other than ``by_other_than``) holds a name that reads like ``name``."""
    query = select(Player.id).where(Player.pseudonym_key == pseudonym_key(name))
    if by_other_than is not None:
        query = query.where(Player.id != by_other_than.id)
    return db.session.scalar(query.limit(1)) is not None


def rename(player: Player, value: object) -> None:
    """Give the player the pseudonym they chose (`pseudonyms.clean_pseudonym`), unless another
    player holds one that reads the same (409). Commits."""
    name = clean_pseudonym(value)
    if pseudonym_taken(name, by_other_than=player):
        raise ServiceError("that pseudonym is taken", status=409)
    player.pseudonym, player.pseudonym_key = name, pseudonym_key(name)
    try:
        db.session.commit()
    except IntegrityError:  # taken at the same moment by someone else
        db.session.rollback()
        raise ServiceError("that pseudonym is taken", status=409) from None


def check_consent_answer(version: object, agree: object) -> str:
    """The consent version agreed to, or `ServiceError` for a wrong answer (before anything is
    stored)."""
    required = current_app.config["CONSENT_VERSION"]
    if agree is not True:
        raise ServiceError("consent requires \"agree\": true")
    if version != required:
        raise ServiceError(f"consent version must be {required!r}", status=409)
    return required


def give_consent(player: Player, version: object, agree: object) -> None:
    """Record that the player agreed to the current consent text (its version is stored)."""
    player.consent_version = check_consent_answer(version, agree)
    player.consented_at = utcnow()
    db.session.commit()


def player_summary(player: Player | None) -> dict:
    """The player's public view (GET /api/me); a visitor who has not agreed yet has no player and
    sees ``needs_consent``."""
    required = current_app.config["CONSENT_VERSION"]
    if player is None:
        return {"pseudonym": None, "total_score": 0, "best_round": 0, "rounds_played": 0,
                "consent_version": None, "consent_required": required, "needs_consent": True}
    return {"pseudonym": player.pseudonym, "total_score": player.total_score,
            "best_round": player.best_round, "rounds_played": player.rounds_played,
            "consent_version": player.consent_version, "consent_required": required,
            "needs_consent": player.consent_version != required}
