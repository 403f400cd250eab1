"""Issue 22: how many gunicorn workers the game runs (gunicorn.conf.py), and what each worker
does before it takes requests."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import pytest

from webapp.config import default_workers

SQLITE = "sqlite:////tmp/game.sqlite3"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/game"


@pytest.mark.parametrize("url, store, cores, expected", [
    (SQLITE, "memory://", 8, 1),  # SQLite: one writer at a time, the pipeline's
    (SQLITE, "redis://127.0.0.1:6379/0", 8, 1),
    (POSTGRES, "memory://", 8, 1),  # per-process counters would multiply every rate limit
    (POSTGRES, "redis://127.0.0.1:6379/0", 2, 2),  # one per core ...
    (POSTGRES, "redis://127.0.0.1:6379/0", 64, 8),  # ... at most 8
])
def test_workers_follow_the_database_and_the_rate_limit_store(monkeypatch, url, store, cores, expected):
    monkeypatch.delenv("DA_WORKERS", raising=False)
    config = {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": store}
    assert default_workers(config, cores=cores) == expected


def test_an_operator_may_say_how_many(monkeypatch):
    monkeypatch.setenv("DA_WORKERS", "3")
    assert default_workers({"SQLALCHEMY_DATABASE_URI": SQLITE, "RATELIMIT_STORAGE_URI": "memory://"}) == 3


def _gunicorn_conf():
    path = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_reads_the_rule(monkeypatch):
    monkeypatch.delenv("DA_WORKERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", POSTGRES)
    monkeypatch.setenv("DA_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    assert _gunicorn_conf().workers == default_workers(
        {"SQLALCHEMY_DATABASE_URI": POSTGRES, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}) > 0
    monkeypatch.setenv("DATABASE_URL", SQLITE)
    assert _gunicorn_conf().workers == 1


def test_a_worker_loads_the_classifier_and_freezes_its_heap_before_serving(app):
    """Full garbage collections walked the whole heap (torch, SQLAlchemy, threads) and stopped
    the process for 60-190 ms under load; what is alive once the worker is ready is frozen."""
    assert "guess_service" not in app.extensions
    try:
        _gunicorn_conf().settle_heap(app)
        assert "guess_service" in app.extensions
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
