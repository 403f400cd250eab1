"""Request-rate limits of the game API, per player and per client address.

One `limiter` (webapp/extensions.py) counts them, in the store ``RATELIMIT_STORAGE_URI`` names:
``memory://`` counts per process, so several gunicorn workers need a shared store such as
``redis://``. Limits come from the configuration at request time (``LIMIT_*`` settings, Flask-Limiter
syntax such as ``"20/second;600/minute"``). A refused request gets 429 JSON with ``Retry-After``;
the page's outbox retries those, so an honest player loses nothing.

The per-player key is the player's cookie id: a script that drops its cookie becomes a new
player, which the per-address limit (the address as `webapp/addresses.py` trusts it) still counts.

The WebSocket (`webapp/api/socket.py`) carries the same requests as the HTTP routes, so it counts
them against the same counters: every limit here is a Flask-Limiter *shared* limit with a fixed
scope, and `socket_refusal` hits the very keys the route decorators hit (key, scope), through the
limiter's own strategy and store. A player gains nothing by mixing the two transports.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from flask import Flask, current_app, session
from limits import RateLimitItem, parse_many

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


#: (setting, scope, whose key) of each limit, per kind of request
LIMITS = {
    "round_start": (("LIMIT_ROUND_STARTS", "round-starts/player", "player"),
                    ("LIMIT_ROUND_STARTS_PER_ADDRESS", "round-starts/address", "address")),
    "batch": (("LIMIT_BATCHES", "batches/player", "player"),
              ("LIMIT_BATCHES_PER_ADDRESS", "batches/address", "address")),
}


def _decorator(setting: str, scope: str, whose: str):  # noqa: ANN202 - a route decorator
    key_func = player_key if whose == "player" else client_address
    return limiter.shared_limit(_setting(setting), scope=scope, key_func=key_func)


#: route decorators: stack the per-player and the per-address one (both must allow a request)
round_starts_per_player, round_starts_per_address = (_decorator(*limit) for limit in LIMITS["round_start"])
batches_per_player, batches_per_address = (_decorator(*limit) for limit in LIMITS["batch"])


@lru_cache(maxsize=64)
def _items(value: str) -> list[RateLimitItem]:
    return parse_many(value)


def socket_refusal(kind: str, player_public_id: str, address: str) -> int | None:
    """Count one request of ``kind`` (``round_start`` or ``batch``) that came over the socket,
    against the same counters as the HTTP routes. Returns the seconds to wait (``Retry-After``)
    when a limit refuses it, else None."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    prefix = [config["RATELIMIT_KEY_PREFIX"]] if config.get("RATELIMIT_KEY_PREFIX") else []
    keys = {"player": f"player:{player_public_id}", "address": address}
    strategy = limiter.limiter
    for setting, scope, whose in LIMITS[kind]:
        for item in sorted(_items(str(config[setting]))):
            identifiers = (*prefix, keys[whose], scope)
            if not strategy.hit(item, *identifiers):
                reset = strategy.get_window_stats(item, *identifiers).reset_time
                return max(1, math.ceil(reset - time.time()))
    return None
