"""Request-rate limits of the game API, per player and per client address.

One `limiter` (webapp/extensions.py) counts them, in the store ``RATELIMIT_STORAGE_URI`` names:
``memory://`` counts per process, so several gunicorn workers need a shared store such as
``redis://``. Limits come from the configuration at request time (``LIMIT_*`` settings, Flask-Limiter
syntax such as ``"20/second;600/minute"``). A refused request gets 429 JSON with ``Retry-After``;
the page's outbox retries those, so an honest player loses nothing.

The per-player key is the player's cookie id: a script that drops its cookie becomes a new
player, which the per-address limit (the address as `webapp/addresses.py` trusts it) still counts.
"""

from __future__ import annotations

from flask import Flask, current_app, session
from limits import parse_many

from ..addresses import client_address
from ..extensions import limiter


def player_key() -> str:
    """Rate-limit key: the session's player, or the address for a visitor without one."""
    player = session.get("player")
    return f"player:{player}" if player else f"address:{client_address()}"


SETTINGS = ("LIMIT_ROUND_STARTS", "LIMIT_ROUND_STARTS_PER_ADDRESS", "LIMIT_BATCHES",
            "LIMIT_BATCHES_PER_ADDRESS", "LIMIT_NEW_PLAYERS_PER_ADDRESS")


def check_settings(app: Flask) -> None:
    """Refuse to start with a limit Flask-Limiter cannot read (it would fail every request)."""
    for name in SETTINGS:
        try:
            parse_many(str(app.config[name]))
        except ValueError:
            raise RuntimeError(f"DA_{name}={app.config[name]!r} is not a rate limit such as "
                               "'20/minute' or '20/second;600/minute'") from None


def _setting(name: str):  # noqa: ANN202 - returns a zero-argument callable for Flask-Limiter
    return lambda: current_app.config[name]


#: route decorators: stack the per-player and the per-address one (both must allow a request)
round_starts_per_player = limiter.limit(_setting("LIMIT_ROUND_STARTS"), key_func=player_key)
round_starts_per_address = limiter.limit(_setting("LIMIT_ROUND_STARTS_PER_ADDRESS"),
                                         key_func=client_address)
batches_per_player = limiter.limit(_setting("LIMIT_BATCHES"), key_func=player_key)
batches_per_address = limiter.limit(_setting("LIMIT_BATCHES_PER_ADDRESS"), key_func=client_address)
