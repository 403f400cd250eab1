"""Configuration read from environment variables (documented in the README).

Every setting has a safe default for the embedded SQLite game, so `make play` needs none.
`validate` refuses to start with an unknown ``DA_ENV`` (a typo such as ``Production`` must not
quietly run with development settings) and, in production, with a guessable `SECRET_KEY`.

The secret key signs every session cookie (players' identities, researchers' logins), so it is
never a value anyone else knows: without ``SECRET_KEY`` in the environment the first run writes
a random key to ``instance/secret_key`` (mode 0600; ``instance/`` is not in git) and every later
run, and every worker process, reads the same file (`instance_secret_key`).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from zxcvbn import zxcvbn

ENVIRONMENTS = ("development", "production")
#: a production key must be this long and take at least 10^38 guesses (about 126 bits) by
#: zxcvbn's estimate, which sees through sequences, repeats, keyboard walks and dictionary words
#: (``abcdefghijklmnopqrstuvwxyz012345``: 10^4.3); ``secrets.token_hex(32)`` estimates 10^64
MIN_SECRET_KEY_CHARS = 32
MIN_SECRET_KEY_GUESSES_LOG10 = 38.0
#: zxcvbn refuses longer input (and its cost grows with the length); the first this many
#: characters decide (a random key this long is far past the threshold already)
STRENGTH_CHARS = 72
#: where the generated key lives, relative to the instance folder (``DA_SECRET_KEY_FILE``
#: names another file)
SECRET_KEY_FILE = "secret_key"
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


def default_workers(config: dict[str, Any], cores: int | None = None) -> int:
    """gunicorn workers when ``DA_WORKERS`` does not say (gunicorn.conf.py): one per core, at
    most 8, on PostgreSQL with a shared rate-limit store; otherwise one.

    One process runs Python on one core at a time, and at 200 players one worker's core is the
    limit (docs/load.md). More workers need PostgreSQL (SQLite takes one writer at a time, and
    the pipeline is each process' only one) and a shared store for the rate limits: with
    ``memory://`` each worker counts for itself, so every limit would be multiplied by the
    number of workers.
    """
    if os.environ.get("DA_WORKERS"):
        return max(1, _int("DA_WORKERS", 1))
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite") \
            or str(config["RATELIMIT_STORAGE_URI"]).startswith("memory"):
        return 1
    return max(1, min(8, cores or os.cpu_count() or 1))


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
        # None: `create_app` reads (or creates) instance/secret_key, see `instance_secret_key`.
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "SECRET_KEY_FILE": os.environ.get("DA_SECRET_KEY_FILE") or str(Path(instance_path) / SECRET_KEY_FILE),
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
        # CPU threads of the classifier's forward passes (0: torch's default, one per core). The
        # game's model is tiny and its passes small: one thread finishes them without the other
        # threads' spin-waiting, which on a busy 2-core machine cost 10-50x the pass itself and
        # stole the cores the request threads need (docs/load.md).
        "CLASSIFIER_THREADS": _int("DA_CLASSIFIER_THREADS", 1),
        # The hot path's tick (webapp/services/pipeline.py): after a batch arrives, wait at most
        # this long for other players' batches to share its forward pass and transaction, and
        # take at most this many batches per tick.
        "GUESS_BATCH_WINDOW_MS": _float("DA_GUESS_BATCH_WINDOW_MS", 2.0),
        "GUESS_MAX_BATCH": _int("DA_GUESS_MAX_BATCH", 128),
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
        # The game socket (webapp/api/socket.py): at most this many open per process (each
        # holds a server thread; gunicorn.conf.py lowers it to the worker's threads minus those
        # kept for plain requests), closed after this many silent seconds, and the Retry-After
        # a page gets when none is free (it plays over HTTP meanwhile). Messages are limited
        # like request bodies.
        "MAX_SOCKETS": _int("DA_MAX_SOCKETS", 1000),
        # requests outside a round in play that run at once per process (0: no limit), the
        # longest one waits for its turn, and the share of the process they may take while
        # they queue (1: no pacing); webapp/admission.py
        "COLD_REQUESTS": _int("DA_COLD_REQUESTS", 1),
        "COLD_MAX_WAIT_MS": _float("DA_COLD_MAX_WAIT_MS", 2000.0),
        "COLD_CPU_SHARE": _float("DA_COLD_CPU_SHARE", 0.33),
        "SOCKET_IDLE_S": _float("DA_SOCKET_IDLE_S", 60.0),
        "SOCKET_RETRY_AFTER_S": _int("DA_SOCKET_RETRY_AFTER_S", 30),
        "SOCK_SERVER_OPTIONS": {"max_message_size": max_body_bytes()},
        # The public leaderboard lists a player after this many credited rounds, and at most this
        # many players per client address class (their best; 0 = no cap, e.g. a classroom).
        "LEADERBOARD_MIN_ROUNDS": _int("DA_LEADERBOARD_MIN_ROUNDS", 5),
        "LEADERBOARD_PER_ADDRESS": _int("DA_LEADERBOARD_PER_ADDRESS", 1),
        # New players (made by agreeing to the consent) per client address class (an IPv4
        # address, an IPv6 /64): a classroom behind one address fits, a script making thousands
        # of players does not.
        "LIMIT_NEW_PLAYERS_PER_ADDRESS": os.environ.get("DA_LIMIT_NEW_PLAYERS_PER_ADDRESS",
                                                        "30/minute;300/hour"),
        # Reverse proxies of our own in front of the app whose X-Forwarded-For is believed
        # (0: none, the header is ignored). See webapp/addresses.py.
        "TRUSTED_PROXY_HOPS": _int("DA_TRUSTED_PROXY_HOPS", 0),
        # Rate-limit counters (Flask-Limiter). memory-sweep:// (webapp/rate_store.py; memory://
        # works too, at more CPU) counts per process; use a shared store (e.g.
        # redis://127.0.0.1:6379) when running several gunicorn workers.
        "RATELIMIT_STORAGE_URI": os.environ.get("DA_RATELIMIT_STORAGE_URI", "memory-sweep://"),
        # what the counters' keys start with in a shared store (several games on one Redis)
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": os.environ.get("DA_RATELIMIT_KEY_PREFIX",
                                                                   "LIMITS")},
        "RATELIMIT_ENABLED": os.environ.get("DA_RATELIMIT_ENABLED", "1") != "0",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Benchmarks only: serve the micro-batcher's counters at /_bench/stats (off = no route).
        "EXPOSE_STATS": os.environ.get("DA_EXPOSE_STATS") == "1",
        # Login throttling (Flask-Limiter syntax). Per address class: every attempt; per account
        # and address class: failed attempts only, in widening windows, so each failure makes
        # the next wait longer (1 s, then the minute, the hour, the day) without ever throttling
        # the account's owner at another address.
        "LOGIN_LIMIT_ADDRESS": os.environ.get("DA_LOGIN_LIMIT_ADDRESS", "20 per minute; 100 per hour"),
        "LOGIN_LIMIT_ACCOUNT": os.environ.get("DA_LOGIN_LIMIT_ACCOUNT",
                                              "1 per second; 5 per minute; 20 per hour; 50 per day"),
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


def instance_secret_key(path: str | os.PathLike[str]) -> str:
    """The key in ``path``, created there first if missing: 64 random bytes (``secrets``), written
    to a private temporary file and linked into place, so concurrent first starts (several
    gunicorn workers) all end up reading the one key that won, and nobody reads half a file."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".secret_key.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(64) + "\n")
            try:
                os.link(tmp, target)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            os.unlink(tmp)
    key = target.read_text().strip()
    if not key:
        raise RuntimeError(f"{target} is empty; delete it to have a new key generated")
    return key


