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


@click.command("setup")
@with_appcontext
def setup_command() -> None:
    """Upgrade the database and import the shipped default stimulus set (safe to re-run)."""
    from flask_migrate import upgrade

    upgrade()
    name = current_app.config["DEFAULT_STIMULUS_SET"]
    drawings = read_drawings(DEFAULT_SET_FILE)
    _, added = import_drawings(drawings, name, "Default game set", DEFAULT_SET_SOURCE)
    click.echo(f"database ready; default set {name!r}: {added} new drawings")


def register_cli(app: Flask) -> None:
    """Attach the project's command groups to the app."""
    from .services.expiry import rounds_cli

    app.cli.add_command(stimuli_cli)
    app.cli.add_command(setup_command)
    app.cli.add_command(rounds_cli)
