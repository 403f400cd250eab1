"""Issue 20, item 2: `make serve` (nginx in front of gunicorn) cannot be stalled by slow clients.

The attack: clients that send a request body at 1 byte a second. Against gunicorn alone (what
`make play` runs) 8 of them held all 8 threads and every other request waited 20 s. Here 32 of
them run while another client keeps asking the API: through `make serve` every answer must come
in under a second; against plain gunicorn the same attack must visibly stall it (so the test
is known to measure something). Starts real servers on free loopback ports; about a minute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import uuid
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO, make_test_app

SLOW_CLIENTS = 32
ATTACK_S = 7.0
TIMEOUT_S = 3.0
NGINX_MISSING = ("nginx is not installed (apt-get install nginx; .ci/run installs it in "
                 "CI); scripts/serve.py installs it itself when run as root")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nginx_or_skip() -> None:
    if shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {NGINX_MISSING}")
    pytest.skip(NGINX_MISSING)


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A migrated SQLite database with the default stimuli (what `make setup` makes)."""
    from webapp.cli import DEFAULT_SET_FILE
    from webapp.extensions import db
    from webapp.services.stimuli import import_drawings, read_drawings

    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    app = make_test_app(url, tmp_path)
    with app.app_context():
        import_drawings(read_drawings(DEFAULT_SET_FILE), app.config["DEFAULT_STIMULUS_SET"])
        db.engine.dispose()
    return url


