"""Which network address a request comes from, and whom to believe about it.

A client can put anything in ``X-Forwarded-For``, so the header is honoured only when the app is
told how many reverse proxies of our own stand in front of it (``DA_TRUSTED_PROXY_HOPS``): then
werkzeug's ``ProxyFix`` takes the address that the nearest trusted proxy saw and puts it in
``request.remote_addr``. Everything that needs an address (rate limits, the per-address quality
flag) reads it here, so there is one rule for all of them.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix


def install_proxy_fix(app: Flask) -> None:
    """Trust ``X-Forwarded-For``/``-Proto`` from exactly ``TRUSTED_PROXY_HOPS`` proxies (0 = none)."""
    hops = int(app.config.get("TRUSTED_PROXY_HOPS", 0))
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0,
                                x_prefix=0)


def client_address() -> str:
    """The request's client address as far as the configured proxies vouch for it."""
    return request.remote_addr or "unknown"
