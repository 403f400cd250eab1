"""Issue 20, item 3: no public keys. `make play` used to sign sessions with a key in the
repository, so anyone could forge a researcher's cookie; now the first run writes a random key
to the instance folder (never in git) and every later run reads it."""

from __future__ import annotations

import os
import stat
import subprocess
import threading

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from tests.conftest import REPO, make_test_app
from tests.research.conftest import PASSWORD


def _forged_cookie(app, key: str, researcher_id: int) -> str:
    """A session cookie signed with ``key`` as Flask would sign it, naming a researcher."""
    interface = SecureCookieSessionInterface()
    serializer = URLSafeTimedSerializer(key, salt=interface.salt, serializer=interface.serializer,
                                        signer_kwargs={"key_derivation": interface.key_derivation,
                                                       "digest_method": interface.digest_method})
    import time

    return serializer.dumps({"researcher": researcher_id, "researcher_epoch": 0,
                             "researcher_since": int(time.time())})


def test_a_cookie_forged_with_the_old_repository_key_opens_nothing(monkeypatch, tmp_path):
    """The attack: sign a researcher session with the key that was in the repository
    (``dev-only-not-secret``) and download exports from a development-mode server."""
    from webapp.research.auth import create_researcher

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DA_SECRET_KEY_FILE", str(tmp_path / "instance" / "secret_key"))
    app = make_test_app(f"sqlite:///{tmp_path / 'dev.sqlite3'}", tmp_path, SECRET_KEY=None)
    with app.app_context():
        alice = create_researcher("alice", PASSWORD)
        alice_id = alice.id
    client = app.test_client()
    client.set_cookie("session", _forged_cookie(app, "dev-only-not-secret", alice_id))
    for path in ("/research/dashboard", "/research/export/rounds"):
        assert client.get(path).status_code in (302, 401), path
    # The same forgery with the real key works, so the check above could fail.
    client.set_cookie("session", _forged_cookie(app, app.config["SECRET_KEY"], alice_id))
    assert client.get("/research/export/rounds").status_code == 200


def test_the_first_run_writes_a_private_random_key_later_runs_read_it(monkeypatch, tmp_path):
    from webapp.config import MIN_SECRET_KEY_GUESSES_LOG10, key_guesses_log10

    path = tmp_path / "instance" / "secret_key"
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DA_SECRET_KEY_FILE", str(path))
    first = make_test_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, SECRET_KEY=None)
    key = first.config["SECRET_KEY"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert key_guesses_log10(key) >= MIN_SECRET_KEY_GUESSES_LOG10
    again = make_test_app(f"sqlite:///{tmp_path / 'b.sqlite3'}", tmp_path, SECRET_KEY=None)
    assert again.config["SECRET_KEY"] == key
    other = tmp_path / "elsewhere" / "secret_key"
    monkeypatch.setenv("DA_SECRET_KEY_FILE", str(other))
    assert make_test_app(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path,
                         SECRET_KEY=None).config["SECRET_KEY"] != key


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    """Several gunicorn workers starting at once must not each write their own key."""
    from webapp.config import instance_secret_key

    path = tmp_path / "secret_key"
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(instance_secret_key(path)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys) == 8
    assert not [p for p in tmp_path.iterdir() if p.name != "secret_key"]  # no temporary left


def test_the_instance_key_is_never_in_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", "instance/secret_key"], cwd=REPO)
    assert ignored.returncode == 0
    assert "dev-only-not-secret" not in (REPO / "webapp" / "config.py").read_text()
