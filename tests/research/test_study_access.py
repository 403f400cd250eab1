"""Issue 20, item 7: studies have owners and collaborators; a researcher sees, edits and exports
only their own studies (administrators all). Before, every researcher saw and exported every
study."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.research.conftest import add_round, human_points, login, make_player, make_set, make_study

PASSWORDS = {"owner": "owner's long passphrase 1", "helper": "helper's long passphrase 2",
             "outsider": "outsider's long passphrase 3", "boss": "boss's long passphrase 4"}


@pytest.fixture
def two_studies(app):
    """`mine` owned by owner (shared with helper), `theirs` owned by outsider; one participant
    with a round in each, and one open-game player."""
    from webapp.extensions import db
    from webapp.models import Researcher
    from webapp.research.access import set_collaborators
    from webapp.research.auth import create_researcher

    with app.app_context():
        ids = {name: create_researcher(name, password, is_admin=name == "boss").id
               for name, password in PASSWORDS.items()}
        stimuli = make_set()
        mine, theirs = make_study("mine", "test-set"), make_study("theirs", "test-set")
        mine.created_by, theirs.created_by = ids["owner"], ids["outsider"]
        set_collaborators(mine, ["helper"])
        db.session.commit()
        people = {}
        for study, pid in ((mine, "MINE1"), (theirs, "THEIRS1"), (None, None)):
            player = make_player(study, external_id=pid)
            add_round(player, stimuli[0], human_points(12, player.id), study=study)
            people[pid or "public"] = player.id
        assert db.session.get(Researcher, ids["helper"]) is not None
    return people


def _client(app, name: str):
    client = app.test_client()
    assert login(client, name, PASSWORDS[name]).status_code == 302
    return client


def _exported_participants(client, query: str = "") -> set[str]:
    text = client.get(f"/research/export/rounds?include_external_ids=1{query}").get_data(as_text=True)
    return {row.get("external_id") or "" for row in csv.DictReader(io.StringIO(text))}


def test_a_researcher_sees_and_exports_only_their_studies(app, two_studies):
    for name in ("owner", "helper"):
        client = _client(app, name)
        index = client.get("/research/").get_data(as_text=True)
        assert "mine" in index and "theirs" not in index
        assert client.get("/research/dashboard?study=mine").status_code == 200
        for path in ("/research/dashboard?study=theirs", "/research/participants?study=theirs",
                     "/research/export/rounds?study=theirs", "/research/studies/theirs/edit"):
            assert client.get(path).status_code == 404, (name, path)
        # "All data" is all of their own studies' data, not the open game's or others'.
        assert _exported_participants(client) == {"MINE1"}
        participants = client.get("/research/participants").get_data(as_text=True)
        assert "MINE1" in participants and "THEIRS1" not in participants
        # Nor can they exclude or withdraw someone else's participant by id.
        other = two_studies["THEIRS1"]
        assert client.post(f"/research/participants/{other}/exclude",
                           data={"excluded": "1"}).status_code == 404
        assert client.post(f"/research/participants/{other}/withdraw",
                           data={"confirm": "delete"}).status_code == 404


def test_an_unknown_study_and_someone_elses_look_the_same(app, two_studies):
    client = _client(app, "owner")
    theirs = client.get("/research/export/rounds?study=theirs")
    missing = client.get("/research/export/rounds?study=no-such-study")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["error"].replace("theirs", "X") == missing.json["error"].replace("no-such-study", "X")


def test_an_administrator_sees_everything(app, two_studies):
    client = _client(app, "boss")
    assert _exported_participants(client) == {"MINE1", "THEIRS1", ""}
    assert client.get("/research/dashboard?study=theirs").status_code == 200


def test_only_the_owner_shares_a_study(app, two_studies):
    from webapp.extensions import db
    from webapp.models import Study

    helper = _client(app, "helper")
    page = helper.get("/research/studies/mine/edit").get_data(as_text=True)
    assert 'name="collaborators"' not in page
    owner = _client(app, "owner")
    assert 'name="collaborators"' in owner.get("/research/studies/mine/edit").get_data(as_text=True)
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "mine"))
        form = {"slug": "mine", "name": study.name, "sets": "test-set", "mode": "prolific",
                "completion_url": study.completion_url, "active": "1",
                "collaborators": "helper, outsider"}
    refused = owner.post("/research/studies/mine/edit", data={**form, "collaborators": "nobody"})
    assert refused.status_code == 400 and b"unknown researchers: nobody" in refused.data
    assert owner.post("/research/studies/mine/edit", data=form).status_code == 302
    outsider = _client(app, "outsider")
    assert outsider.get("/research/dashboard?study=mine").status_code == 200


def test_a_study_made_on_the_page_belongs_to_its_maker(app, two_studies):
    client = _client(app, "helper")
    made = client.post("/research/studies/new", data={
        "slug": "helpers", "name": "Helper's", "sets": "test-set", "mode": "public", "active": "1"})
    assert made.status_code == 302
    assert "helpers" not in _client(app, "owner").get("/research/").get_data(as_text=True)
    assert "helpers" in client.get("/research/").get_data(as_text=True)


def test_cli_owner_and_sharing(app, two_studies):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["studies", "create", "cli-study", "--name", "CLI", "--sets",
                               "test-set", "--owner", "outsider"])
    assert made.exit_code == 0, made.output
    shared = runner.invoke(args=["studies", "share", "cli-study", "owner"])
    assert shared.exit_code == 0 and "owner" in shared.output
    assert runner.invoke(args=["studies", "share", "cli-study", "nobody"]).exit_code != 0
    assert "cli-study" in _client(app, "owner").get("/research/").get_data(as_text=True)
    assert runner.invoke(args=["studies", "unshare", "cli-study", "owner"]).exit_code == 0
    assert "cli-study" not in _client(app, "owner").get("/research/").get_data(as_text=True)
    assert "owner=outsider" in runner.invoke(args=["studies", "list"]).output


def test_passwords_need_a_strength_score(app):
    """Issue 20: passwords only needed 10 characters (``aaaaaaaaaa`` passed)."""
    from webapp.research.auth import create_researcher

    with app.app_context():
        for weak in ("aaaaaaaaaaaa", "password1234", "qwertyuiop12", "carolcarol123"):
            with pytest.raises(ValueError, match="guess"):
                create_researcher("carol", weak)
        create_researcher("carol", "ample tulip runway 88")
    result = app.test_cli_runner().invoke(args=["users", "create", "dave", "--password-stdin"],
                                          input="1234567890ab\n")
    assert result.exit_code != 0 and "guess" in result.output