def key_guesses_log10(key: str) -> float:
    """zxcvbn's estimate of the guesses needed to find ``key`` (log10), on its first
    `STRENGTH_CHARS` characters."""
    if not key:
        return 0.0
    return float(zxcvbn(key[:STRENGTH_CHARS])["guesses_log10"])


def validate(config: dict[str, Any]) -> None:
    """Refuse unknown environments and, in production, a guessable secret key."""
    env = config.get("ENV_NAME")
    if env not in ENVIRONMENTS:
        raise RuntimeError(f"DA_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)} "
                           "(values are lowercase); refusing to start")
    if env != "production":
        return
    key = config.get("SECRET_KEY") or ""
    if len(key) < MIN_SECRET_KEY_CHARS or key_guesses_log10(key) < MIN_SECRET_KEY_GUESSES_LOG10:
        raise RuntimeError(
            f"DA_ENV=production refuses this SECRET_KEY: it must be at least "
            f"{MIN_SECRET_KEY_CHARS} characters and take 10^{MIN_SECRET_KEY_GUESSES_LOG10:g} "
            "guesses by zxcvbn's estimate. Unset SECRET_KEY to use the random key the app keeps "
            "in instance/secret_key, or make one with python -c 'import secrets; "
            "print(secrets.token_hex(32))'")
