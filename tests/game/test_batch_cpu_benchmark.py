"""`python -m benchmarks batch_cpu` runs and reports its figures (a smoke run, not a timing)."""

from __future__ import annotations

import json

from benchmarks import batch_cpu
from tests.game.test_rounds import MAX_STATEMENTS_PER_BATCH


def test_batch_cpu_benchmark_smoke_run(capsys):
    assert batch_cpu.main(["--quick", "--database", "sqlite"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])["batch_cpu"]["sqlite"]
    assert figures["batches"] == 20
    assert 0 < figures["statements"] <= MAX_STATEMENTS_PER_BATCH["sqlite"]
    assert figures["request_ms"] > 0 and figures["empty_request_ms"] > 0
    assert figures["guess_alone_ms"] > 0 and figures["process_ms"] >= figures["request_ms"]
