"""Studies: which stimulus sets are played, with which settings, by whom (public or recruited).

The research page and the CLI both go through `study_from_form`/`save_study`, so a study made
either way is validated the same. Settings live in `Study.settings` (JSON) with the keys the game
API reads: timer_ms, brush_fraction, rounds_per_participant, target_rounds_per_stimulus, n_stimuli (0 =
every stimulus of the sets; else the study uses that many, chosen once and kept in
``stimulus_ids``) and address_burst_per_hour (the `address_burst` quality flag's threshold; 0 turns
the rule off, for lab and classroom studies where everyone shares one address) and leaderboard
(1 = a recruited participant's score appears on the public leaderboard, which their consent text
then says; 0, the default, keeps recruited participants off it) and target_ceiling (the split-half
ceiling the dashboard's planning line projects rounds per drawing for, default 0.8;
`research.planning`).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlparse

from flask import (current_app, flash, has_request_context, redirect, render_template, request,
                   url_for)
from sqlalchemy import func, select

from ..extensions import db
from ..models import Stimulus, StimulusSet, Study
from . import bp
from .access import (may_share, researchers_named, set_collaborators, study_or_404,
                     visible_studies)
from .auth import current_researcher, researcher_required

MODES = ("public", "prolific")
#: the split-half ceiling a study plans for unless its settings say otherwise (analysis.planning)
DEFAULT_TARGET_CEILING = 0.8
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass
class StudyInput:
    """Validated fields of a study, independent of where they came from (form or CLI)."""

    slug: str
    name: str
    set_names: list[str]
    mode: str = "public"
    completion_url: str | None = None
    consent_version: str | None = None
    active: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


def default_settings() -> dict[str, Any]:
    """Settings of a new study: the app's game settings plus research defaults."""
    config = current_app.config
    return {"timer_ms": config["ROUND_TIMER_MS"], "brush_fraction": config["BRUSH_FRACTION"],
            "rounds_per_participant": 20, "target_rounds_per_stimulus": 10,
            "n_stimuli": 0, "address_burst_per_hour": 5, "leaderboard": 0,
            "target_ceiling": DEFAULT_TARGET_CEILING}


