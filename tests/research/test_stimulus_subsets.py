"""A study that uses only some of its sets' stimuli (issue 21, researcher row 7): the subset is
spread over the categories in a seeded, balanced way (before, 12 stimuli of 17 categories were
always the first 12 categories alphabetically: fish, flower, house, lollipop and rainbow never
appeared), it is the same every time the study is saved, and editing a running study never
changes the drawings its participants see."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

CATEGORIES = ["airplane", "alarm clock", "apple", "banana", "bicycle", "bird", "book", "bowtie",
              "cat", "diamond", "dog", "eye", "fish", "flower", "house", "lollipop", "rainbow"]


@pytest.fixture
def seventeen(app):
    """A set of 17 categories x 12 drawings, like the default set."""
    from tests.research.conftest import png
    from webapp.extensions import db
    from webapp.models import Stimulus, StimulusSet

    with app.app_context():
        stimulus_set = StimulusSet(name="qd17", description="", source="tests")
        db.session.add_all([Stimulus(stimulus_set=stimulus_set, key=f"{c.replace(' ', '_')}-{i:03d}",
                                     category=c, width=28, height=28, image_png=png(28, 28, i))
                            for c in CATEGORIES for i in range(12)])
        db.session.add(stimulus_set)
        db.session.commit()
    return app


def _categories(ids):
    from webapp.extensions import db
    from webapp.models import Stimulus

    rows = db.session.scalars(select(Stimulus.category).where(Stimulus.id.in_(ids))).all()
    return Counter(rows)


def _study(slug, n, existing=None, **settings):
    from webapp.research.studies import StudyInput, default_settings, save_study

    return save_study(StudyInput(slug=slug, name=slug, set_names=["qd17"],
                                 settings={**default_settings(), "n_stimuli": n, **settings}),
                      existing)


def test_a_12_stimulus_subset_is_not_the_first_12_categories_alphabetically(seventeen):
    with seventeen.app_context():
        seen: set[str] = set()
        for slug in ("pilot", "pilot-2", "spring", "lab-a", "lab-b", "replication"):
            counts = _categories(_study(slug, 12).settings["stimulus_ids"])
            assert sum(counts.values()) == 12 and max(counts.values()) == 1, counts
            seen |= set(counts)
        # Seeded by the slug: over a few studies every category turns up (before: never the last 5).
        assert seen == set(CATEGORIES)


def test_subsets_are_balanced_and_seeded(seventeen):
    with seventeen.app_context():
        extra: set[str] = set()
        for slug in ("a", "b", "c", "d", "e"):
            counts = _categories(_study(slug, 40).settings["stimulus_ids"])
            assert set(counts) == set(CATEGORIES) and set(counts.values()) == {2, 3}, counts
            extra |= {c for c, n in counts.items() if n == 3}
        # Which 6 categories get a third drawing depends on the slug, not on the alphabet.
        assert extra - set(CATEGORIES[:6])


def test_the_same_slug_gives_the_same_subset_and_editing_keeps_it(seventeen):
    from webapp.extensions import db
    from webapp.models import Study

    with seventeen.app_context():
        first = list(_study("pilot", 12).settings["stimulus_ids"])
        study = db.session.scalar(select(Study).where(Study.slug == "pilot"))
        edited = _study("pilot", 12, existing=study, timer_ms=20000)
        assert edited.settings["stimulus_ids"] == first
        again = _study("pilot", 15, existing=edited)  # asking for another number re-chooses
        assert len(again.settings["stimulus_ids"]) == 15
        db.session.delete(again)
        db.session.commit()
        assert _study("pilot", 12).settings["stimulus_ids"] == first  # reproducible from the slug
