"""Researcher authentication: password login, sessions, API tokens and `researcher_required`.

Two ways in, one gate. Browsers log in with a password and get `session["researcher"]`;
scripts send `Authorization: Bearer <token>`, of which only the SHA-256 is stored so a leaked
database does not leak working tokens. Players share the same signed session cookie
(`session["player"]`) but that key grants nothing here.

A session also remembers a fingerprint of the password hash, so changing a password (or deleting
the account) ends every session that was opened with the old one.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from typing import Any, Callable, TypeVar, cast

from flask import (Response, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import ApiToken, Researcher, utcnow
from . import bp

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_PREFIX = "da_"
MIN_PASSWORD_LENGTH = 10
SESSION_KEY = "researcher"
SESSION_FINGERPRINT = "researcher_fp"


# --- accounts ---------------------------------------------------------------------------------


def create_researcher(username: str, password: str, is_admin: bool = False) -> Researcher:
    """Add an account; raises ValueError for a taken name or a weak password."""
    username = username.strip()
    if not username or len(username) > 64:
        raise ValueError("username must be 1-64 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(Researcher).where(Researcher.username == username)):
        raise ValueError(f"user {username!r} already exists")
    researcher = Researcher(username=username, password_hash=generate_password_hash(password),
                            is_admin=is_admin)
    db.session.add(researcher)
    db.session.commit()
    return researcher


def set_password(researcher: Researcher, password: str) -> None:
    """Replace the password; open sessions of this account stop working (fingerprint changes)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    researcher.password_hash = generate_password_hash(password)
    db.session.commit()


def authenticate(username: str, password: str) -> Researcher | None:
    """The account if the password matches, else None (same cost either way)."""
    researcher = db.session.scalar(select(Researcher).where(Researcher.username == username.strip()))
    if researcher is None:
        # Hash anyway so response time does not reveal which usernames exist.
        check_password_hash(generate_password_hash("x"), password)
        return None
    return researcher if check_password_hash(researcher.password_hash, password) else None


def _fingerprint(researcher: Researcher) -> str:
    return hashlib.sha256(researcher.password_hash.encode()).hexdigest()[:16]


def login_session(researcher: Researcher) -> None:
    """Mark this browser session as the researcher's (a player id in it stays untouched)."""
    session[SESSION_KEY] = researcher.id
    session[SESSION_FINGERPRINT] = _fingerprint(researcher)
    session.permanent = True


def logout_session() -> None:
    session.pop(SESSION_KEY, None)
    session.pop(SESSION_FINGERPRINT, None)


def session_researcher() -> Researcher | None:
    researcher_id = session.get(SESSION_KEY)
    if researcher_id is None:
        return None
    researcher = db.session.get(Researcher, researcher_id)
    if researcher is None or not hmac.compare_digest(session.get(SESSION_FINGERPRINT, ""),
                                                     _fingerprint(researcher)):
        logout_session()
        return None
    return researcher


# --- API tokens -------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(researcher: Researcher, name: str) -> tuple[ApiToken, str]:
    """A new token row and the plain token, which is shown once and never stored."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("token name must be 1-64 characters")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(researcher=researcher, name=name, token_hash=hash_token(plain))
    db.session.add(token)
    db.session.commit()
    return token, plain


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()


def token_researcher(header: str) -> Researcher | None:
    """The researcher behind a `Bearer` header with a live token, else None."""
    scheme, _, plain = header.partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain.strip())))
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    db.session.commit()
    return token.researcher


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
        g.researcher = token_researcher(header) if header else session_researcher()
    return cast("Researcher | None", g.researcher)


def researcher_required(view: F) -> F:
    """Let only researchers in. A sent but bad token is always 401, never a fallback to the
    session, so a script with a revoked token fails loudly."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_researcher() is not None:
            return view(*args, **kwargs)
        if request.headers.get("Authorization"):
            return _refuse("invalid or revoked token")
        if _is_browser_navigation():
            return redirect(url_for("research.login", next=request.full_path.rstrip("?")))
        return _refuse("login required")

    return cast(F, wrapped)


def _safe_next(target: str | None) -> str:
    """Only same-site research paths: a login form must not become an open redirect."""
    if target and target.startswith("/research") and not target.startswith("//"):
        return target
    return url_for("research.index")


# --- pages ------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        researcher = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if researcher is not None:
            login_session(researcher)
            return redirect(_safe_next(request.form.get("next")))
        flash("Unknown user or wrong password.", "error")
        return render_template("research/login.html", next=request.form.get("next", "")), 401
    return render_template("research/login.html", next=request.args.get("next", ""))


@bp.post("/logout")
def logout() -> Any:
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
