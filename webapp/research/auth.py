"""Researcher authentication: password login, sessions, API tokens and `researcher_required`.

Two ways in, one gate. Browsers log in with a password and get `session["researcher"]`;
scripts send `Authorization: Bearer <token>`, of which only the SHA-256 is stored so a leaked
database does not leak working tokens. Players share the same signed session cookie
(`session["player"]`) but that key grants nothing here.

Sessions: a login stores the account's ``session_epoch`` and the login time in the (signed)
cookie. Logging out or changing the password bumps the epoch, which ends every session of that
account at once, including copies of the cookie saved elsewhere; a login also lapses after
``RESEARCHER_SESSION_HOURS`` although the cookie itself lives long for the player's sake.

Tokens are scoped (``ApiToken.scope``, see `TOKEN_SCOPES`): they can only *read* what their
scope names, never post a form, so a token cannot make tokens, edit studies or withdraw anyone.

Logins are throttled (Flask-Limiter, `webapp.extensions`) per client address class (every
attempt) and per account *and* address class (failed attempts only, in widening windows, so the
wait grows with every failure: 1 s after each, then the minute, the hour, the day). An
attacker's failures therefore slow the attacker's address for that account and never lock the
owner out from anywhere else; what stops guessing from many addresses is the password rule
(zxcvbn score >= 3, at least 10^8 guesses: `check_password_strength`). Password hashing runs
behind a small semaphore so a login flood cannot occupy the request threads the game needs;
unknown names cost exactly one hash, like known ones.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar, cast

from flask import (Flask, Response, current_app, flash, g, jsonify, redirect, render_template,
                   request, session, url_for)
from flask_limiter import RequestLimit
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from zxcvbn import zxcvbn

from ..addresses import address_class, client_address
from ..extensions import db, limiter
from ..models import ApiToken, Researcher, utcnow
from ..redirects import is_local_path
from . import bp

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_PREFIX = "da_"
MIN_PASSWORD_LENGTH = 10
#: zxcvbn's score a password needs: 3 = "safely unguessable" online, at least 10^8 guesses
MIN_PASSWORD_SCORE = 3
#: zxcvbn refuses longer input; a longer password is judged by its first this many characters
STRENGTH_CHARS = 72
SESSION_KEY = "researcher"
SESSION_EPOCH = "researcher_epoch"
SESSION_SINCE = "researcher_since"
#: what each token scope may read (endpoints, GET/HEAD only); a scope not listed reads nothing
TOKEN_SCOPES: dict[str, frozenset[str]] = {"export": frozenset({"research.export_file"})}
DEFAULT_TOKEN_SCOPE = "export"
#: an unknown user name is checked against this hash, so it costs one scrypt like a real one
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class HashBusy(Exception):
    """Every password-hash slot stayed taken for ``LOGIN_HASH_WAIT_S``."""


# --- accounts ---------------------------------------------------------------------------------


def check_password_strength(password: str, username: str = "") -> None:
    """ValueError unless the password has `MIN_PASSWORD_LENGTH` characters and zxcvbn (the same
    estimator that judges the secret key) scores it at least `MIN_PASSWORD_SCORE`, knowing the
    user name and this app's own words."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    result = zxcvbn(password[:STRENGTH_CHARS],
                    user_inputs=[username, "drawing", "attention", "research", "researcher"])
    if result["score"] < MIN_PASSWORD_SCORE:
        hint = " ".join(filter(None, [result["feedback"].get("warning"),
                                      *result["feedback"].get("suggestions", [])]))
        raise ValueError(f"password is too easy to guess (strength {result['score']} of 4, "
                         f"{MIN_PASSWORD_SCORE} needed){': ' + hint if hint else ''}")


def create_researcher(username: str, password: str, is_admin: bool = False) -> Researcher:
    """Add an account; raises ValueError for a taken name or a weak password."""
    username = username.strip()
    if not username or len(username) > 64:
        raise ValueError("username must be 1-64 characters")
    check_password_strength(password, username)
    if db.session.scalar(select(Researcher).where(Researcher.username == username)):
        raise ValueError(f"user {username!r} already exists")
    researcher = Researcher(username=username, password_hash=generate_password_hash(password),
                            is_admin=is_admin)
    db.session.add(researcher)
    db.session.commit()
    return researcher


def set_password(researcher: Researcher, password: str) -> None:
    """Replace the password and end every open session of this account."""
    check_password_strength(password, researcher.username)
    researcher.password_hash = generate_password_hash(password)
    researcher.session_epoch += 1
    db.session.commit()