def _environment(database: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DA_") and k != "SECRET_KEY"}
    return {**env, "DATABASE_URL": database, "DA_DEVICE": "cpu",
            "DA_SECRET_KEY_FILE": str(tmp_path / "instance" / "secret_key")}


def _wait_until_up(base: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(base + "/api/me", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            time.sleep(0.3)
    raise AssertionError("server did not start")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _serving(database: str, tmp_path: Path, *gunicorn: str) -> Iterator[tuple[str, Path]]:
    """`make serve`'s command (scripts/serve.py) on a free port, with its default gunicorn
    options or ``gunicorn``; yields (base URL, instance)."""
    _nginx_or_skip()
    port, instance = _free_port(), tmp_path / "instance"
    process = subprocess.Popen([sys.executable, "scripts/serve.py", "--port", str(port),
                                "--instance", str(instance), *(["--", *gunicorn] if gunicorn else [])],
                               cwd=REPO, env=_environment(database, tmp_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base, instance
    finally:
        _stop(process)
    assert not list((instance / "serve").glob("nginx.pid")) or not _pid_alive(instance)


@pytest.fixture
def served(database: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with _serving(database, tmp_path) as server:
        yield server


def _pid_alive(instance: Path) -> bool:
    try:
        pid = int((instance / "serve" / "nginx.pid").read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.fixture
def plain_gunicorn(database: str, tmp_path: Path) -> Iterator[str]:
    """`make play`'s server: gunicorn alone, 1 worker with 8 threads."""
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "--worker-class", "gthread", "--workers", "1", "--threads", "8",
         "--timeout", "60", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=REPO, env=_environment(database, tmp_path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        _stop(process)


def _slow_body(port: int, stop: threading.Event) -> None:
    """POST /api/me whose 64-byte JSON body comes one byte a second."""
    body = b'{"pseudonym": "' + b"x" * 47 + b'"}'
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"POST /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode())
            for byte in body:
                if stop.wait(1.0):
                    return
                conn.sendall(bytes([byte]))
    except OSError:
        return


def under_slow_clients(base: str, n_slow: int = SLOW_CLIENTS, seconds: float = ATTACK_S) -> list[float]:
    """Seconds each of a steady series of GET /api/me took while ``n_slow`` clients trickle
    bodies in (an unanswered request counts as `TIMEOUT_S`)."""
    port = int(base.rsplit(":", 1)[1])
    stop = threading.Event()
    attackers = [threading.Thread(target=_slow_body, args=(port, stop), daemon=True)
                 for _ in range(n_slow)]
    for thread in attackers:
        thread.start()
    time.sleep(1.0)  # every slow client is connected and has sent its headers
    took: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(base + "/api/me", timeout=TIMEOUT_S) as response:
                json.load(response)
            took.append(time.monotonic() - started)
        except (OSError, urllib.error.URLError):
            took.append(TIMEOUT_S)
        time.sleep(0.2)
    stop.set()
    for thread in attackers:
        thread.join(timeout=5)
    return took


def test_make_serve_keeps_answering_while_32_clients_send_bodies_at_one_byte_a_second(served):
    base, instance = served
    took = under_slow_clients(base)
    print(f"make serve under {SLOW_CLIENTS} slow clients: {len(took)} requests, slowest "
          f"{max(took) * 1000:.0f} ms")
    assert len(took) >= 10 and max(took) < 1.0, took


def test_plain_gunicorn_is_stalled_by_the_same_attack(plain_gunicorn):
    """The control: without the buffering front, the attack freezes the server."""
    took = under_slow_clients(plain_gunicorn)
    print(f"plain gunicorn under {SLOW_CLIENTS} slow clients: slowest {max(took) * 1000:.0f} ms")
    assert max(took) >= 1.0, took


def test_make_serve_runs_production_settings_and_logs_to_files(served):
    from tests.conftest import shipped_settings

    base, instance = served
    version = shipped_settings("CONSENT_VERSION")["CONSENT_VERSION"]
    consent = urllib.request.Request(base + "/api/consent", method="POST",
                                     data=json.dumps({"version": version, "agree": True}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(consent, timeout=10) as response:
            cookie = response.headers["Set-Cookie"]
    except urllib.error.HTTPError as exc:
        raise AssertionError(exc.read()) from None
    assert "; Secure" in cookie and "HttpOnly" in cookie  # DA_ENV=production
    big = urllib.request.Request(base + "/api/me", method="POST", data=b"x" * (70 * 1024),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(big, timeout=10)
    assert refused.value.code == 413 and "error" in json.loads(refused.value.read())
    logs = {p.name for p in (instance / "logs").iterdir()}
    assert {"nginx-access.log", "nginx-error.log", "gunicorn-access.log",
            "gunicorn-error.log"} <= logs
    assert re.search(r"POST /api/consent", (instance / "logs" / "nginx-access.log").read_text())


def test_make_serve_carries_the_game_socket(database, tmp_path):
    """nginx passes the game socket's upgrade through (deploy/nginx.conf, issue 22): a round
    starts and takes a batch over it, with `make play`'s gunicorn options."""
    from websockets.sync.client import connect

    from tests.conftest import shipped_settings

    version = shipped_settings("CONSENT_VERSION")["CONSENT_VERSION"]
    options = ["--worker-class", "gthread", "--workers", "1", "--threads", "24", "--timeout", "60"]
    with _serving(database, tmp_path, *options) as (base, _):
        consent = urllib.request.Request(base + "/api/consent", method="POST",
                                         data=json.dumps({"version": version, "agree": True}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(consent, timeout=10) as response:
            cookie = response.headers["Set-Cookie"].split(";", 1)[0]
        with connect(base.replace("http://", "ws://") + "/api/socket",
                     additional_headers={"Cookie": cookie}, open_timeout=10) as ws:
            round_id = str(uuid.uuid4())
            ws.send(json.dumps({"id": 1, "method": "POST", "path": "/api/rounds",
                                "body": {"round_id": round_id}}))
            started = json.loads(ws.recv(timeout=30))
            assert started["status"] == 201, started
            ws.send(json.dumps({"id": 2, "method": "POST", "path": f"/api/rounds/{round_id}/points",
                                "body": {"start_index": 0, "points": [[1.5, 0.5, 100.0]]}}))
            batch = json.loads(ws.recv(timeout=30))
            assert batch["status"] == 200 and batch["body"]["n_points"] == 1, batch
