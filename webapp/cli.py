"""Flask CLI commands (`flask --app wsgi ...`): stimulus sets and one-step setup.

`db ...` comes from Flask-Migrate; the research area adds `users`, `tokens`, `studies`,
`export` and `clicks`.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from .config import REPO_ROOT
from .extensions import db
from .models import Stimulus, StimulusSet
from .services.errors import ServiceError
from .services.stimuli import import_drawings, read_drawings

DEFAULT_SET_FILE = REPO_ROOT / "data" / "stimuli" / "quickdraw17_default.npz"
DEFAULT_SET_SOURCE = ("Quick, Draw! test-split drawings (Google Creative Lab, The Quick, Draw! Dataset, "
                      "CC BY 4.0); see data/README.md")

stimuli_cli = AppGroup("stimuli", help="Import and list stimulus sets.")


@stimuli_cli.command("import")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--set", "set_name", required=True, help="Stimulus set to add the drawings to.")
@click.option("--category", default=None, help="Category for files/folders that do not name one.")
@click.option("--description", default="", help="Description of a new set.")
@click.option("--source", default="", help="Source and licence note of a new set.")
def import_command(path: str, set_name: str, category: str | None, description: str, source: str) -> None:
    """Import drawings from PATH: .npy bitmaps, .ndjson strokes, .npz sets, or PNG/JPG folders.

    Everything is checked before anything is written; a bad file imports nothing.
    """
    try:
        drawings = read_drawings(path, category)
        stimulus_set, added = import_drawings(drawings, set_name, description, source)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(f"{set_name}: added {added} of {len(drawings)} drawings "
               f"({len(drawings) - added} already present)")
    _report_recognition(stimulus_set, [d.category for d in drawings])


def _report_recognition(stimulus_set: StimulusSet, categories: list[str]) -> None:
    """Check which of the set's drawings can be won, and warn about those that cannot: rounds on
    a category the classifier does not know, or on a drawing it does not recognise even fully
    revealed, can only end "Time's up"."""
    from .services.guessing import get_guess_service
    from .services.recognition import check_stimuli, unknown_categories

    unknown = unknown_categories(categories, get_guess_service().categories)
    if unknown:
        click.echo(f"WARNING: {len(unknown)} categor{'y' if len(unknown) == 1 else 'ies'} of this set "
                   f"the classifier does not know: {', '.join(unknown)}. No round on them can be "
                   "recognised (each ends as a timeout or a skip); use them in a study only if "
                   "that is what you want to measure.", err=True)
    counts = check_stimuli([stimulus_set.id])
    if counts["not_recognised"]:
        click.echo(f"WARNING: {counts['not_recognised']} of the set's {counts['total']} drawings are not "
                   "recognised even fully revealed (top-1 = category with p >= "
                   f"{current_app.config['RECOGNITION_MIN_PROB']}); the open game does not serve them, "
                   "and the research stimuli page marks them.", err=True)


@stimuli_cli.command("list")
def list_command() -> None:
    """Stimulus sets with their number of drawings and categories."""
    rows = db.session.execute(
        select(StimulusSet.name, func.count(Stimulus.id), func.count(func.distinct(Stimulus.category)))
        .outerjoin(Stimulus).group_by(StimulusSet.id).order_by(StimulusSet.name)).all()
    if not rows:
        click.echo("no stimulus sets")
    for name, n, n_categories in rows:
        click.echo(f"{name}\t{n} drawings\t{n_categories} categories")


@stimuli_cli.command("check")
@click.option("--set", "set_name", default=None, help="Only this set (default: every set).")
def check_command(set_name: str | None) -> None:
    """Recompute which drawings the classifier recognises fully revealed (after new weights)."""
    from .services.recognition import check_stimuli

    set_ids = None
    if set_name is not None:
        found = db.session.scalar(select(StimulusSet.id).where(StimulusSet.name == set_name))
        if found is None:
            raise click.ClickException(f"no stimulus set {set_name!r}")
        set_ids = [found]
    counts = check_stimuli(set_ids, recheck=True)
    click.echo(f"{counts['total']} drawings checked: {counts['not_recognised']} not recognised fully revealed")


@click.command("setup")
@with_appcontext
def setup_command() -> None:
    """Upgrade the database and import the shipped default stimulus set (safe to re-run)."""
    from flask_migrate import upgrade

    upgrade()
    name = current_app.config["DEFAULT_STIMULUS_SET"]
    drawings = read_drawings(DEFAULT_SET_FILE)
    stimulus_set, added = import_drawings(drawings, name, "Default game set", DEFAULT_SET_SOURCE)
    from .services.recognition import check_stimuli

    counts = check_stimuli([stimulus_set.id])
    left_out = (f"; {counts['not_recognised']} not recognised fully revealed, not served"
                if counts["not_recognised"] else "")
    click.echo(f"database ready; default set {name!r}: {added} new drawings{left_out}")


def register_cli(app: Flask) -> None:
    """Attach the project's command groups to the app."""
    from .services.expiry import rounds_cli

    app.cli.add_command(stimuli_cli)
    app.cli.add_command(setup_command)
    app.cli.add_command(rounds_cli)
