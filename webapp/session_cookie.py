"""The session cookie: Flask's signed cookie, not re-sent unchanged on every brush-point batch.

Sessions are permanent (a player's cookie lasts ``PERMANENT_SESSION_LIFETIME``, a year) and Flask
refreshes a permanent cookie on every request (``SESSION_REFRESH_EACH_REQUEST``): it serialises,
signs and sends the unchanged session again. A player sends several batches a second, so that was
a measurable share of the one worker's CPU per batch for a header that changes nothing but the
expiry date. Batches (`NO_REFRESH_ENDPOINTS`) now send the cookie only when the session changed;
every other request (the game page, ``/api/me``, starting and ending rounds) still refreshes it,
so a player who keeps playing keeps a cookie that ends a year after their last round started.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

#: endpoints that do not re-send an unchanged session cookie
NO_REFRESH_ENDPOINTS = frozenset({"api.post_points"})


class GameSessionInterface(SecureCookieSessionInterface):
    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if session.modified:
            return True
        return super().should_set_cookie(app, session) and request.endpoint not in NO_REFRESH_ENDPOINTS


def install_session_cookie(app: Flask) -> None:
    app.session_interface = GameSessionInterface()
