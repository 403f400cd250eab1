"""The research CLI groups, run through Flask's test CLI runner."""

from __future__ import annotations

import csv
import hashlib
import io

from sqlalchemy import select

from tests.research.conftest import PASSWORD, login, make_set


def test_users_create_with_password_stdin(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "carol", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert login(client, "carol").status_code == 302
    duplicate = runner.invoke(args=["users", "create", "carol", "--password-stdin"], input=PASSWORD + "\n")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    short = runner.invoke(args=["users", "create", "dave", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least" in short.output
    assert "carol" in runner.invoke(args=["users", "list"]).output


def test_tokens_create_prints_once_list_and_revoke(app, client, researcher):
    from webapp.extensions import db
    from webapp.models import ApiToken

    runner = app.test_cli_runner()
    result = runner.invoke(args=["tokens", "create", "alice", "nightly"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip()
    assert plain.startswith("da_") and "\n" not in plain
    with app.app_context():
        assert db.session.scalar(select(ApiToken.token_hash)) == hashlib.sha256(plain.encode()).hexdigest()
        token_id = db.session.scalar(select(ApiToken.id))
    listing = runner.invoke(args=["tokens", "list"]).output
    assert "nightly" in listing and "active" in listing and plain not in listing
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/research/export/rounds", headers=headers).status_code == 200
    assert runner.invoke(args=["tokens", "revoke", str(token_id)]).exit_code == 0
    assert client.get("/research/export/rounds", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["tokens", "list", "alice"]).output
    assert runner.invoke(args=["tokens", "create", "nobody", "x"]).exit_code != 0


def test_studies_create_edit_list(app):
    from webapp.extensions import db
    from webapp.models import Study

    with app.app_context():
        make_set("set-a")
        make_set("set-b")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["studies", "create", "spring", "--name", "Spring pilot", "--sets", "set-a,set-b",
                                 "--mode", "prolific", "--rounds", "20", "--target", "30",
                                 "--completion-url", "https://app.prolific.com/submissions/complete?cc=XYZ"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "spring"))
        assert sorted(s.name for s in study.stimulus_sets) == ["set-a", "set-b"]
        assert study.settings["rounds_per_participant"] == 20
        assert study.settings["target_rounds_per_stimulus"] == 30
        assert study.settings["timer_ms"] == app.config["ROUND_TIMER_MS"]
        assert study.consent_version == app.config["CONSENT_VERSION"]
    edited = runner.invoke(args=["studies", "edit", "spring", "--timer-ms", "8000", "--brush-fraction", "0.05"])
    assert edited.exit_code == 0, edited.output
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "spring"))
        assert study.settings["timer_ms"] == 8000 and study.settings["brush_fraction"] == 0.05
        assert study.settings["rounds_per_participant"] == 20 and len(study.stimulus_sets) == 2
    listing = runner.invoke(args=["studies", "list"]).output
    assert "spring\tprolific\tactive\tset-a,set-b\trounds=20" in listing
    for bad, message in ((["--sets", "nope"], "unknown stimulus sets"),
                         (["--sets", "set-a", "--mode", "prolific"], "completion URL"),
                         (["--sets", "set-a", "--rounds", "0"], "between")):
        refused = runner.invoke(args=["studies", "create", "other", "--name", "x", *bad])
        assert refused.exit_code != 0 and message in refused.output, refused.output


def test_export_and_clicks_import_commands(app, seeded, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "clicks.csv"
    result = runner.invoke(args=["export", "clicks", "--study", "pilot", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and {r["study"] for r in rows} == {"pilot"}
    refused = runner.invoke(args=["export", "clicks", "--study", "nope", "--out", str(out)])
    assert refused.exit_code != 0 and "unknown study" in refused.output

    legacy = tmp_path / "legacy.csv"
    legacy.write_text("stimulus,trial,x,y,t_ms\ncat-000,1,1,2,0\ncat-000,1,3,4,16\n")
    imported = runner.invoke(args=["clicks", "import", str(legacy), "--set", "test-set", "--study", "pilot"])
    assert imported.exit_code == 0, imported.output
    assert "imported 2 points in 1 rounds" in imported.output
    legacy.write_text("stimulus,trial,x,y\nzebra-1,1,1,2\n")
    failed = runner.invoke(args=["clicks", "import", str(legacy), "--set", "test-set"])
    assert failed.exit_code != 0 and "zebra-1" in failed.output


def test_study_pages_create_and_edit(app, research_client):
    from webapp.extensions import db
    from webapp.models import Study

    with app.app_context():
        make_set("set-a")
    form = {"slug": "web-study", "name": "From the page", "sets": ["set-a"], "mode": "public",
            "timer_ms": "12000", "brush_fraction": "0.05", "rounds_per_participant": "10",
            "target_rounds_per_stimulus": "15", "classifier": "", "active": "1"}
    assert b"set-a" in research_client.get("/research/studies/new").data
    created = research_client.post("/research/studies/new", data=form)
    assert created.status_code == 302 and "study=web-study" in created.headers["Location"]
    bad = research_client.post("/research/studies/new", data={**form, "slug": "Bad Slug!"})
    assert bad.status_code == 400 and b"slug must be" in bad.data
    edited = research_client.post("/research/studies/web-study/edit",
                                  data={**form, "mode": "prolific", "completion_url": "https://example.org/c"})
    assert edited.status_code == 302
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "web-study"))
        assert study.mode == "prolific" and study.settings["timer_ms"] == 12000
        assert study.settings["brush_fraction"] == 0.05
    assert b"web-study" in research_client.get("/research/").data
    assert research_client.get("/research/studies/missing/edit").status_code == 404


def test_settings_nothing_reads_are_gone_from_cli_page_and_stored_studies(app, research_client):
    """`classifier` and `steer_unreliable` were stored and shown but never used by the game
    (issue 8): they are refused by the CLI, absent from the form, and dropped from old studies
    the next time they are saved."""
    from webapp.extensions import db
    from webapp.models import Study

    with app.app_context():
        make_set("set-a")
    runner = app.test_cli_runner()
    for option in (["--classifier", "big"], ["--steer-unreliable"]):
        refused = runner.invoke(args=["studies", "create", "s1", "--name", "x", "--sets", "set-a", *option])
        assert refused.exit_code == 2 and "No such option" in refused.output
    page = research_client.get("/research/studies/new").get_data(as_text=True)
    assert 'name="classifier"' not in page and 'name="steer_unreliable"' not in page
    assert runner.invoke(args=["studies", "create", "old", "--name", "x", "--sets", "set-a"]).exit_code == 0
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "old"))
        study.settings = {**study.settings, "classifier": "big", "steer_unreliable": True}
        db.session.commit()
    assert runner.invoke(args=["studies", "edit", "old", "--timer-ms", "9000"]).exit_code == 0
    with app.app_context():
        settings = db.session.scalar(select(Study).where(Study.slug == "old")).settings
        assert "classifier" not in settings and "steer_unreliable" not in settings
def test_studies_create_with_a_stimulus_subset_and_the_address_rule_off(app):
    """A lab pilot from the command line: 2 of the set's stimuli, no address flag."""
    from webapp.extensions import db
    from webapp.models import Study
    from tests.research.conftest import make_set

    with app.app_context():
        make_set()
    result = app.test_cli_runner().invoke(args=["studies", "create", "lab", "--name", "Lab", "--sets",
                                                 "test-set", "--stimuli", "2", "--address-burst", "0"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        study = db.session.scalar(db.select(Study).where(Study.slug == "lab"))
        assert len(study.settings["stimulus_ids"]) == 2 and study.settings["address_burst_per_hour"] == 0
    too_many = app.test_cli_runner().invoke(args=["studies", "create", "big", "--name", "Big", "--sets",
                                                  "test-set", "--stimuli", "9"])
    assert too_many.exit_code != 0 and "fewer than the 9" in too_many.output
