"""The dashboard's planning line: rounds per drawing for the study's target ceiling, by Spearman-Brown
from the study's own genuine pilot rounds (webapp/research/planning.py, analysis/planning.py)."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np

from tests.research.conftest import add_round, make_player, make_set, make_study

SIZE = 28
RADIUS = 1.96  # add_round's rounds carry brush_radius_px 1.96


def _spot_points(spot: tuple[float, float], seed: int, n: int = 20) -> list[tuple[float, float, float]]:
    """A round with half its points around ``spot`` (each drawing has its own) and half anywhere:
    rounds agree only in part, so the pilot's ceiling is moderate (about 0.5 at 4 rounds)."""
    rng = np.random.default_rng(seed)
    near = np.asarray(spot) + rng.normal(0, 3.0, size=(n // 2, 2))
    xy = np.clip(np.vstack([near, rng.uniform(0, SIZE - 1, size=(n - n // 2, 2))]), 0, SIZE - 1)
    return [(float(x), float(y), 16.7 * i) for i, (x, y) in enumerate(xy)]


def _pilot(app, players_per_drawing: int, n_drawings: int = 6, **settings):
    """A study whose drawings each have ``players_per_drawing`` genuine rounds, plus rounds that
    do not count toward the study and must not count here: 2-point rounds, an abandoned one, a
    skipped one, one that is not credited, one by an excluded participant. Returns the study slug and the genuine rounds as the card should use them."""
    from webapp.extensions import db
    from webapp.models import Round

    with app.app_context():
        stimuli = make_set(n=n_drawings, size=SIZE)
        study = make_study("plan", "test-set", **settings)
        players = [make_player(study, external_id=f"P{i}") for i in range(players_per_drawing + 1)]
        genuine: dict[str, list[tuple[str, np.ndarray]]] = {}
        rng = np.random.default_rng(0)
        for d, stimulus in enumerate(stimuli):
            spot = (float(rng.uniform(6, 22)), float(rng.uniform(6, 22)))
            for p, player in enumerate(players[:players_per_drawing]):
                pts = _spot_points(spot, seed=100 * d + p)
                rid = add_round(player, stimulus, pts, study=study, started=datetime(2026, 5, 1, 12, p))
                genuine.setdefault(str(stimulus.id), []).append((rid, np.array([(x, y) for x, y, _ in pts])))
            extra = players[-1]
            add_round(extra, stimulus, [(1.0, 1.0, 0.0), (27.0, 27.0, 10.0)], study=study)  # 2 points: not a stroke
            add_round(extra, stimulus, _spot_points((2, 25), 9), study=study, status="abandoned")
            add_round(extra, stimulus, _spot_points((2, 2), 6), study=study, status="skipped")
            flagged = add_round(extra, stimulus, _spot_points((25, 2), 8), study=study)
            db.session.get(Round, flagged).credited = False
        outsider = make_player(study, external_id="OUT", excluded=True)
        for stimulus in stimuli:
            add_round(outsider, stimulus, _spot_points((3, 3), 7), study=study)
        db.session.commit()
        rounds = {sid: [pts for _, pts in sorted(rs, key=lambda r: r[0])] for sid, rs in genuine.items()}
        return "plan", rounds


def _card(research_client, slug: str) -> str:
    page = research_client.get(f"/research/dashboard?study={slug}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    match = re.search(r'<p class="planning".*?</p>', html, re.S)
    assert match, "the planning line is on the study's target card"
    return match.group(0)


def test_card_shows_the_spearman_brown_projection_from_genuine_rounds(app, research_client):
    from analysis.planning import pilot_projection, rounds_needed

    slug, rounds = _pilot(app, players_per_drawing=4)
    card = _card(research_client, slug)
    # recomputed here from exactly the genuine rounds (the artefacts, abandoned, uncredited and
    # excluded rounds left out), and projected with the formula
    expected = pilot_projection(rounds, SIZE, SIZE, RADIUS, target=0.8)
    assert expected["status"] == "projected" and expected["n_drawings"] == 6 and expected["mean_rounds"] == 4
    needed = rounds_needed(expected["ceiling"], expected["mean_rounds"], 0.8)
    assert needed is not None and needed == expected["rounds_needed"]
    assert 4 < needed < 100  # more than the pilot's 4 rounds: a number worth showing
    assert f'data-rounds-needed="{needed}"' in card
    assert f'<strong data-testid="rounds-needed">{needed}</strong>' in card
    assert "split-half ceiling of 0.80" in card
    assert f"ceiling {expected['ceiling']:.2f} at" in card and "4.0 genuine rounds per drawing, over 6 drawings" in card


def test_card_uses_the_study_target_ceiling_setting(app, research_client):
    from analysis.planning import pilot_projection

    slug, rounds = _pilot(app, players_per_drawing=4, target_ceiling=0.9)
    card = _card(research_client, slug)
    expected = pilot_projection(rounds, SIZE, SIZE, RADIUS, target=0.9)
    assert "split-half ceiling of 0.90" in card
    assert f'data-rounds-needed="{expected["rounds_needed"]}"' in card


def test_card_asks_for_pilot_data_without_enough_drawings_with_two_rounds(app, research_client):
    slug, _ = _pilot(app, players_per_drawing=1)  # one genuine round per drawing: no split half
    card = _card(research_client, slug)
    assert 'data-status="needs_pilot_data"' in card
    assert "needs pilot data</strong>: 5 drawings with ≥ 2 genuine rounds (now 0)" in card


def test_card_bounds_its_work_and_recomputes_only_when_genuine_rounds_change(app, research_client, monkeypatch):
    from webapp.research import planning

    calls = []
    real = planning.pilot_projection
    monkeypatch.setattr(planning, "pilot_projection", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(planning, "PIXEL_BUDGET", 6 * SIZE * SIZE * 3)  # 3 rounds a drawing: the floor of 4 applies
    slug, rounds = _pilot(app, players_per_drawing=6)
    card = _card(research_client, slug)
    assert "4.0 genuine rounds per drawing, over 6 drawings" in card  # 6 genuine rounds each, 4 used
    assert _card(research_client, slug) == card and len(calls) == 1  # cached: nothing changed
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Player, Stimulus, Study

        study = db.session.scalar(db.select(Study).where(Study.slug == slug))
        player = db.session.scalar(db.select(Player).where(Player.external_id == "P0"))
        add_round(player, db.session.scalar(db.select(Stimulus)), _spot_points((14, 14), 99), study=study,
                  started=datetime(2026, 5, 2, 12, 0))
    _card(research_client, slug)
    assert len(calls) == 2  # a new genuine round: computed again