def _lowest_cpu_priority() -> None:
    """Run this (hashing) thread at the lowest CPU priority. Linux applies a thread id given to
    setpriority to that thread alone; elsewhere it would renice the whole server, so skip."""
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def init_login_guard(app: Flask) -> None:
    """The app's password hashing: LOGIN_HASH_CONCURRENCY slots (a bounded semaphore) and as
    many low-priority threads that do the hashing, so game requests go first for the CPU."""
    slots = max(1, int(app.config["LOGIN_HASH_CONCURRENCY"]))
    app.extensions["login_hash_slots"] = threading.BoundedSemaphore(slots)
    app.extensions["login_hasher"] = ThreadPoolExecutor(
        max_workers=slots, thread_name_prefix="password-hash", initializer=_lowest_cpu_priority)


def _check_hash(stored: str, password: str) -> bool:
    """`check_password_hash` in a hashing slot, on a low-priority thread; raises `HashBusy`
    rather than wait longer than LOGIN_HASH_WAIT_S (default: not at all) for a slot.

    scrypt takes a core and ~32 MB for ~150 ms; without this bound, 16 concurrent logins take
    every CPU and request thread of a small server and the game's guesses queue behind them."""
    slots: threading.BoundedSemaphore = current_app.extensions["login_hash_slots"]
    if not slots.acquire(timeout=float(current_app.config["LOGIN_HASH_WAIT_S"])):
        raise HashBusy
    try:
        hasher: ThreadPoolExecutor = current_app.extensions["login_hasher"]
        return hasher.submit(check_password_hash, stored, password).result()
    finally:
        slots.release()


def authenticate(username: str, password: str) -> Researcher | None:
    """The account if the password matches, else None. Exactly one hash either way, so the
    response time does not tell which user names exist. Raises `HashBusy`."""
    researcher = db.session.scalar(select(Researcher).where(Researcher.username == username.strip()))
    matches = _check_hash(researcher.password_hash if researcher else _DUMMY_HASH, password)
    return researcher if researcher is not None and matches else None


def login_session(researcher: Researcher) -> None:
    """Mark this browser session as the researcher's (a player id in it stays untouched)."""
    session[SESSION_KEY] = researcher.id
    session[SESSION_EPOCH] = researcher.session_epoch
    session[SESSION_SINCE] = int(time.time())
    session.permanent = True


def logout_session() -> None:
    for key in (SESSION_KEY, SESSION_EPOCH, SESSION_SINCE):
        session.pop(key, None)


def end_all_sessions(researcher: Researcher) -> None:
    """Invalidate every session of the account (all browsers, all saved cookie copies)."""
    researcher.session_epoch += 1
    db.session.commit()


def session_researcher() -> Researcher | None:
    """The session's researcher while their login is current: same epoch, not too old."""
    researcher_id = session.get(SESSION_KEY)
    if researcher_id is None:
        return None
    researcher = db.session.get(Researcher, researcher_id)
    max_age = float(current_app.config["RESEARCHER_SESSION_HOURS"]) * 3600
    since = session.get(SESSION_SINCE)
    if (researcher is None or session.get(SESSION_EPOCH) != researcher.session_epoch
            or not isinstance(since, int) or time.time() - since > max_age):
        logout_session()
        return None
    return researcher


# --- API tokens -------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(researcher: Researcher, name: str,
                 scope: str = DEFAULT_TOKEN_SCOPE) -> tuple[ApiToken, str]:
    """A new token row and the plain token, which is shown once and never stored."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("token name must be 1-64 characters")
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"token scope must be one of {', '.join(TOKEN_SCOPES)}")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(researcher=researcher, name=name, token_hash=hash_token(plain), scope=scope)
    db.session.add(token)
    db.session.commit()
    return token, plain


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()


def live_token(header: str) -> ApiToken | None:
    """The unrevoked token of a `Bearer` header, else None."""
    scheme, _, plain = header.partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain.strip())))
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    db.session.commit()
    return token


def token_allows(token: ApiToken) -> bool:
    """Whether this request is inside the token's scope: a read of an endpoint it names."""
    return (request.method in ("GET", "HEAD")
            and request.endpoint in TOKEN_SCOPES.get(token.scope, frozenset()))


# --- the gate ---------------------------------------------------------------------------------


def _is_browser_navigation() -> bool:
    """Browsers loading a page name text/html in Accept and get the login page; scripts
    (curl sends */*), fetch() calls and token holders get a 401 they can act on."""
    return ("text/html" in (request.headers.get("Accept") or "")
            and not request.headers.get("Authorization") and request.method == "GET")


