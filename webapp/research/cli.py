"""CLI command groups for researchers: `users`, `tokens`, `studies`, `export`, `clicks`.

    flask --app wsgi users create alice --password-stdin < pw.txt
    flask --app wsgi tokens create alice laptop          # prints the token once
    flask --app wsgi studies create pilot --name "Pilot" --sets quickdraw17-default \\
        --mode prolific --rounds 20 --completion-url https://app.prolific.com/submissions/complete?cc=X
    flask --app wsgi export bundle --study pilot --exclude-flagged --out pilot.zip
    flask --app wsgi clicks import old_clickme.csv --set quickdraw17-default
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from ..extensions import db
from ..models import ApiToken, Researcher, Study
from . import auth
from .bundle import KINDS, export_stream
from .exports import ExportOptions
from .access import set_collaborators
from .filters import scope_from_args
from .legacy_import import ImportFailed, import_clicks
from .studies import StudyInput, default_settings, parse_settings, save_study

users = AppGroup("users", help="Researcher accounts.")
tokens = AppGroup("tokens", help="API tokens for scripted exports.")
studies = AppGroup("studies", help="Studies (stimulus sets + settings + recruitment mode).")
clicks = AppGroup("clicks", help="Legacy click data.")


def _user(username: str) -> Researcher:
    researcher = db.session.scalar(select(Researcher).where(Researcher.username == username))
    if researcher is None:
        raise click.ClickException(f"no user {username!r}")
    return researcher


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
def users_create(username: str, password_stdin: bool, admin: bool) -> None:
    """Create a researcher account (the password is stored hashed)."""
    try:
        auth.create_researcher(username, _password(password_stdin), is_admin=admin)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created user {username}")


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
def users_set_password(username: str, password_stdin: bool) -> None:
    """Change a password; the account's open sessions end."""
    try:
        auth.set_password(_user(username), _password(password_stdin))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {username}")


@users.command("list")
def users_list() -> None:
    for r in db.session.scalars(select(Researcher).order_by(Researcher.username)):
        click.echo(f"{r.username}\t{'admin' if r.is_admin else 'researcher'}\t{r.created_at:%Y-%m-%d}")


@users.command("delete")
@click.argument("username")
def users_delete(username: str) -> None:
    """Delete an account and its tokens (studies stay)."""
    db.session.delete(_user(username))
    db.session.commit()
    click.echo(f"deleted user {username}")


