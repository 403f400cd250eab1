"""The address participants use (issue 21, researcher row 6): the participant link was whatever
host the researcher browsed from (``http://127.0.0.1:8102/study/...``), so a link that only the
researcher's own computer can open could be pasted into Prolific. Now every study link is built
from ``DA_PUBLIC_URL`` (else Flask's ``SERVER_NAME``), the study page says where its address
came from, and a Prolific study never shows a loopback link."""

from __future__ import annotations

import re

import pytest

from tests.research.conftest import make_set, make_study

PROLIFIC_IDS = "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"


@pytest.fixture
def studies(app):
    with app.app_context():
        make_set()
        make_study("pilot", "test-set", mode="prolific")
        make_study("open", "test-set", mode="public")
    return app


def _links(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="study-link-([a-z0-9-]+)">([^<]*)<', html))


def test_links_use_the_public_url_on_every_study_page(studies, research_client) -> None:
    studies.config["PUBLIC_URL"] = "https://draw.example.org/"
    index = research_client.get("/research/").get_data(as_text=True)
    assert _links(index) == {"pilot": "https://draw.example.org/study/pilot" + PROLIFIC_IDS.replace("&", "&amp;"),
                             "open": "https://draw.example.org/study/open"}
    page = research_client.get("/research/dashboard?study=pilot").get_data(as_text=True)
    assert "https://draw.example.org/study/pilot?" in page
    assert re.search(r'data-testid="study-address">Address from DA_PUBLIC_URL\.', page)


def test_a_prolific_study_never_shows_a_loopback_link(studies, research_client) -> None:
    """Browsing from the game's own machine (the test client is http://localhost) without a
    public address: no Prolific link to copy, and the page says what to set."""
    page = research_client.get("/research/dashboard?study=pilot").get_data(as_text=True)
    assert 'data-testid="study-link-pilot"' not in page
    assert 'data-testid="study-link-refused-pilot"' in page and "DA_PUBLIC_URL" in page
    assert "PROLIFIC_PID" not in page
    # The open game's link may point at this machine (someone playing here), and says so.
    page = research_client.get("/research/dashboard?study=open").get_data(as_text=True)
    assert _links(page) == {"open": "http://localhost/study/open"}
    assert "only this computer can open it" in page
    studies.config["PUBLIC_URL"] = "http://127.0.0.1:8000"  # a public URL that is not public
    page = research_client.get("/research/dashboard?study=pilot").get_data(as_text=True)
    assert 'data-testid="study-link-refused-pilot"' in page


def test_links_built_from_the_request_refuse_every_loopback_address(studies) -> None:
    from webapp.extensions import db
    from webapp.models import Study
    from webapp.public_url import FROM_REQUEST, study_link

    with studies.app_context():
        pilot = db.session.scalar(db.select(Study).where(Study.slug == "pilot"))
        for base in ("http://localhost", "http://127.0.0.1:8102", "http://[::1]:8000",
                     "http://0.0.0.0:8000"):
            with studies.test_request_context("/research/", base_url=base):
                link = study_link(pilot)
                assert link.refused and link.loopback and link.source == FROM_REQUEST, base
        # Behind a real host name (a reverse proxy), the request's own address is usable.
        with studies.test_request_context("/research/", base_url="https://lab.example.org"):
            link = study_link(pilot)
        assert not link.refused and link.url == "https://lab.example.org/study/pilot" + PROLIFIC_IDS


def test_server_name_is_the_fallback(studies) -> None:
    from webapp.public_url import FROM_SERVER_NAME, study_link
    from webapp.models import Study
    from webapp.extensions import db

    studies.config.update(SERVER_NAME="draw.example.org", PREFERRED_URL_SCHEME="https")
    with studies.app_context():
        study = db.session.scalar(db.select(Study).where(Study.slug == "open"))
        link = study_link(study)
    assert (link.url, link.source, link.refused) == ("https://draw.example.org/study/open",
                                                     FROM_SERVER_NAME, False)


@pytest.mark.parametrize("value", ["draw.example.org", "ftp://draw.example.org", "https://",
                                   "https://draw.example.org/?x=1", "https://u:p@draw.example.org"])
def test_a_malformed_public_url_refuses_to_start(tmp_path, value) -> None:
    from webapp import create_app

    with pytest.raises(RuntimeError, match="DA_PUBLIC_URL"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                    "SECRET_KEY": "test", "PUBLIC_URL": value})


def test_loopback_detection() -> None:
    from webapp.public_url import is_loopback

    for url in ("http://localhost:8000", "http://LOCALHOST.", "http://app.localhost", "http://127.0.0.1",
                "http://127.8.9.1:80", "http://[::1]:8000", "http://0.0.0.0:8080", "http://[::]"):
        assert is_loopback(url), url
    for url in ("https://draw.example.org", "http://192.168.1.20:8000", "http://10.0.0.5",
                "https://localhost.example.org"):
        assert not is_loopback(url), url


def test_the_cli_prints_the_public_link_or_why_there_is_none(app) -> None:
    with app.app_context():
        make_set()
    runner = app.test_cli_runner()
    common = ["--sets", "test-set", "--name", "P", "--mode", "prolific",
              "--completion-url", "https://example.org/done"]
    result = runner.invoke(args=["studies", "create", "pilot", *common])
    assert result.exit_code == 0, result.output
    assert "no participant link: set DA_PUBLIC_URL" in result.output
    app.config["PUBLIC_URL"] = "https://draw.example.org"
    result = runner.invoke(args=["studies", "create", "pilot2", *common])
    assert result.exit_code == 0, result.output
    assert "participant link: https://draw.example.org/study/pilot2?PROLIFIC_PID=" in result.output
