"""Issue 22: joining is the first thing every participant of a study launch does, all within
the same minutes, so agreeing to the consent costs one INSERT and one commit, and the
generated pseudonym is not looked up first: the unique key refuses a taken one."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from webapp.extensions import db
from webapp.models import Player
from webapp.services import players as players_service


def _consent(client, app):
    return client.post("/api/consent", json={"agree": True, "version": app.config["CONSENT_VERSION"]})


def _statements(app, run) -> list[str]:
    """The SQL statements ``run()`` sends (each executemany counts once)."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()).upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_a_visitor_joins_with_one_write(app):
    client = app.test_client()
    sent = _statements(app, lambda: _consent(client, app))
    writes = [s for s in sent if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    # before: SELECT the pseudonym, INSERT, COMMIT, UPDATE the consent, COMMIT, SELECT again
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO PLAYER"), writes
    assert not [s for s in sent if s.startswith("SELECT") and "PLAYER" in s], sent
    me = client.get("/api/me").get_json()
    assert me["consent_version"] == app.config["CONSENT_VERSION"] and not me["needs_consent"]
    assert me["pseudonym"] and me["total_score"] == 0 and me["rounds_played"] == 0


def test_a_taken_generated_pseudonym_is_replaced(app, monkeypatch):
    first = app.test_client()
    assert _consent(first, app).status_code == 200
    taken = first.get("/api/me").get_json()["pseudonym"]
    names = iter([taken.upper(), taken, "QuietHeron77"])  # two clashes (case folded), then free
    monkeypatch.setattr(players_service, "generate_pseudonym", lambda digits=2: next(names))
    second = app.test_client()
    answer = _consent(second, app)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["pseudonym"] == "QuietHeron77"
    assert second.get("/api/me").get_json()["pseudonym"] == "QuietHeron77"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Player)) == 2


def test_every_clash_ends_in_a_unique_fallback_name(app, monkeypatch):
    first = app.test_client()
    assert _consent(first, app).status_code == 200
    taken = first.get("/api/me").get_json()["pseudonym"]
    monkeypatch.setattr(players_service, "generate_pseudonym", lambda digits=2: taken)
    answer = _consent(app.test_client(), app)
    assert answer.status_code == 200 and answer.get_json()["pseudonym"].startswith("Player")


def test_a_failed_join_for_another_reason_is_not_retried(app, monkeypatch):
    """Only a pseudonym clash gets a new name; any other refusal of the INSERT is an error."""
    from sqlalchemy.exc import IntegrityError

    def refuse():
        raise IntegrityError("INSERT", {}, Exception("refused"))

    with app.test_request_context():
        monkeypatch.setattr(db.session, "commit", refuse)
        with pytest.raises(IntegrityError):
            players_service.join(app.config["CONSENT_VERSION"])
