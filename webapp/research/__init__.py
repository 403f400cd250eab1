"""Research area: researcher accounts, studies, monitoring, exports, participation.

`bp` (mounted at /research) holds every researcher-only page and endpoint; each of them is
wrapped in `auth.researcher_required`, except the login form. Participant-facing study pages
live on a second blueprint at /study, and the CLI groups (`users`, `tokens`, `studies`,
`export`, `clicks`) are attached to the app. Both are added when `bp` is registered (a
`record_once` hook), so the app factory only needs to register `bp` itself.
"""

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

bp = Blueprint("research", __name__)

# Route modules register their views on `bp` as they are imported.
from . import auth, dashboard, downloads, studies, withdrawal  # noqa: E402,F401


@bp.context_processor
def _researcher() -> dict[str, object]:
    from ..public_url import study_link

    return {"researcher": auth.current_researcher(), "study_link": study_link}


@bp.record_once
def _register_rest(state: BlueprintSetupState) -> None:
    from ..study_nav import completion_rule
    from . import cli
    from .participation import participation_bp

    # The completion rule in words, for the study page and the dashboard alike.
    state.app.add_template_global(completion_rule, "completion_rule")
    state.app.register_blueprint(participation_bp)
    auth.init_login_guard(state.app)
    cli.register(state.app)
