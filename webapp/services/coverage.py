"""How often each stimulus has been played: the counter sampling balances on.

`Stimulus.play_count` holds the number of the stimulus' rounds that were not abandoned. Every
path that changes that number updates it in its own transaction, so the counter and the rounds
commit (or roll back) together: starting a round (+1), the server abandoning one (−1), a legacy
import (+ its rounds), a withdrawal (− the participant's rounds). `recount` recomputes it from the
rounds, for a check or a repair (`flask rounds recount`).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from sqlalchemy import bindparam, func, select, update

from ..extensions import db
from ..models import Round, Stimulus

_STIMULUS = Stimulus.__table__  # a Core statement: one executemany, no ORM bookkeeping
_ADD = (update(_STIMULUS).where(_STIMULUS.c.id == bindparam("sid"))
        .values(play_count=_STIMULUS.c.play_count + bindparam("delta")))


def add_plays(stimulus_ids: Iterable[int], sign: int = 1) -> None:
    """Count one play more (``sign`` = 1) or less (−1) per id in ``stimulus_ids`` (repeats add up)."""
    deltas = Counter(stimulus_ids)
    if deltas:
        db.session.execute(_ADD, [{"sid": sid, "delta": sign * n} for sid, n in deltas.items()])


def counted_plays() -> dict[int, int]:
    """Rounds not abandoned per stimulus, counted from the rounds themselves."""
    rows = db.session.execute(select(Round.stimulus_id, func.count(Round.id))
                              .where(Round.status != "abandoned").group_by(Round.stimulus_id))
    return {sid: n for sid, n in rows}


def recount() -> int:
    """Set every counter from the rounds; returns how many were wrong. Commits."""
    counted = counted_plays()
    wrong = [(sid, counted.get(sid, 0)) for sid, stored in
             db.session.execute(select(Stimulus.id, Stimulus.play_count)) if stored != counted.get(sid, 0)]
    for sid, n in wrong:
        db.session.execute(update(Stimulus).where(Stimulus.id == sid).values(play_count=n))
    db.session.commit()
    return len(wrong)