def _refuse(message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="research"'
    return response


def current_researcher() -> Researcher | None:
    """Who is asking: a token (if an Authorization header is sent) or the session's login."""
    if "researcher" not in g:
        header = request.headers.get("Authorization")
        g.api_token = live_token(header) if header else None
        g.researcher = (g.api_token.researcher if g.api_token else None) if header \
            else session_researcher()
    return cast("Researcher | None", g.researcher)


def researcher_required(view: F) -> F:
    """Let only researchers in. A sent but bad token is always 401, never a fallback to the
    session, so a script with a revoked token fails loudly; a good token outside its scope
    is 403."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_researcher() is not None:
            token = g.get("api_token")
            if token is not None and not token_allows(token):
                return jsonify(error=f"a {token.scope!r} token may only download exports; "
                                     "log in to do anything else"), 403
            return view(*args, **kwargs)
        if request.headers.get("Authorization"):
            return _refuse("invalid or revoked token")
        if _is_browser_navigation():
            return redirect(url_for("research.login", next=request.full_path.rstrip("?")))
        return _refuse("login required")

    return cast(F, wrapped)


def _safe_next(target: str | None) -> str:
    """Only same-site research paths: a login form must not become an open redirect."""
    if is_local_path(target, "/research"):
        return target
    return url_for("research.index")


# --- pages ------------------------------------------------------------------------------------


def _address_key() -> str:
    """Rate-limit key of every login attempt: the client's address class."""
    return "login-address:" + address_class()


def _account_address_key() -> str:
    """Rate-limit key of a failed login: the account it names (known or not: both count alike)
    together with the client's address class, so failures from one address never throttle the
    account's owner at another."""
    account = (request.form.get("username") or "").strip().lower()[:64]
    return f"login-account:{account}|{address_class()}"


def _log_throttled(limit: RequestLimit) -> None:
    log.warning("login throttled (%s) for account %r from %s", limit.limit,
                (request.form.get("username") or "")[:64], client_address())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ADDRESS"], key_func=_address_key,
               methods=["POST"], on_breach=_log_throttled,
               error_message="Too many login attempts; try again later.")
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ACCOUNT"], key_func=_account_address_key,
               methods=["POST"], deduct_when=lambda response: response.status_code == 401,
               on_breach=_log_throttled,
               error_message="Too many failed logins for this account from here; try again later.")
def login() -> Any:
    """Password login. Only failed attempts count toward the account-and-address limit."""
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            researcher = authenticate(username, request.form.get("password", ""))
        except HashBusy:
            log.warning("login refused, password hashing busy, from %s", client_address())
            flash("The server is busy; please try again in a moment.", "error")
            page = render_template("research/login.html", next=request.form.get("next", ""))
            return page, 503
        if researcher is not None:
            login_session(researcher)
            return redirect(_safe_next(request.form.get("next")))
        log.warning("failed login for account %r from %s", username[:64], client_address())
        flash("Unknown user or wrong password.", "error")
        return render_template("research/login.html", next=request.form.get("next", "")), 401
    return render_template("research/login.html", next=request.args.get("next", ""))


@bp.post("/logout")
def logout() -> Any:
    """Log out everywhere: every session of this account ends, not just this cookie."""
    researcher = session_researcher()
    if researcher is not None:
        end_all_sessions(researcher)
    logout_session()
    return redirect(url_for("research.login"))


@bp.route("/tokens", methods=["GET", "POST"])
@researcher_required
def tokens() -> Any:
    """List, create (the plain token is shown on this response only) and revoke tokens."""
    researcher = current_researcher()
    assert researcher is not None
    new_token = None
    if request.method == "POST":
        try:
            _, new_token = create_token(researcher, request.form.get("name", ""))
        except ValueError as exc:
            flash(str(exc), "error")
    rows = db.session.scalars(select(ApiToken).where(ApiToken.researcher_id == researcher.id)
                              .order_by(ApiToken.created_at.desc())).all()
    return render_template("research/tokens.html", tokens=rows, new_token=new_token)


@bp.post("/tokens/<int:token_id>/revoke")
@researcher_required
def revoke(token_id: int) -> Any:
    researcher = current_researcher()
    token = db.session.get(ApiToken, token_id)
    # Someone else's token looks exactly like a missing one.
    if token is None or researcher is None or token.researcher_id != researcher.id:
        return jsonify(error="no such token"), 404
    revoke_token(token)
    flash(f"Token {token.name!r} revoked.", "info")
    return redirect(url_for("research.tokens"))
