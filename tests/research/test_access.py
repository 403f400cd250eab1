"""Walk every researcher-only route of the app as an anonymous visitor and as a player.

The routes come from `app.url_map`, so a route added later without `researcher_required` fails
here without anyone having to remember to list it. Each one is requested with every method it
takes, as a browser and as a script; the answer must be a refusal (401/403, or a redirect to the
login page) whose body holds none of the seeded data.
"""

from __future__ import annotations

import pytest

#: researcher-only rules outside /research would be listed here; today there are none
EXTRA_RESEARCHER_RULES: set[str] = set()
#: open to anyone: the login form, and logging out (which only clears the caller's own session)
PUBLIC = {"/research/login", "/research/logout"}


def _url(app, rule, seeded) -> str:
    """A URL for ``rule`` pointing at real seeded rows (a new argument name fails loudly)."""
    values = {"player_id": seeded.player_ids[0], "stimulus_id": 1, "token_id": 1,
              "slug": seeded.study_slug, "kind": "bundle"}
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"teach the walk a value for {unknown} in {rule.rule}"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})


def _secrets(app, seeded) -> list[str]:
    """Strings that must never reach an unauthenticated visitor."""
    from webapp.extensions import db
    from webapp.models import Player
    from webapp.research.codes import participant_code

    with app.app_context():
        players = db.session.query(Player).all()
        found = [p.external_id for p in players if p.external_id]
        found += [participant_code(p.public_id) for p in players] + [p.public_id for p in players]
    return found + seeded.round_ids + seeded.stimulus_keys + ["Study pilot", "test-set"]


def _routes(app):
    rules = [r for r in app.url_map.iter_rules()
             if r.rule.startswith("/research") or r.rule in EXTRA_RESEARCHER_RULES]
    return [r for r in rules if r.rule not in PUBLIC]


def test_walk_covers_the_research_area(app):
    endpoints = {r.endpoint for r in _routes(app)}
    # A sanity floor: the walk must see the pages and endpoints this area is made of.
    assert {"research.index", "research.dashboard", "research.participants", "research.stimuli",
            "research.stimulus_map", "research.export_page", "research.export_file",
            "research.tokens", "research.revoke", "research.study_new", "research.study_edit",
            "research.researcher_withdraw", "research.toggle_exclude"} <= endpoints


@pytest.mark.parametrize("who", ["anonymous", "player"])
def test_every_research_route_refuses(app, seeded, researcher, who):
    secrets = _secrets(app, seeded)
    client = app.test_client()
    if who == "player":
        from webapp.extensions import db
        from webapp.models import Player

        with app.app_context():
            public_id = db.session.get(Player, seeded.player_ids[0]).public_id
        with client.session_transaction() as session:
            session["player"] = public_id
    checked = 0
    for rule in _routes(app):
        url = _url(app, rule, seeded)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({"Accept": "text/html"}, {"Accept": "application/json"}, {},
                            {"Authorization": "Bearer da_forged"}):
                response = client.open(url + "?study=pilot", method=method, headers=headers,
                                       data={"name": "x", "excluded": "1", "confirm": "delete"})
                body = response.get_data(as_text=True)
                where = f"{who} {method} {url} {headers}"
                if response.status_code == 302:
                    assert "/research/login" in response.headers["Location"], where
                    assert method == "GET" and headers.get("Accept") == "text/html", where
                else:
                    assert response.status_code in (401, 403), f"{where}: {response.status_code}"
                    if response.status_code == 401:
                        assert "Bearer" in response.headers.get("WWW-Authenticate", ""), where
                assert not [s for s in secrets if s in body], where
                checked += 1
    assert checked >= 4 * len(_routes(app))
    # Nothing was changed by the refused posts: every player and round is still there.
    from webapp.extensions import db
    from webapp.models import Player, Round

    with app.app_context():
        assert db.session.query(Player).count() == len(seeded.player_ids)
        assert db.session.query(Round).count() == len(seeded.round_ids)
        assert not db.session.query(Player).filter(Player.excluded.is_(True)).count()


def test_the_same_walk_succeeds_when_logged_in(app, seeded, research_client):
    """Proof that the refusals above come from the gate, not from broken routes. (API tokens
    only download exports: see test_security.test_token_reads_exports_but_nothing_else.)"""
    for rule in _routes(app):
        if "GET" not in rule.methods or "<" in rule.rule:
            continue
        response = research_client.get(rule.rule + "?study=pilot")
        assert response.status_code == 200, (rule.rule, response.status_code)


def test_login_page_shows_no_data(app, seeded):
    body = app.test_client().get("/research/login").get_data(as_text=True)
    assert not [s for s in _secrets(app, seeded) if s in body]
