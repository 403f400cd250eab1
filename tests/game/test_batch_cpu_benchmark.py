"""`python -m benchmarks batch_cpu`: it runs and reports its figures, and ``--check`` fails loudly
(exit 1, naming the part) when the per-batch cost comes back. Smoke runs, not timings."""

from __future__ import annotations

import json

import sqlalchemy as sa

from benchmarks import batch_cpu
from webapp.services import group_commit

QUICK = ["--quick", "--database", "sqlite", "--group", "8"]


def _figures(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_batch_cpu_benchmark_smoke_run(capsys):
    assert batch_cpu.main(QUICK) == 0
    figures = _figures(capsys)["batch_cpu"]["sqlite"]
    assert figures["group"] == 8
    for part in ("batch_ms", "batch_no_guess_ms", "guess_ms", "start_ms", "socket_ms", "http_ms",
                 "batch_alone_ms", "empty_request_ms"):
        assert figures[part] > 0, part
    # a tick's statements do not grow with its size: SQLite's BEGIN IMMEDIATE, lock the rounds,
    # update them, insert the points, insert the guesses
    assert figures["statements_per_tick"] == 5
    assert figures["statements_per_start_tick"] <= batch_cpu.MAX_STATEMENTS["statements_per_start_tick"]


def test_check_fails_loudly_when_a_part_passes_its_ceiling(capsys, monkeypatch):
    monkeypatch.setattr(batch_cpu, "CEILINGS", {**batch_cpu.CEILINGS, "batch_no_guess_ms": 0.01})
    assert batch_cpu.main([*QUICK, "--check"]) == 1
    out = _figures(capsys)
    assert [line.split(":")[0] for line in out["over_ceiling"]] == ["sqlite batch_no_guess_ms"]


def test_a_statement_per_batch_coming_back_fails_the_check(capsys, monkeypatch):
    """A change that reads each batch's round again inside the commit (what the hot path did
    before the group commit) makes a tick's statements grow with its batches: --check fails."""
    real_write = group_commit.write

    def reading_each_round(conn, works):  # noqa: ANN001, ANN202 - stands in for group_commit.write
        for round_id in works:
            conn.execute(sa.text("SELECT n_points FROM round WHERE id = :r"), {"r": round_id})
        return real_write(conn, works)

    monkeypatch.setattr(group_commit, "write", reading_each_round)
    assert batch_cpu.main([*QUICK, "--check"]) == 1
    failed = _figures(capsys)["over_ceiling"]
    assert any(line.startswith("sqlite statements_per_tick") for line in failed), failed
