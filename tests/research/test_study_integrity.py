"""Issue 20, item 6 (completion only for real participation) and item 7 (no PID oracle, no PID
squatting), replayed through the study link and the game API."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from tests.research.conftest import add_round, human_points, make_player, make_set, make_study

PID = "65a1b2c3d4e5f60718293a4b"


@pytest.fixture
def study(app):
    with app.app_context():
        make_set()
        make_study("pilot", "test-set", rounds=3)
    return app


def _players(app) -> int:
    from webapp.extensions import db
    from webapp.models import Player

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Player))


def _without_token(page: bytes) -> bytes:
    return re.sub(rb'name="csrf_token" value="[^"]*"', b"", page)


@pytest.mark.parametrize("pid", ["FAKE0000000000000000000000", "FAKE", "5f1a2b3c4d5e6f7a8b9c0d1",
                                 "5f1a2b3c4d5e6f7a8b9c0d1eX", "zzzzzzzzzzzzzzzzzzzzzzzz",
                                 "5f1a2b3c 4d5e6f7a8b9c0d1e"])
def test_made_up_participant_ids_are_refused(study, pid):
    """Issue 20: a made-up id (FAKE...) joined a study. Prolific ids are 24 hex characters."""
    client = study.test_client()
    page = client.get("/study/pilot", query_string={"PROLIFIC_PID": pid})
    assert page.status_code == 400 and b"not valid" in page.data
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 403
    assert _players(study) == 0


def test_the_trivial_bot_gets_no_completion_url(study):
    """Issue 20: 5 points, wait 2.1 s, skip, three times: the completion URL in 6.4 s. Skips
    never count now, so the bot is told how many rounds it still needs."""
    client = study.test_client()
    assert client.get(f"/study/pilot?PROLIFIC_PID={PID}").status_code == 200
    assert client.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302
    sent = {}
    for _ in range(3):
        rid = str(uuid.uuid4())
        assert client.post("/api/rounds", json={"round_id": rid, "study": "pilot"}).status_code == 201
        points = [[1.0 + i, 1.0 + i, 16.0 * i] for i in range(5)]
        client.post(f"/api/rounds/{rid}/points", json={"start_index": 0, "points": points})
        ended = client.post(f"/api/rounds/{rid}/end", json={"reason": "skip"}).json
        assert ended["study_credit"]["counts"] is False
        sent[rid] = 5
    answer = client.post("/study/pilot/complete", json={"rounds": sent})
    assert answer.status_code == 409 and answer.json["rounds_needed"] == 3
    assert "completion_url" not in answer.json


def test_the_study_link_is_no_oracle_and_an_id_cannot_be_squatted(study):
    """Issue 20: the study link revealed whether a PID had joined ("started in another
    browser") and the first browser to use an id kept it, locking its owner out."""
    squatter = study.test_client()
    fresh_page = squatter.get(f"/study/pilot?PROLIFIC_PID={PID}")
    assert squatter.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302
    # The id has joined; a new browser cannot tell.
    prober = study.test_client()
    probed = prober.get(f"/study/pilot?PROLIFIC_PID={PID}")
    assert probed.status_code == 200 and _without_token(probed.data) == _without_token(fresh_page.data)
    # The id's owner, arriving later in their own browser, is not locked out.
    owner = study.test_client()
    assert owner.get(f"/study/pilot?PROLIFIC_PID={PID}&SESSION_ID=real").status_code == 200
    assert owner.post("/study/pilot/consent", data={"agree": "yes"}).status_code == 302
    state = owner.get("/study/pilot/state")
    assert state.status_code == 200 and state.json["rounds_done"] == 0
    assert owner.post("/api/rounds", json={"round_id": str(uuid.uuid4()), "study": "pilot"}).status_code == 201
    # Both attempts are kept and flagged for the researcher.
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    with study.app_context():
        flags = flags_for(Scope())
    assert _players(study) == 2 and len(flags) == 2
    assert all(any(f.code == "duplicate_id" and "2 attempts" in f.detail for f in found)
               for found in flags.values())


def test_low_effort_participants_are_flagged_for_rejection_with_a_reason(app, research_client):
    """The dashboard says which participants did not genuinely take part, and why."""
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    with app.app_context():
        stimuli = make_set()
        study = make_study("pilot", "test-set", rounds=4)
        lazy, keen = make_player(study, external_id="LAZY1"), make_player(study, external_id="KEEN1")
        for i in range(4):
            add_round(lazy, stimuli[i % 3], human_points(12, i), study=study,
                      status="skipped" if i < 3 else "timeout")
            add_round(keen, stimuli[i % 3], human_points(12, 10 + i), study=study,
                      status="recognized" if i % 2 else "timeout")
        lazy_id, keen_id = lazy.id, keen.id
        flags = {pid: {f.code: f.detail for f in found} for pid, found in flags_for(Scope()).items()}
    assert keen_id not in flags
    assert flags[lazy_id]["low_effort"] == ("3 of 4 study rounds did not count toward completion "
                                            "(3 skipped)")
    page = research_client.get("/research/participants?study=pilot").get_data(as_text=True)
    row = page[page.index("LAZY1"):]
    row = row[:row.index("</tr>")]
    assert "low_effort" in row and "grounds to reject" in row and "3 skipped" in row
