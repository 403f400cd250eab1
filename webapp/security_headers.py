"""Security headers on every response, set by flask-talisman.

* ``Content-Security-Policy``: scripts, styles, images and requests come from this site only
  (no inline scripts, inline styles or ``eval``; the favicon is a ``data:`` image), no plugins,
  no ``<base>`` tricks, forms post only here, and no other site may frame the pages.
  Browser tests load the game, study, consent and research pages in Chromium and fail on any
  reported violation, so the policy is one the pages really satisfy.
* ``X-Frame-Options: DENY`` (for browsers without ``frame-ancestors``), ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: same-origin`` (study links carry participant ids; they must not
  leak to other sites through the Referer).
* In production (``DA_ENV=production``): ``Strict-Transport-Security`` and ``Secure`` cookies.
  TLS is expected at a reverse proxy; with ``DA_TRUSTED_PROXY_HOPS`` set the app believes its
  ``X-Forwarded-Proto`` (webapp/addresses.py). The app itself never redirects to https.
"""

from __future__ import annotations

from flask import Flask

from .extensions import talisman

CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def install_security_headers(app: Flask) -> None:
    production = app.config["ENV_NAME"] == "production"
    talisman.init_app(
        app, force_https=False, content_security_policy=CSP, frame_options="DENY",
        referrer_policy="same-origin", strict_transport_security=production,
        session_cookie_secure=bool(app.config["SESSION_COOKIE_SECURE"]),
        session_cookie_http_only=True, session_cookie_samesite="Lax")
