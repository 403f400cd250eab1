"""Registers the app's blueprints: game pages, the game's JSON API, and the research area."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from .api import bp as api_bp
    from .api.errors import register_app_handlers
    from .extensions import csrf
    from .pages import bp as pages_bp
    from .research import bp as research_bp

    # The JSON API authenticates with the session cookie (SameSite=Lax) or a bearer token and
    # takes no form posts, so it is exempt from form CSRF tokens; research forms keep them.
    csrf.exempt(api_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(research_bp, url_prefix="/research")
    register_app_handlers(app)

    from . import bench_stats
    bench_stats.register(app)
