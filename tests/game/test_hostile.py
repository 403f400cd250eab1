"""Hostile requests get 4xx JSON answers, never a 500, and the API says what it allows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import REPO

from tests.game.conftest import consented_client, start


def test_deeply_nested_json_is_a_400(game_app):
    """~20,000 nested "[" (40 KB): today a RecursionError and a 500."""
    client = consented_client(game_app)
    round_id, _ = start(client)
    body = b'{"start_index": 0, "points": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    for url in ("/api/rounds", f"/api/rounds/{round_id}/points", "/api/consent", "/api/me"):
        answer = client.post(url, data=body, content_type="application/json")
        assert answer.status_code == 400, (url, answer.status_code)
        assert "nested too deeply" in answer.get_json()["error"]


def test_unpaired_surrogates_are_a_400_and_paired_ones_are_text(game_app):
    """An escaped lone surrogate is not text (no column can store it); `json_body` refuses it,
    escaped as ``\\ud800`` in any string, while a paired escape (an emoji) is ordinary text."""
    client = consented_client(game_app)
    round_id, _ = start(client)
    for url, body in (("/api/me", b'{"pseudonym": "Zed\\ud800"}'),
                      (f"/api/rounds/{round_id}/points",
                       b'{"start_index": 0, "points": [], "note": "\\udfff"}')):
        answer = client.post(url, data=body, content_type="application/json")
        assert answer.status_code == 400 and "surrogate" in answer.get_json()["error"], url
    emoji = client.post("/api/me", data=b'{"pseudonym": "Zed \\ud83d\\ude00"}',
                        content_type="application/json")
    assert emoji.status_code == 200 and emoji.get_json()["pseudonym"] == "Zed \U0001F600"


@pytest.mark.parametrize("stimulus_id", ["99999999999999999999999", "2147483648", "9223372036854775808", "0"])
def test_out_of_range_stimulus_ids_are_404(game_app, stimulus_id):
    """Today: 500 on SQLite for the first, 500 on PostgreSQL for 2^31."""
    answer = game_app.test_client().get(f"/api/stimuli/{stimulus_id}/image.png")
    assert answer.status_code == 404 and answer.get_json() == {"error": "unknown stimulus"}


def test_too_large_body_is_413_and_closes_the_connection(game_app):
    """The body of a 413 is never read, so the connection cannot carry another request."""
    client = consented_client(game_app)
    big = b"[" + b"0," * (game_app.config["MAX_CONTENT_LENGTH"] // 2) + b"0]"
    answer = client.post("/api/rounds", data=big, content_type="application/json")
    assert answer.status_code == 413 and "error" in answer.get_json()
    assert answer.headers["Connection"] == "close"


def test_method_not_allowed_says_what_is_allowed(game_app):
    """TRACE (or any unsupported method) gets 405 JSON with an Allow header."""
    answer = game_app.test_client().open("/api/me", method="TRACE")
    assert answer.status_code == 405 and "error" in answer.get_json()
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_reposting_a_round_with_a_malformed_study_is_refused(game_app):
    """An existing round id with "study": {} got 200 (the idempotent path skipped validation)."""
    client = consented_client(game_app)
    round_id, _ = start(client)
    answer = client.post("/api/rounds", json={"round_id": round_id, "study": {}})
    assert answer.status_code == 400 and "study" in answer.get_json()["error"]
    fresh = client.post("/api/rounds", json={"round_id": str(uuid.uuid4()), "study": {}})
    assert fresh.status_code == 400



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_413_from_gunicorn_closes_the_connection(tmp_path):
    """Under gunicorn, as `make play` runs it: the 413 says `Connection: close` and the server
    drops the connection instead of keeping it alive with the body unread (gunicorn.conf.py)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
                               "--threads", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        sock.sendall(b"POST /api/rounds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000\r\n\r\n" + b"[" * 100_000)
        received = b""
        while chunk := sock.recv(65536):  # ends when the server closes (a timeout fails the test)
            received += chunk
        sock.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    head = received.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 413") and "Connection: close" in head
