"""Plan a study from its pilot: how many genuine rounds per drawing a target ceiling needs.

A human map averages rounds, so its reliability grows with the number of rounds n in the way the
Spearman-Brown prophecy formula describes for any average of parallel measurements:

    R(n) = n r / (1 + (n - 1) r)        r = the reliability of a single round's map

`analysis.reliability` measures R at the rounds a pilot has (the split-half ceiling, corrected to
the full number of rounds). Inverting the formula at that n gives r,

    r = R / (n - (n - 1) R),

and the rounds a target T needs are the smallest integer n with R(n) >= T:

    n = ceil(T (1 - r) / (r (1 - T))).

E.g. a ceiling of 0.5 at 4 rounds is r = 0.2 a round, and 0.8 then needs 16 rounds. On the real
ClickMe-QuickDraw export the ceiling of 0.44 rested on many 2-point artefact rounds; a plan from
genuine rounds only is what tells a researcher how many to collect.

`pilot_projection` does the whole step from per-drawing rounds: split-half per drawing
(`reliability.split_half` with ``min_rounds=2``), the mean ceiling R at the mean rounds per
drawing n, and the projection. It assumes rounds are exchangeable and every drawing alike (the
mean R at the mean n); with few drawings the projection is rough, so it reports the n drawings
it rests on.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

#: the split-half ceiling a study aims for when its settings name none
DEFAULT_TARGET_CEILING = 0.8
#: a pilot needs at least this many drawings with >= 2 genuine rounds before anything is projected
MIN_PILOT_DRAWINGS = 5
#: and at most this many drawings (those with the most rounds) are used, to bound the cost
MAX_PILOT_DRAWINGS = 40


def projected_ceiling(r_single_round: float, n_rounds: float) -> float:
    """Spearman-Brown: reliability of the map of ``n_rounds`` rounds, each of reliability
    ``r_single_round``, ``n r / (1 + (n - 1) r)``; nan for non-finite inputs, n <= 0 or a zero
    denominator."""
    r, n = float(r_single_round), float(n_rounds)
    denominator = 1 + (n - 1) * r
    if not (np.isfinite(r) and np.isfinite(n)) or n <= 0 or denominator == 0:
        return float("nan")
    return n * r / denominator


def single_round_reliability(ceiling_at_n: float, n_rounds: float) -> float:
    """The inverse of `projected_ceiling`: the one-round reliability that gives ``ceiling_at_n``
    at ``n_rounds`` rounds, ``R / (n - (n - 1) R)``; nan where undefined."""
    c, n = float(ceiling_at_n), float(n_rounds)
    denominator = n - (n - 1) * c
    if not (np.isfinite(c) and np.isfinite(n)) or n <= 0 or denominator <= 0:
        return float("nan")
    return c / denominator


def rounds_needed(ceiling_at_n: float, n_rounds: float, target: float) -> int | None:
    """The smallest whole number of rounds per drawing whose projected ceiling reaches ``target``,
    from a ceiling ``ceiling_at_n`` measured at ``n_rounds`` rounds per drawing.

    None when no number of rounds can: ``target >= 1`` (a perfect map needs infinitely many),
    a measured ceiling that is not positive (more of rounds that share nothing never agree), or
    non-finite inputs. At least 1.
    """
    t = float(target)
    if not np.isfinite(t) or t >= 1:
        return None
    r = single_round_reliability(ceiling_at_n, n_rounds)
    if not np.isfinite(r) or r <= 0:
        return None
    if t <= 0 or r >= 1:
        return 1
    exact = t * (1 - r) / (r * (1 - t))
    n = max(1, math.ceil(exact - 1e-9))  # 16.000000000000004 is 16
    while projected_ceiling(r, n) < t - 1e-12:  # guard the rounding
        n += 1
    return n


def pilot_projection(rounds: Mapping[str, Sequence[np.ndarray]], width: int | Mapping[str, int],
                     height: int | Mapping[str, int], radii: float | Mapping[str, float | Sequence[float]],
                     target: float = DEFAULT_TARGET_CEILING, min_drawings: int = MIN_PILOT_DRAWINGS,
                     max_drawings: int = MAX_PILOT_DRAWINGS, n_splits: int = 20, seed: int = 0) -> dict[str, Any]:
    """Project, from a pilot, the genuine rounds per drawing a split-half ceiling of ``target`` needs.

    ``rounds``: ``{drawing: [points [N, 2] of each genuine round]}`` (the caller decides what is
    genuine); ``width``/``height``/``radii``: one value, or one per drawing (radii may be one per
    round). The ``max_drawings`` drawings with the most rounds (>= 2; ties by name) are used.

    Returns ``{"status": "projected" | "needs_pilot_data" | "unreachable", "target",
    "n_drawings", "min_drawings", "ceiling", "mean_rounds", "r_single", "rounds_needed"}``;
    ``ceiling`` is the mean Spearman-Brown corrected split-half reliability of the drawings
    used, at ``mean_rounds`` rounds per drawing: the rounds the two halves hold, i.e. an odd
    drawing's last round is not counted (`reliability.split_half` leaves it out of both halves).
    """
    from .reliability import split_half

    eligible = sorted((d for d, r in rounds.items() if len(r) >= 2), key=lambda d: (-len(rounds[d]), str(d)))
    used = eligible[:max_drawings]
    result: dict[str, Any] = {"status": "needs_pilot_data", "target": float(target), "n_drawings": len(used),
                              "n_eligible": len(eligible), "min_drawings": min_drawings, "ceiling": None,
                              "mean_rounds": None, "r_single": None, "rounds_needed": None}
    if len(used) < min_drawings:
        return result

    def per(value, drawing):
        return value[drawing] if isinstance(value, Mapping) else value

    values, counts = [], []
    for i, drawing in enumerate(used):
        rel = split_half(list(rounds[drawing]), int(per(width, drawing)), int(per(height, drawing)),
                         per(radii, drawing), n_splits=n_splits, seed=seed + i, min_rounds=2)
        if rel is not None and np.isfinite(rel):
            values.append(rel)
            counts.append(2 * (len(rounds[drawing]) // 2))  # an odd round out is left out of the halves
    if len(values) < min_drawings:
        result["n_drawings"] = len(values)
        return result
    ceiling, n = float(np.mean(values)), float(np.mean(counts))
    needed = rounds_needed(ceiling, n, target)
    result.update(status="projected" if needed is not None else "unreachable", n_drawings=len(values),
                  ceiling=ceiling, mean_rounds=n, r_single=single_round_reliability(ceiling, n),
                  rounds_needed=needed)
    return result
