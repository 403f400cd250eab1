"""The server keeps the contract it publishes: schemathesis runs every check it has (the CLI's
``--checks all``) against /api/openapi.json in-process, with a consented player's cookie, on a
small seeded sample of generated requests per operation."""

from __future__ import annotations

import schemathesis

EXAMPLES_PER_OPERATION = 15


def test_every_operation_passes_all_schemathesis_checks(make_game_app):
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import CHECKS, load_all_checks

    from tests.game.conftest import consented_client

    app = make_game_app()
    cookie = consented_client(app).get_cookie("session").value
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    load_all_checks()
    checks = CHECKS.get_all()
    failures: dict[str, str] = {}
    # The WebSocket handshake needs a real connection, which an in-process WSGI call has not:
    # tests/game/test_socket.py runs it against a live server.
    operations = [result.ok() for result in schema.get_all_operations()
                  if result.ok().path != "/api/socket"]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # noqa: ANN001 - a schemathesis Case
            case.call_and_validate(headers={"Cookie": f"session={cookie}"}, checks=checks)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group of failures
            failures[operation.label] = str(exc)[:2000]
    assert len(operations) >= 9 and len(checks) >= 10
    assert failures == {}, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
