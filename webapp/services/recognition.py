"""Can a drawing be won at all? The classifier's guess on the whole drawing, fully revealed.

A round is won when the classifier's top-1 guess is the drawing's category with at least
``RECOGNITION_MIN_PROB`` (`scoring.is_recognised`). A drawing that fails this rule even with
every pixel revealed can only end "Time's up": 25 of the first 204 default drawings did. This
module applies the game's rule to whole drawings, once per drawing and classifier version, and
stores the answer on the stimulus (`Stimulus.full_reveal_*`). `scripts/make_default_stimuli.py`
uses `full_reveal_guesses` to leave such drawings out of the default set; the open game does not
serve any that a database still holds (`sampling.choose_stimulus`); the research pages show
the answer per stimulus; an import names the categories the classifier does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from sqlalchemy import or_, select

from ..extensions import db
from ..models import Stimulus
from .scoring import is_recognised


@dataclass(frozen=True)
class FullReveal:
    """The classifier's top-1 guess on a whole drawing and whether it wins the round."""

    label: str
    p: float
    recognised: bool


def full_reveal_guesses(classifier: Any, images: Sequence[np.ndarray], categories: Sequence[str],
                        min_prob: float) -> list[FullReveal]:
    """The top-1 guess on each whole drawing (uint8 ``[H, W]``, any sizes) by the game's rule."""
    out: list[FullReveal | None] = [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(np.shape(image), []).append(i)
    for indices in by_shape.values():  # one forward pass per image size
        probs = classifier.predict_proba(np.stack([images[i] for i in indices]).astype(np.uint8))
        for i, row in zip(indices, probs):
            top = int(np.argmax(row))
            label, p = classifier.categories[top], float(row[top])
            out[i] = FullReveal(label, round(p, 6), is_recognised(label, p, categories[i], min_prob))
    return [r for r in out if r is not None]


def unknown_categories(categories: Iterable[str], known: Iterable[str]) -> list[str]:
    """Categories the classifier cannot name: no drawing of them can ever be recognised."""
    return sorted(set(categories) - set(known))


def check_stimuli(set_ids: Sequence[int] | None = None, recheck: bool = False) -> dict[str, int]:
    """Store the full-reveal guess of every stimulus (of ``set_ids``) not yet checked with the
    current classifier (every one with ``recheck``); commits. Returns counts: ``checked`` now,
    ``total`` in scope, ``not_recognised`` in scope."""
    from flask import current_app

    from .guessing import get_guess_service
    from .stimuli import stimulus_view

    service = get_guess_service()
    scope = [Stimulus.set_id.in_(list(set_ids))] if set_ids is not None else []
    stale = [] if recheck else [or_(Stimulus.full_reveal_model.is_(None),
                                    Stimulus.full_reveal_model != service.version)]
    rows = db.session.scalars(select(Stimulus).where(*scope, *stale)).all()
    guesses = full_reveal_guesses(service.classifier, [stimulus_view(s.id, s).pixels for s in rows],
                                  [s.category for s in rows],
                                  float(current_app.config["RECOGNITION_MIN_PROB"]))
    for stimulus, guess in zip(rows, guesses):
        stimulus.full_reveal_label = guess.label
        stimulus.full_reveal_p = guess.p
        stimulus.full_reveal_recognised = guess.recognised
        stimulus.full_reveal_model = service.version
    db.session.commit()
    total = db.session.scalar(select(db.func.count(Stimulus.id)).where(*scope)) or 0
    failing = db.session.scalar(select(db.func.count(Stimulus.id)).where(
        *scope, Stimulus.full_reveal_recognised.is_(False))) or 0
    return {"checked": len(rows), "total": total, "not_recognised": failing}
