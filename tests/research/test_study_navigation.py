"""A study participant stays in the study whatever they click, and their privacy holds (issue 21,
participant rows 1 and 5). Before: the header's "Play" (or Leaderboard -> "Play a round") led to
``/`` without ``?study=``; the progress bar and the Withdraw link vanished and the next rounds were
stored with ``study_id`` NULL. Open-game players had no withdraw link, the page they could reach
was headed "Withdraw from the study", and Prolific participants were listed on the public
leaderboard, which their consent text did not mention.

The rules tested here: a recruited participant's round always belongs to their study (a start
without ``study`` is attached to it; one naming another study is refused with 403; after their
last counted round nothing more is stored, 409); ``/`` sends them to their study's game; every
page says which study they are in and links back to it; links off the site open in a new tab.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from tests.research.conftest import make_set, make_study

PID = "5f1a2b3c4d5e6f7a8b9c0d1e"
LINK = f"/study/pilot?PROLIFIC_PID={PID}&STUDY_ID=S1&SESSION_ID=X1"


@pytest.fixture
def joined(app, shipped_classifier):
    """A participant of the Prolific study 'pilot' (2 rounds), after consent, plus a public study."""
    app.extensions["classifier"] = shipped_classifier
    with app.app_context():
        make_set()
        make_study("pilot", "test-set", rounds=2)
        make_study("open", "test-set", mode="public")
    client = app.test_client()
    client.get(LINK)
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302
    return client


def _with_default_set(app, classifier):
    """The open game's own stimuli (public rounds draw from the default set)."""
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.services.stimuli import import_drawings, read_drawings

    app.extensions["classifier"] = classifier
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])


def _start(client, **body):
    return client.post("/api/rounds", json={"round_id": str(uuid.uuid4()), **body})


def _study_of(app, round_id):
    from webapp.extensions import db
    from webapp.models import Round, Study

    with app.app_context():
        rnd = db.session.get(Round, round_id)
        return None if rnd.study_id is None else db.session.get(Study, rnd.study_id).slug


def test_a_round_started_without_the_study_is_stored_in_the_study(app, joined):
    started = _start(joined)  # what the page sent after the header's "Play" link before
    assert started.status_code == 201, started.json
    assert _study_of(app, started.json["round_id"]) == "pilot"
    other = _start(joined, study="open")
    assert other.status_code == 403 and "pilot" in other.json["error"]
    assert _start(joined, study=7).status_code == 400


def test_nothing_is_stored_outside_the_study_after_the_last_round(app, joined):
    from webapp.extensions import db
    from webapp.models import Round

    with app.app_context():
        db.session.execute(db.update(Round).values(status="recognized", credited=True, n_points=3,
                                                   duration_ms=1200))
        db.session.commit()
        for _ in range(2):
            assert _start(joined, study="pilot").status_code == 201
        db.session.execute(db.update(Round).values(status="recognized", credited=True, n_points=3,
                                                   duration_ms=1200))
        db.session.commit()
    done = _start(joined)
    assert done.status_code == 409 and "done" in done.json["error"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Round)
                                 .where(Round.study_id.is_(None))) == 0


def test_every_game_link_leads_back_into_the_study(joined):
    answer = joined.get("/")
    assert answer.status_code == 302 and answer.headers["Location"] == "/?study=pilot"
    assert joined.get("/?study=open").headers["Location"] == "/?study=pilot"
    assert joined.get("/?study=pilot").status_code == 200
    for path in ("/leaderboard", "/how-to", "/about", "/consent"):
        page = joined.get(path).get_data(as_text=True)
        nav = page[page.index('<nav aria-label="Main">'):page.index("</nav>")]
        assert 'href="/?study=pilot"' in nav, path  # the header's "Play"
        assert 'href="/"' not in page, path  # no link drops the study
        banner = re.search(r'data-testid="study-banner".*?</p>', page, re.S).group(0)
        assert "Study pilot" in banner and "0 of 2 rounds counted" in banner
        assert 'href="/study/withdraw"' in banner and 'href="/?study=pilot"' in banner
        for link in re.findall(r'<a href="https?://[^"]*"[^>]*>', page):
            assert 'target="_blank"' in link and 'rel="noopener"' in link, (path, link)
    leaderboard = joined.get("/leaderboard").get_data(as_text=True)
    assert re.search(r'href="/\?study=pilot">Back to the study</a>', leaderboard)


