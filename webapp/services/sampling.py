"""Which drawing a player gets next: balanced coverage across the stimulus set.

The least-played stimuli of the active set come first (ties broken at random), and a player
never gets the same stimulus twice in a row. A study may use only some of its sets' stimuli
(``settings["stimulus_ids"]``, chosen when it is saved), so a pilot concentrates its rounds on
few drawings instead of spreading one round over each. Each stimulus carries its own count of
plays (`services.coverage`), so the choice costs the same with a million rounds as with none.
`services.starting` reads the counts once for all the round starts of a tick and chooses with
`least_played`.
"""

from __future__ import annotations

import random
from typing import Any, Collection, Mapping

from sqlalchemy import select

from ..extensions import db
from ..models import StimulusSet
from .errors import ServiceError


def pool_set_ids(set_names: list[str]) -> list[int]:
    """Ids of the named stimulus sets that exist."""
    rows = db.session.scalars(select(StimulusSet.id).where(StimulusSet.name.in_(set_names)))
    return list(rows)


def study_stimulus_ids(study: Any) -> list[int] | None:
    """The stimuli a study is restricted to, or None when it uses all of its sets'."""
    ids = (study.settings or {}).get("stimulus_ids") if study is not None else None
    return list(ids) if ids else None


def least_played(counts: Mapping[int, int], previous: int | None, rng: random.Random,
                 unwinnable: Collection[int] = ()) -> int:
    """The least-played stimulus of ``counts`` (``{stimulus id: plays}``), never ``previous``
    unless it is the only one (ties at random). Stimuli in ``unwinnable`` (drawings the
    classifier does not recognise even fully revealed, `services.recognition`: the open game
    leaves them out) are chosen only when nothing else is left."""
    counts = {sid: n for sid, n in counts.items() if sid not in unwinnable} or dict(counts)
    candidates = {sid: n for sid, n in counts.items() if sid != previous} or dict(counts)
    if not candidates:
        raise ServiceError("the active stimulus set is empty", status=409)
    fewest = min(candidates.values())
    return rng.choice(sorted(sid for sid, n in candidates.items() if n == fewest))
