"""State-changing requests only from this site's own pages (issue 20).

Cookies are ``SameSite=Lax``, which keeps them off cross-site POSTs but not off posts from
*same-site* pages (another port or subdomain of the same host), and a cross-site POST that
arrives without the cookie used to make the server create a new player and replace the
visitor's cookie. So every POST, PUT, PATCH and DELETE is checked before any view runs, before
any player is created or cookie set:

* ``Sec-Fetch-Site`` (sent by every current browser): only ``same-origin`` (and ``none``, a
  request the user started themselves) pass; ``same-site`` and ``cross-site`` are refused.
* Without it, ``Origin``: if sent, its host and port must be this request's ``Host``.
* Neither header: not a browser acting for someone (scripts, curl, the test client), which has
  no victim's cookie to abuse; it passes, and the JSON-only rule of the API still applies.

Refusals are 403, in JSON under ``/api/``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, request

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def cross_origin_reason(any_method: bool = False) -> str | None:
    """Why this request looks like it came from another site's page, or None. Only
    state-changing methods are judged, unless ``any_method`` (the game socket's handshake is a
    GET that opens a channel for state-changing messages, `webapp/api/socket.py`)."""
    if request.method not in UNSAFE_METHODS and not any_method:
        return None
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return None if site in ALLOWED_FETCH_SITES else f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower():
        return f"Origin: {origin}"
    return None


def install_same_origin_check(app: Flask) -> None:
    @app.before_request
    def refuse_cross_origin() -> None:
        reason = cross_origin_reason()
        if reason is not None:
            abort(403, description=f"requests that change something must come from this site's "
                                   f"own pages ({reason})")
