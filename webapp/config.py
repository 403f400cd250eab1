"""Configuration read from environment variables (documented in the README).

Every setting has a safe default for the embedded SQLite game, so `make play` needs none.
`validate` refuses to start with an unknown ``DA_ENV`` (a typo such as ``Production`` must not
quietly run with development settings) and, in production, with a guessable `SECRET_KEY`.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-only-not-secret"
ENVIRONMENTS = ("development", "production")
#: a production key must be this long and carry at least this many bits by a per-character
#: entropy estimate (``secrets.token_hex(32)`` gives 64 characters, about 250 bits)
MIN_SECRET_KEY_CHARS = 32
MIN_SECRET_KEY_BITS = 128
REPO_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def max_body_bytes() -> int:
    """Largest request body the app reads (``DA_MAX_BODY_BYTES``); shared with gunicorn.conf.py."""
    return _int("DA_MAX_BODY_BYTES", 64 * 1024)


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy engine options for ``database_url``.

    A database server may drop idle connections (restarts, proxies, timeouts), so the pool
    pings a connection before handing it out. An SQLite file has no server and no idle
    connection to lose: a ping there is a wasted ``SELECT 1`` on every request, so it is
    skipped.
    """
    return {"pool_pre_ping": not database_url.startswith("sqlite")}


