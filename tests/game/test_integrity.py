"""Issue 20 (items 4 and 7) and issue 21 (item 4), replayed with real requests: cookies and
players only from this site's own JSON requests and only after consent, limits on making
players, pseudonyms that cannot impersonate, and a leaderboard sybils cannot flood."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tests.conftest import make_test_app, shipped_settings
from webapp.extensions import db
from webapp.models import Player

CONSENT = {"agree": True}


def _players(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Player))


def _consented(app, client=None, **headers):
    client = client or app.test_client()
    answer = client.post("/api/consent", headers=headers,
                         json={**CONSENT, "version": app.config["CONSENT_VERSION"]})
    assert answer.status_code == 200, answer.json
    return client


# --- nothing stored before consent (issue 21, item 4) -----------------------------------------


def test_pages_and_api_reads_store_nothing_before_consent(app):
    """Issue 21: every cookie-less GET of /, /leaderboard, /how-to stored a player with an
    address hash (9 requests, 9 rows)."""
    for path in ("/", "/leaderboard", "/how-to", "/about", "/consent", "/api/me",
                 "/api/leaderboard", "/favicon.ico"):
        for _ in range(3):
            response = app.test_client().get(path)
            assert response.status_code in (200, 302), path
            assert "session=" not in response.headers.get("Set-Cookie", ""), path
    assert _players(app) == 0
    me = app.test_client().get("/api/me").json
    assert me["needs_consent"] is True and me["pseudonym"] is None
    # The game page sends a visitor without consent to the consent page.
    assert app.test_client().get("/").headers["Location"].startswith("/consent")


def test_a_readiness_poller_does_not_flag_the_real_participants_behind_its_address(app):
    """Issue 21: a readiness poller's 452 player rows got two real participants on the same lab
    network flagged `address_burst`. The poller now stores nothing, so the two are not flagged."""
    from webapp.research.filters import Scope
    from webapp.research.quality import flags_for

    poller = app.test_client()
    for _ in range(60):
        assert app.test_client().get("/").status_code == 302
        assert poller.get("/api/me").status_code == 200
    participants = [_consented(app) for _ in range(2)]
    assert _players(app) == 2
    with app.app_context():
        flagged = {pid: [f.code for f in flags] for pid, flags in flags_for(Scope()).items()}
    assert not any("address_burst" in codes for codes in flagged.values())
    assert all(c.get("/api/me").json["needs_consent"] is False for c in participants)


# --- JSON only, same origin only (issue 20, item 4) -------------------------------------------


def test_a_cross_site_text_plain_form_post_creates_nothing_and_keeps_the_cookie(app):
    """Issue 20: a cross-site `enctype=text/plain` form POST to /api/me arrived without the
    (Lax) cookie; the server created a player and replaced the visitor's cookie, so a Prolific
    participant lost their binding."""
    body = '{"pseudonym": "x", "ignore": "="}'
    for headers in ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                    {"Origin": "https://evil.example"}, {}):
        victim_page = app.test_client()
        answer = victim_page.post("/api/me", data=body, content_type="text/plain", headers=headers)
        assert answer.status_code in (403, 415), (headers, answer.status_code)
        assert answer.is_json and "error" in answer.json
        assert "Set-Cookie" not in answer.headers
    assert _players(app) == 0


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:9000"},   # another port
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Origin": "http://localhost:9000"},                                  # older browsers
    {"Origin": "null"},                                                   # sandboxed frames
])
def test_another_origin_can_neither_consent_nor_rename(app, headers):
    """Issue 20: same-site pages on another port gave consent and renamed players through the
    JSON API (fetch with credentials, JSON body)."""
    player = _consented(app)
    name = player.get("/api/me").json["pseudonym"]
    consent = app.test_client().post("/api/consent", headers=headers,
                                     json={**CONSENT, "version": app.config["CONSENT_VERSION"]})
    assert consent.status_code == 403 and "Set-Cookie" not in consent.headers
    renamed = player.post("/api/me", headers=headers, json={"pseudonym": "Hijacked"})
    assert renamed.status_code == 403 and renamed.is_json
    start = player.post("/api/rounds", headers=headers, json={"round_id": str(uuid.uuid4())})
    assert start.status_code == 403
    assert player.get("/api/me").json["pseudonym"] == name and _players(app) == 1


def test_the_sites_own_pages_pass(app):
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    player = _consented(app, **same)
    assert player.post("/api/me", headers=same, json={"pseudonym": "Ordinary Name"}).json[
        "pseudonym"] == "Ordinary Name"
    old = {"Origin": "http://localhost"}  # a browser without Sec-Fetch-Site
    assert player.post("/api/me", headers=old, json={"pseudonym": "Other Name"}).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_the_api_takes_json_only(app, content_type):
    player = _consented(app)
    answer = player.post("/api/me", data='{"pseudonym": "Formed"}', content_type=content_type)
    assert answer.status_code == 415 and answer.is_json
    assert player.get("/api/me").json["pseudonym"] != "Formed"


# --- creating players (issue 20, item 7) ------------------------------------------------------


def test_player_creation_is_limited_per_address(database_url, tmp_path):
    """Issue 20: 2,908 players in 15 s from one address. Now at most the configured number per
    address class; another address is not affected, and an IPv6 client's /64 counts once."""
    app = make_test_app(database_url, tmp_path, TRUSTED_PROXY_HOPS=1,
                        **shipped_settings("LIMIT_NEW_PLAYERS_PER_ADDRESS"))
    per_minute = 30
    answers = []
    for i in range(per_minute + 5):
        answers.append(app.test_client().post(
            "/api/consent", headers={"X-Forwarded-For": "203.0.113.5"},
            json={**CONSENT, "version": app.config["CONSENT_VERSION"]}))
    codes = [a.status_code for a in answers]
    assert codes[:per_minute] == [200] * per_minute and set(codes[per_minute:]) == {429}
    assert answers[-1].is_json and int(answers[-1].headers["Retry-After"]) > 0
    assert _players(app) == per_minute
    _consented(app, **{"X-Forwarded-For": "198.51.100.20"})
    for i in range(per_minute):
        app.test_client().post("/api/consent", headers={"X-Forwarded-For": f"2001:db8:1:2::{i + 1:x}"},
                               json={**CONSENT, "version": app.config["CONSENT_VERSION"]})
    rotated = app.test_client().post("/api/consent", headers={"X-Forwarded-For": "2001:db8:1:2:ffff::9"},
                                     json={**CONSENT, "version": app.config["CONSENT_VERSION"]})
    assert rotated.status_code == 429


