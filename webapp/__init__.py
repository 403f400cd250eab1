"""Drawing Attention web application: `create_app` builds a configured Flask app.

Follows Flask's tutorial shape: an app factory, extensions bound here, one blueprint per area
(`game` pages, `api` JSON for the game, `research` pages and endpoints) and CLI commands.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

from . import config as config_module
from .addresses import install_proxy_fix
from .extensions import csrf, db, limiter, migrate
from .security_headers import install_security_headers
from .same_origin import install_same_origin_check
from .session_cookie import install_session_cookie


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides environment settings (tests pass their database)."""
    repo = config_module.REPO_ROOT
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(repo / "templates"), static_folder=str(repo / "static"))
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(config_module.from_env(app.instance_path))
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_module.instance_secret_key(app.config["SECRET_KEY_FILE"])
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS",
                          config_module.engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    config_module.validate(app.config)
    from .public_url import validate as validate_public_url
    validate_public_url(app.config)

    from . import models  # noqa: F401  (registers the tables on db.metadata for Alembic)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(repo / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    from .api.limits import check_settings
    check_settings(app)
    install_proxy_fix(app)
    install_security_headers(app)
    install_session_cookie(app)
    install_same_origin_check(app)

    from .database import configure_engine_events
    with app.app_context():
        configure_engine_events(db.engine)

    from . import blueprints
    blueprints.register(app)

    from .cli import register_cli
    register_cli(app)
    from .admission import install_admission
    install_admission(app)  # last: it wraps every other layer
    return app