@tokens.command("create")
@click.argument("username")
@click.argument("name")
def tokens_create(username: str, name: str) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    try:
        token, plain = auth.create_token(_user(username), name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(plain)
    click.echo(f"token {token.id} ({name}) for {username}: store it now, it is not shown again",
               err=True)


@tokens.command("list")
@click.argument("username", required=False)
def tokens_list(username: str | None) -> None:
    query = select(ApiToken).order_by(ApiToken.id)
    if username:
        query = query.where(ApiToken.researcher_id == _user(username).id)
    for t in db.session.scalars(query):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        click.echo(f"{t.id}\t{t.researcher.username}\t{t.name}\t{t.scope}\t{state}\tlast used {used}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"no token {token_id}")
    auth.revoke_token(token)
    click.echo(f"revoked token {token_id} ({token.name})")


def _study_options(func: Any) -> Any:
    options = [
        click.option("--name"), click.option("--sets", help="Comma-separated stimulus set names."),
        click.option("--mode", type=click.Choice(["public", "prolific"])),
        click.option("--rounds", "rounds_per_participant", type=int, help="Rounds per participant."),
        click.option("--completion-url"), click.option("--consent-version"),
        click.option("--timer-ms", type=int), click.option("--brush-fraction", type=float),
        click.option("--target", "target_rounds_per_stimulus", type=int,
                     help="Target rounds per stimulus (coverage goal)."),
        click.option("--target-ceiling", "target_ceiling", type=float,
                     help="Split-half ceiling the dashboard's planning line projects rounds for (default 0.8)."),
        click.option("--stimuli", "n_stimuli", type=int,
                     help="How many of the sets' stimuli the study uses (0 = all)."),
        click.option("--address-burst", "address_burst_per_hour", type=int,
                     help="address_burst flag: new participants per hour from one address (0 = off)."),
        click.option("--leaderboard/--no-leaderboard", default=None,
                     help="Recruited participants appear on the public leaderboard (default: no)."),
        click.option("--active/--inactive", default=None),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _study_input(slug: str, existing: Study | None, opts: dict[str, Any]) -> StudyInput:
    keys = ("rounds_per_participant", "timer_ms", "brush_fraction", "target_rounds_per_stimulus",
            "n_stimuli", "address_burst_per_hour", "target_ceiling")
    raw = {k: opts[k] for k in keys if opts[k] is not None}
    if opts["leaderboard"] is not None:
        raw["leaderboard"] = int(opts["leaderboard"])
    base = existing.settings if existing else default_settings()

    def pick(key: str, old: Any) -> Any:
        return opts[key] if opts[key] is not None else old

    return StudyInput(
        slug=slug, name=pick("name", existing.name if existing else ""),
        set_names=[s.strip() for s in opts["sets"].split(",") if s.strip()] if opts["sets"]
        else [s.name for s in existing.stimulus_sets] if existing else [],
        mode=pick("mode", existing.mode if existing else "public"),
        completion_url=pick("completion_url", existing.completion_url if existing else None),
        consent_version=pick("consent_version", existing.consent_version if existing else None),
        active=pick("active", existing.active if existing else True),
        settings=parse_settings(raw, base))


@studies.command("create")
@click.argument("slug")
@click.option("--owner", help="Researcher who owns the study (without it, only administrators "
                              "see it on the research pages).")
@_study_options
def studies_create(slug: str, owner: str | None, **opts: Any) -> None:
    """Create a study."""
    owner_id = _user(owner).id if owner else None
    try:
        study = save_study(_study_input(slug, None, opts))
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    if owner_id is not None:
        study.created_by = owner_id
        db.session.commit()
    click.echo(f"created study {study.slug}")
    _echo_link(study)


def _echo_link(study: Study) -> None:
    """The participant link, or why there is none yet (no public address for a Prolific study)."""
    from ..public_url import FROM_NOTHING, study_link

    link = study_link(study)
    if link.refused:
        click.echo(f"no participant link: set DA_PUBLIC_URL to the address participants use "
                   f"(e.g. https://draw.example.org); a link to {link.url.split('/study/')[0] or 'no address'} "
                   "would reach nobody", err=True)
    else:
        note = " (relative: set DA_PUBLIC_URL for the full address)" if link.source == FROM_NOTHING else ""
        click.echo(f"participant link: {link.url}{note}")


def _study(slug: str) -> Study:
    study = db.session.scalar(select(Study).where(Study.slug == slug))
    if study is None:
        raise click.ClickException(f"no study {slug!r}")
    return study


@studies.command("share")
@click.argument("slug")
@click.argument("usernames", nargs=-1, required=True)
def studies_share(slug: str, usernames: tuple[str, ...]) -> None:
    """Let these researchers see, edit and export the study."""
    study = _study(slug)
    try:
        set_collaborators(study, [c.username for c in study.collaborators] + list(usernames))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{slug}: collaborators {', '.join(c.username for c in study.collaborators)}")


@studies.command("unshare")
@click.argument("slug")
@click.argument("usernames", nargs=-1, required=True)
def studies_unshare(slug: str, usernames: tuple[str, ...]) -> None:
    """Stop sharing the study with these researchers."""
    study = _study(slug)
    set_collaborators(study, [c.username for c in study.collaborators if c.username not in usernames])
    db.session.commit()
    click.echo(f"{slug}: collaborators {', '.join(c.username for c in study.collaborators) or 'none'}")


@studies.command("edit")
@click.argument("slug")
@_study_options
def studies_edit(slug: str, **opts: Any) -> None:
    """Change a study's fields; options not given keep their value."""
    study = _study(slug)
    try:
        save_study(_study_input(slug, study, opts), study)
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"saved study {slug}")
    _echo_link(study)


@studies.command("list")
def studies_list() -> None:
    for s in db.session.scalars(select(Study).order_by(Study.slug)):
        sets = ",".join(x.name for x in s.stimulus_sets)
        owner = s.owner.username if s.owner else "-"
        click.echo(f"{s.slug}\t{s.mode}\t{'active' if s.active else 'inactive'}\t{sets}\t"
                   f"rounds={s.settings.get('rounds_per_participant')}\towner={owner}\t{s.name}")


@click.command("export")
@with_appcontext
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.option("--out", "out", required=True, help="Output file, or - for stdout.")
@click.option("--study")
@click.option("--start", help="First day (YYYY-MM-DD, UTC).")
@click.option("--end", help="Last day, inclusive (YYYY-MM-DD, UTC).")
@click.option("--exclude-flagged", is_flag=True, help="Drop participants with quality flags.")
@click.option("--include-excluded", is_flag=True, help="Keep participants marked excluded.")
@click.option("--include-external-ids", is_flag=True, help="Add platform ids (personal data).")
def export(kind: str, out: str, include_external_ids: bool, **filters: Any) -> None:
    """Write an export (clicks, rounds, guesses, maps, bundle) with the page's filters."""
    try:
        scope = scope_from_args({k: v for k, v in filters.items() if v})
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    chunks = export_stream(kind, ExportOptions(scope, external_ids=include_external_ids))
    target: BinaryIO = sys.stdout.buffer if out == "-" else Path(out).open("wb")
    try:
        for chunk in chunks:
            target.write(chunk)
    finally:
        if target is not sys.stdout.buffer:
            target.close()
    if out != "-":
        click.echo(f"wrote {out} ({Path(out).stat().st_size} bytes)", err=True)


@clicks.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "set_name", required=True, help="Stimulus set whose keys the file names.")
@click.option("--study", help="Attach the imported rounds to this study.")
@click.option("--brush-fraction", type=float, help="Brush size the data was collected with.")
def clicks_import(file: Path, set_name: str, study: str | None, brush_fraction: float | None) -> None:
    """Import CSV clicks (stimulus, trial, x, y [, participant, t_ms]): all or nothing."""
    try:
        report = import_clicks(file, set_name, study, brush_fraction)
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {report.points} points in {report.rounds} rounds "
               f"from {report.participants} participant(s)")


def register(app: Flask) -> None:
    """Add the research command groups to ``flask`` (called when the blueprint registers)."""
    for command in (users, tokens, studies, export, clicks):
        app.cli.add_command(command)