def _number(raw: Any, name: str, kind: type, low: float, high: float) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def parse_settings(raw: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Merge given settings over ``base``, checking each range; unknown keys are refused (and
    dropped from ``base``: older studies may still carry keys nothing reads)."""
    known = set(default_settings())
    settings = {key: value for key, value in base.items() if key in known}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    checks = {"timer_ms": (int, 1000, 600000), "brush_fraction": (float, 0.005, 0.5),
              "rounds_per_participant": (int, 1, 1000), "target_rounds_per_stimulus": (int, 1, 100000),
              "n_stimuli": (int, 0, 1000000),
              "address_burst_per_hour": (int, 0, 100000), "leaderboard": (int, 0, 1),
              "target_ceiling": (float, 0.05, 0.99)}
    for key, (kind, low, high) in checks.items():
        if key in raw and raw[key] not in (None, ""):
            settings[key] = _number(raw[key], key, kind, low, high)
    return settings


def validate(data: StudyInput, existing: Study | None) -> list[StimulusSet]:
    """Raise ValueError with a message a researcher can act on; return the chosen sets."""
    if not SLUG_RE.match(data.slug):
        raise ValueError("slug must be 1-64 lowercase letters, digits or '-'")
    if not data.name.strip() or len(data.name) > 128:
        raise ValueError("name must be 1-128 characters")
    if data.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    other = db.session.scalar(select(Study).where(Study.slug == data.slug))
    if other is not None and other is not existing:
        raise ValueError(f"a study with slug {data.slug!r} already exists")
    if data.completion_url:
        parsed = urlparse(data.completion_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("completion URL must be an http(s) URL")
    if data.mode == "prolific" and not data.completion_url:
        raise ValueError("a prolific study needs a completion URL")
    if not data.set_names:
        raise ValueError("choose at least one stimulus set")
    sets = db.session.scalars(select(StimulusSet).where(StimulusSet.name.in_(data.set_names))).all()
    missing = sorted(set(data.set_names) - {s.name for s in sets})
    if missing:
        raise ValueError(f"unknown stimulus sets: {', '.join(missing)}")
    return list(sets)


def _seeded_rank(slug: str, *parts: object) -> str:
    """A stable pseudo-random rank from the study slug: the same slug always orders alike."""
    return hashlib.sha256("/".join([slug, *map(str, parts)]).encode()).hexdigest()


def choose_study_stimuli(slug: str, sets: list[StimulusSet], n: int) -> list[int] | None:
    """The ``n`` stimuli a study uses (None = all of its sets'), seeded by the study slug and
    balanced over the categories: every category gets ``n // k`` drawings or one more (which
    categories get one more, or any at all when ``n`` is below the number of categories, is
    decided by the seeded order of the categories, not by the alphabet); a category with too
    few drawings hands its share to the next ones. Within a category the drawings come in a
    seeded order too, so the choice is reproducible from the slug."""
    if not n:
        return None
    rows = db.session.execute(select(Stimulus.id, Stimulus.key, Stimulus.category)
                              .where(Stimulus.set_id.in_([s.id for s in sets]))).all()
    if n > len(rows):
        raise ValueError(f"the chosen sets hold {len(rows)} stimuli, fewer than the {n} asked for")
    by_category: dict[str, list[tuple[str, int]]] = {}
    for sid, key, category in rows:
        by_category.setdefault(category, []).append((_seeded_rank(slug, key, sid), sid))
    order = sorted(by_category, key=lambda c: _seeded_rank(slug, "category", c))
    queues = [sorted(by_category[c]) for c in order]
    chosen: list[int] = []
    while len(chosen) < n:  # one drawing per category per pass, categories in seeded order
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0)[1])
    return sorted(chosen)


def _kept_stimuli(data: StudyInput, existing: Study | None, sets: list[StimulusSet]) -> list[int] | None:
    """The subset an edited study already has, when neither its sets nor its size changed:
    participants of a running study keep seeing the same drawings whatever else is edited."""
    if existing is None:
        return None
    kept = (existing.settings or {}).get("stimulus_ids")
    same_sets = {s.id for s in existing.stimulus_sets} == {s.id for s in sets}
    same_size = int((existing.settings or {}).get("n_stimuli") or 0) == int(data.settings.get("n_stimuli") or 0)
    return list(kept) if kept and same_sets and same_size else None


def projection(settings: Mapping[str, Any], n_available: int) -> dict[str, int]:
    """Rounds (and participants) a study needs for every used stimulus to reach its target."""
    used = int(settings.get("n_stimuli") or 0) or n_available
    target = int(settings.get("target_rounds_per_stimulus") or 0)
    per_person = int(settings.get("rounds_per_participant") or 0)
    rounds = used * target
    return {"stimuli": used, "target": target, "rounds": rounds,
            "participants": math.ceil(rounds / per_person) if per_person else 0}


def save_study(data: StudyInput, existing: Study | None = None) -> Study:
    """Create (or update ``existing``) after validation; commits."""
    sets = validate(data, existing)
    data.settings.pop("stimulus_ids", None)
    chosen = (_kept_stimuli(data, existing, sets)
              or choose_study_stimuli(data.slug, sets, int(data.settings.get("n_stimuli") or 0)))
    if chosen is not None:
        data.settings["stimulus_ids"] = chosen
    study = existing or Study(slug=data.slug)
    if existing is None:
        researcher = current_researcher() if has_request_context() else None
        study.created_by = researcher.id if researcher else None
        db.session.add(study)
    study.slug = data.slug
    study.name = data.name.strip()
    study.mode = data.mode
    study.completion_url = data.completion_url or None
    study.consent_version = data.consent_version or current_app.config["CONSENT_VERSION"]
    study.active = data.active
    study.settings = data.settings
    study.stimulus_sets = sets
    db.session.commit()
    return study


def study_from_form(form: Mapping[str, Any], existing: Study | None) -> StudyInput:
    base = existing.settings if existing else default_settings()
    raw = {key: form.get(key) for key in default_settings() if key in form}
    return StudyInput(
        slug=(form.get("slug") or "").strip().lower(), name=form.get("name") or "",
        set_names=list(form.getlist("sets")) if hasattr(form, "getlist") else list(form.get("sets", [])),
        mode=form.get("mode") or "public", completion_url=(form.get("completion_url") or "").strip() or None,
        consent_version=(form.get("consent_version") or "").strip() or None,
        active=bool(form.get("active")), settings=parse_settings(raw, base))


def get_study_or_404(slug: str) -> Study:
    """The study if this researcher may see it (`access.study_or_404`)."""
    return study_or_404(current_researcher(), slug)


# --- pages ------------------------------------------------------------------------------------


@bp.get("/")
@researcher_required
def index() -> Any:
    studies = db.session.scalars(visible_studies(current_researcher())
                                 .order_by(None).order_by(Study.created_at.desc())).all()
    return render_template("research/index.html", studies=studies)


def _form_page(study: Study | None, status: int = 200) -> Any:
    all_sets = db.session.scalars(select(StimulusSet).order_by(StimulusSet.name)).all()
    sizes = dict(db.session.execute(select(Stimulus.set_id, func.count()).group_by(Stimulus.set_id)).all())
    can_share = study is not None and may_share(current_researcher(), study)
    return render_template("research/study_form.html", study=study, all_sets=all_sets, sizes=sizes,
                           defaults=study.settings if study else default_settings(),
                           form=request.form, modes=MODES, can_share=can_share), status


def _collaborators_in_form() -> list[str] | None:
    """The form's collaborator names (checked: ValueError for an unknown one, before anything
    is saved), or None when the form has no such field."""
    if "collaborators" not in request.form:
        return None
    names = (request.form.get("collaborators") or "").split(",")
    researchers_named(names)
    return names


def _share_from_form(study: Study, names: list[str] | None) -> None:
    """Apply the form's collaborators when the one saving may change them (owner, admin)."""
    if names is not None and may_share(current_researcher(), study):
        set_collaborators(study, names)
        db.session.commit()


@bp.route("/studies/new", methods=["GET", "POST"])
@researcher_required
def study_new() -> Any:
    if request.method == "POST":
        try:
            names = _collaborators_in_form()
            study = save_study(study_from_form(request.form, None))
            _share_from_form(study, names)
        except ValueError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return _form_page(None, 400)
        flash(f"Study {study.slug!r} created.", "info")
        return redirect(url_for("research.dashboard", study=study.slug, created=1))
    return _form_page(None)


@bp.route("/studies/<slug>/edit", methods=["GET", "POST"])
@researcher_required
def study_edit(slug: str) -> Any:
    study = get_study_or_404(slug)
    if request.method == "POST":
        try:
            names = _collaborators_in_form()
            study = save_study(study_from_form(request.form, study), study)
            _share_from_form(study, names)
        except ValueError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return _form_page(get_study_or_404(slug), 400)
        flash("Study saved.", "info")
        return redirect(url_for("research.dashboard", study=study.slug))
    return _form_page(study)