def test_the_consent_page_shows_the_participant_their_studys_terms(joined):
    page = joined.get("/consent").get_data(as_text=True)
    assert "Your study: Study pilot" in page and 'id="consent-form"' not in page
    assert "not shown on the game's public leaderboard" in page and "/study/withdraw" in page


def test_open_game_players_are_unaffected(app, shipped_classifier):
    from tests.game.conftest import consented_client

    _with_default_set(app, shipped_classifier)
    client = consented_client(app)
    assert client.get("/").status_code == 200
    page = client.get("/leaderboard").get_data(as_text=True)
    assert 'data-testid="study-banner"' not in page and 'href="/">Play a round</a>' in page
    assert 'target="_blank"' not in page
    started = _start(client)
    assert started.status_code == 201 and _study_of(app, started.json["round_id"]) is None


def _leaderboard_names(app):
    return [e["pseudonym"] for e in app.test_client().get("/api/leaderboard").json["entries"]]


def test_recruited_participants_stay_off_the_public_leaderboard(app):
    """Unless their study's consent text says they appear (setting ``leaderboard``)."""
    from tests.research.conftest import make_player
    from webapp.extensions import db
    from webapp.models import Study

    with app.app_context():
        make_set()
        study = make_study("pilot", "test-set")
        for player, name in ((make_player(study, external_id="PID1", rounds_played=3, total_score=300),
                              "Recruited"), (make_player(rounds_played=1, total_score=50), "OpenPlayer")):
            player.pseudonym = name
        db.session.commit()
    assert _leaderboard_names(app) == ["OpenPlayer"]
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "pilot"))
        study.settings = {**study.settings, "leaderboard": 1}
        db.session.commit()
    assert _leaderboard_names(app) == ["Recruited", "OpenPlayer"]
    page = app.test_client().get(LINK).get_data(as_text=True)
    assert "Your score appears on the game's public leaderboard under a made-up nickname" in page


def test_the_leaderboard_setting_from_the_cli(app):
    with app.app_context():
        make_set()
    runner = app.test_cli_runner()
    base = ["--sets", "test-set", "--name", "P", "--mode", "prolific", "--completion-url", "https://e.org/x"]
    assert runner.invoke(args=["studies", "create", "a", *base]).exit_code == 0
    assert runner.invoke(args=["studies", "create", "b", *base, "--leaderboard"]).exit_code == 0
    from webapp.extensions import db
    from webapp.models import Study

    with app.app_context():
        settings = {s.slug: s.settings["leaderboard"] for s in db.session.scalars(select(Study))}
    assert settings == {"a": 0, "b": 1}


def test_open_game_players_can_delete_their_data(app, shipped_classifier):
    from tests.game.conftest import consented_client
    from webapp.extensions import db
    from webapp.models import Player, Round

    _with_default_set(app, shipped_classifier)
    consent = app.test_client().get("/consent").get_data(as_text=True)
    assert "Delete my data" in consent and "public leaderboard" in consent
    assert "anonymous" not in consent  # a random id and an address hash are pseudonymous, not anonymous
    client = consented_client(app)
    assert _start(client).status_code == 201
    for path in ("/leaderboard", "/how-to", "/about"):
        assert re.search(r'href="/study/withdraw" data-testid="delete-my-data">Delete my data<',
                         client.get(path).get_data(as_text=True)), path
    page = client.get("/study/withdraw").get_data(as_text=True)
    assert "<h1>Delete my data</h1>" in page and "study" not in page.lower().split("<h1>")[1].split("</h1>")[0]
    with client.session_transaction() as session:
        public_id = session["player"]
    assert client.post("/study/withdraw", headers={"Accept": "application/json"}).json == {"withdrawn": True}
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Round)) == 0
        assert db.session.scalar(select(Player).where(Player.public_id == public_id)) is None