# --- pseudonyms (issue 20, item 7) ------------------------------------------------------------


def test_pseudonyms_cannot_impersonate_or_offend(app):
    """Issue 20: duplicate, homoglyph, blank and offensive pseudonyms were accepted."""
    first, second = _consented(app), _consented(app)
    assert first.post("/api/me", json={"pseudonym": "CleverOtter"}).status_code == 200
    for copy in ("CleverOtter", "cleverotter", "CLEVEROTTER", "CIeverOtter", "Clever0tter",
                 "ＣｌｅｖｅｒＯｔｔｅｒ", "Clever\u200bOtter"):
        answer = second.post("/api/me", json={"pseudonym": copy})
        assert answer.status_code == 409 and answer.is_json, copy
    for refused in ("Сlever", "\u3164", "\u2800\u2800\u2800", "\u200b\u200b", " . ", "FuckFace",
                    "sh1thead", "x" * 25, 42, None):
        answer = second.post("/api/me", json={"pseudonym": refused})
        assert answer.status_code == 400 and answer.is_json, refused
    kept = second.post("/api/me", json={"pseudonym": "  Brave\u200b  Otter\t7 "})
    assert kept.status_code == 200 and kept.json["pseudonym"] == "Brave Otter 7"
    # The player may re-save their own name in another case.
    assert first.post("/api/me", json={"pseudonym": "cleverOTTER"}).status_code == 200


def test_generated_pseudonyms_are_unique_and_clean(app):
    from webapp.services.players import _ADJECTIVES, _ANIMALS
    from webapp.services.pseudonyms import clean_pseudonym

    names = [_consented(app).get("/api/me").json["pseudonym"] for _ in range(40)]
    assert len({n.lower() for n in names}) == 40
    for adjective in _ADJECTIVES:
        for animal in _ANIMALS:
            assert clean_pseudonym(f"{adjective}{animal}42") == f"{adjective}{animal}42"


# --- the leaderboard (issue 20, item 7) -------------------------------------------------------


def test_sybils_from_one_address_cannot_flood_the_leaderboard(database_url, tmp_path):
    """Issue 20: 12 sybil players took 7 of the top 10 in one second. A player is listed only
    after the configured number of credited rounds, and one address class shows its best."""
    app = make_test_app(database_url, tmp_path,
                        **shipped_settings("LEADERBOARD_MIN_ROUNDS", "LEADERBOARD_PER_ADDRESS"))
    min_rounds = app.config["LEADERBOARD_MIN_ROUNDS"]
    with app.app_context():
        def player(name: str, address: str, score: int, rounds: int) -> None:
            db.session.add(Player(public_id=str(uuid.uuid4()), pseudonym=name,
                                  address_hash=address, total_score=score, best_round=100,
                                  rounds_played=rounds, consent_version="v"))

        for i in range(12):  # sybils: one address, one lucky round each, or many rounds each
            player(f"Sybil{i}", "a" * 64, 1000 - i, 1 if i < 6 else min_rounds)
        for i in range(8):
            player(f"Human{i}", f"{i:064d}", 500 - i, min_rounds + i)
        db.session.commit()
    names = [e["pseudonym"] for e in app.test_client().get("/api/leaderboard?limit=10").json["entries"]]
    assert sum(n.startswith("Sybil") for n in names) == 1 and names[0] == "Sybil6"
    assert names[1:] == [f"Human{i}" for i in range(8)]