def from_env(instance_path: str) -> dict[str, Any]:
    """Settings for `create_app`, taken from the environment with defaults."""
    sqlite_path = Path(instance_path) / "drawing_attention.sqlite3"
    database_url = os.environ.get("DATABASE_URL", f"sqlite:///{sqlite_path}")
    # Heroku-style URLs say postgres://; SQLAlchemy wants an explicit driver.
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    production = os.environ.get("DA_ENV", "development") == "production"
    return {
        "ENV_NAME": os.environ.get("DA_ENV", "development"),
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Requests bigger than this are refused with 413 before any parsing.
        "MAX_CONTENT_LENGTH": max_body_bytes(),
        # Game settings (a study may override them).
        "ROUND_TIMER_MS": _int("DA_TIMER_MS", 15000),
        "BRUSH_FRACTION": _float("DA_BRUSH_FRACTION", 0.07),
        "TIMEOUT_GRACE_MS": _int("DA_TIMEOUT_GRACE_MS", 2000),
        "RECOGNITION_MIN_PROB": _float("DA_RECOGNITION_MIN_PROB", 0.5),
        "MAX_POINTS_PER_BATCH": _int("DA_MAX_POINTS_PER_BATCH", 512),
        "MAX_POINTS_PER_ROUND": _int("DA_MAX_POINTS_PER_ROUND", 5000),
        "DEFAULT_STIMULUS_SET": os.environ.get("DA_STIMULUS_SET", "quickdraw17-default"),
        "CONSENT_VERSION": os.environ.get("DA_CONSENT_VERSION", "2026-12-v2"),
        # The address participants use (e.g. https://draw.example.org): the base of every study
        # link (webapp/public_url.py). Unset: Flask's SERVER_NAME, else the researcher's request.
        "PUBLIC_URL": os.environ.get("DA_PUBLIC_URL") or None,
        # Classifier: weights folder (None = shipped weights) and device (None = auto).
        "CLASSIFIER_WEIGHTS": os.environ.get("DA_CLASSIFIER_WEIGHTS") or None,
        "CLASSIFIER_DEVICE": os.environ.get("DA_DEVICE") or None,
        # Micro-batching: wait at most this long to gather concurrent guess requests.
        "GUESS_BATCH_WINDOW_MS": _float("DA_GUESS_BATCH_WINDOW_MS", 5.0),
        "GUESS_MAX_BATCH": _int("DA_GUESS_MAX_BATCH", 64),
        # Anti-cheat (webapp/services/plausibility.py): how far a page's t_ms may run ahead of
        # the server's clock, and the fastest pointer a hand moves (canvas lengths per second).
        "CLOCK_TOLERANCE_MS": _int("DA_CLOCK_TOLERANCE_MS", 1000),
        "MAX_POINTER_SPEED": _float("DA_MAX_POINTER_SPEED", 10.0),
        # A round still active this long after its timer + grace was left by its page: it is
        # stored as `abandoned` (webapp/services/expiry.py).
        "ABANDON_AFTER_MS": _int("DA_ABANDON_AFTER_MS", 60000),
        # Game rate limits (Flask-Limiter syntax), per player and per client address, and the
        # most rounds one player may have running at once.
        "LIMIT_ROUND_STARTS": os.environ.get("DA_LIMIT_ROUND_STARTS", "20/minute"),
        "LIMIT_ROUND_STARTS_PER_ADDRESS": os.environ.get("DA_LIMIT_ROUND_STARTS_PER_ADDRESS", "300/minute"),
        "LIMIT_BATCHES": os.environ.get("DA_LIMIT_BATCHES", "20/second;600/minute"),
        "LIMIT_BATCHES_PER_ADDRESS": os.environ.get("DA_LIMIT_BATCHES_PER_ADDRESS", "200/second;12000/minute"),
        "MAX_ACTIVE_ROUNDS": _int("DA_MAX_ACTIVE_ROUNDS", 3),
        # Reverse proxies of our own in front of the app whose X-Forwarded-For is believed
        # (0: none, the header is ignored). See webapp/addresses.py.
        "TRUSTED_PROXY_HOPS": _int("DA_TRUSTED_PROXY_HOPS", 0),
        # Rate-limit counters (Flask-Limiter). memory:// counts per process; use a shared store
        # (e.g. redis://127.0.0.1:6379) when running several gunicorn workers.
        "RATELIMIT_STORAGE_URI": os.environ.get("DA_RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": os.environ.get("DA_RATELIMIT_ENABLED", "1") != "0",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Benchmarks only: serve the micro-batcher's counters at /_bench/stats (off = no route).
        "EXPOSE_STATS": os.environ.get("DA_EXPOSE_STATS") == "1",
        # Login throttling (Flask-Limiter syntax). Per address: every attempt; per account
        # name: failed attempts only, in widening windows, so guessing slows down step by step.
        "LOGIN_LIMIT_ADDRESS": os.environ.get("DA_LOGIN_LIMIT_ADDRESS", "20 per minute; 100 per hour"),
        "LOGIN_LIMIT_ACCOUNT": os.environ.get("DA_LOGIN_LIMIT_ACCOUNT",
                                              "5 per minute; 20 per hour; 50 per day"),
        # Password hashes (scrypt, ~150 ms of a core each) that may run at once, and how long a
        # login may wait for a free slot before it is told to come back (503). 0: no waiting,
        # so a flood never holds the request threads the game needs.
        "LOGIN_HASH_CONCURRENCY": _int("DA_LOGIN_HASH_CONCURRENCY", 1),
        "LOGIN_HASH_WAIT_S": _float("DA_LOGIN_HASH_WAIT_S", 0.0),
        # The session cookie is shared by players (kept a year, it is their identity) and
        # researchers, whose login lapses after this many hours whatever the cookie's age.
        "RESEARCHER_SESSION_HOURS": _float("DA_RESEARCHER_SESSION_HOURS", 12.0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "PERMANENT_SESSION_LIFETIME": 365 * 24 * 3600,
    }


def key_entropy_bits(key: str) -> float:
    """Estimated bits in ``key``: its length times the Shannon entropy of its characters. It
    cannot prove a key random, but it refuses short keys and repetitive ones like ``"x" * 40``."""
    if not key:
        return 0.0
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    return per_char * len(key)


def validate(config: dict[str, Any]) -> None:
    """Refuse unknown environments and, in production, a guessable secret key."""
    env = config.get("ENV_NAME")
    if env not in ENVIRONMENTS:
        raise RuntimeError(f"DA_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)} "
                           "(values are lowercase); refusing to start")
    if env != "production":
        return
    key = config.get("SECRET_KEY") or ""
    if (key == DEV_SECRET_KEY or len(key) < MIN_SECRET_KEY_CHARS
            or key_entropy_bits(key) < MIN_SECRET_KEY_BITS):
        raise RuntimeError(
            f"DA_ENV=production needs a random SECRET_KEY of at least {MIN_SECRET_KEY_CHARS} "
            "characters (e.g. python -c 'import secrets; print(secrets.token_hex(32))'); the "
            "one set is unset, the development default, too short or too repetitive")
