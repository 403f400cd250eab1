"""Several gunicorn worker processes on PostgreSQL: the setup the README recommends once one
process is the limit. Each worker has its own classifier, micro-batcher and mask cache, so
batches of one round land on different workers; they must still be stored and guessed
exactly (the mask is rebuilt from the database when a worker has not seen the round)."""

from __future__ import annotations

import pytest

from benchmarks import load


@pytest.mark.usefixtures("postgres_url")  # skips (or fails in CI) without a PostgreSQL server
def test_two_workers_on_postgresql_serve_real_rounds_without_errors():
    result = load.measure(players=8, seconds=6, database="postgresql", workers=2)
    assert result["worker_processes_seen"] == 2, result
    assert result["errors"] == 0 and result["batches"] > 20, result
    assert result["rounds_not_credited"] == 0, result  # the simulated players brush like a hand
