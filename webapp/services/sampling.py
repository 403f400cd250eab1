"""Which drawing a player gets next: balanced coverage across the stimulus set.

The least-played stimuli of the active set come first (ties broken at random), and a player
never gets the same stimulus twice in a row. A study may use only some of its sets' stimuli
(``settings["stimulus_ids"]``, chosen when it is saved), so a pilot concentrates its rounds on
few drawings instead of spreading one round over each. Each stimulus carries its own count of
plays (`services.coverage`), so the choice costs the same with a million rounds as with none.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from sqlalchemy import select

from ..extensions import db
from ..models import Player, Round, Stimulus, StimulusSet
from .errors import ServiceError
from .stimuli import StimulusView, stimulus_view


def pool_set_ids(set_names: list[str]) -> list[int]:
    """Ids of the named stimulus sets that exist."""
    rows = db.session.scalars(select(StimulusSet.id).where(StimulusSet.name.in_(set_names)))
    return list(rows)


def study_stimulus_ids(study: Any) -> list[int] | None:
    """The stimuli a study is restricted to, or None when it uses all of its sets'."""
    ids = (study.settings or {}).get("stimulus_ids") if study is not None else None
    return list(ids) if ids else None


def choose_stimulus(player: Player, set_ids: list[int], rng: random.Random | None = None,
                    only: Sequence[int] | None = None, winnable_only: bool = False) -> StimulusView:
    """The least-played stimulus of the sets (of ``only`` among them, when given), never the
    player's previous one. With ``winnable_only`` (the open game), drawings the classifier does
    not recognise even fully revealed (`services.recognition`) are left out, unless nothing else
    is left."""
    if not set_ids:
        raise ServiceError("no stimulus set is active: import one with "
                           "`flask --app wsgi stimuli import`", status=409)
    rng = rng or random.SystemRandom()
    # Stimulus.play_count (services.coverage): rounds not abandoned, read from one row per
    # stimulus instead of counting every round ever played on every round start.
    rows = db.session.execute(
        select(Stimulus.id, Stimulus.play_count, Stimulus.full_reveal_recognised)
        .where(Stimulus.set_id.in_(set_ids), *([Stimulus.id.in_(list(only))] if only else []))).all()
    if winnable_only:
        rows = [row for row in rows if row[2] is not False] or rows
    rows = [(sid, n) for sid, n, _ in rows]
    previous = db.session.scalar(select(Round.stimulus_id).where(Round.player_id == player.id)
                                 .order_by(Round.started_at.desc(), Round.id.desc()).limit(1))
    candidates = [(sid, n) for sid, n in rows if sid != previous] or list(rows)
    if not candidates:
        raise ServiceError("the active stimulus set is empty", status=409)
    fewest = min(n for _, n in candidates)
    chosen = rng.choice([sid for sid, n in candidates if n == fewest])
    return stimulus_view(chosen)  # read once per process, like every batch's
