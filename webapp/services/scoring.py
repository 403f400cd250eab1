"""Points for a round: the sooner the classifier recognises the drawing, the more points.

``points = round(10 + 90 * (1 - elapsed_ms / timer_ms))`` clamped to 10..100 for a recognised
round, where ``elapsed_ms`` is measured by the server from the round's creation to the guess that
recognised it; 0 for a timeout or a skip. The floor of 10 rewards any recognition.
"""

from __future__ import annotations

MIN_POINTS = 10
MAX_POINTS = 100


def round_points(elapsed_ms: float, timer_ms: float) -> int:
    """Points for recognition after ``elapsed_ms`` of a ``timer_ms`` round."""
    if timer_ms <= 0:
        raise ValueError("timer_ms must be positive")
    share_left = 1.0 - max(0.0, float(elapsed_ms)) / float(timer_ms)
    raw = MIN_POINTS + (MAX_POINTS - MIN_POINTS) * share_left
    return int(min(MAX_POINTS, max(MIN_POINTS, round(raw))))


def is_recognised(top_label: str, top_prob: float, category: str, min_prob: float) -> bool:
    """Recognition: the classifier's best label is the category, with enough confidence."""
    return top_label == category and top_prob >= min_prob
