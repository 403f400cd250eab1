"""The short chaos run: the real server (gunicorn, SQLite in WAL with synchronous=NORMAL) is
SIGKILLed twice while players play; nothing it acknowledged may be lost or doubled.

SQLite is the database whose durability setting the game chose (see `webapp.database`);
``python -m benchmarks chaos --database postgresql`` runs the same check on PostgreSQL.
"""

from __future__ import annotations

from benchmarks import chaos


def test_sigkilled_server_loses_and_duplicates_nothing_it_acknowledged():
    result = chaos.measure(players=4, seconds=20, kills=2, database="sqlite")
    # Each kill waits for the restarted server to acknowledge a batch; a very busy machine may
    # leave time for only one of the two.
    assert result["kills"] >= 1 and result["acknowledged_points"] > 0, result
    assert result["acknowledged_points_lost"] == 0, result
    assert result["duplicated_points"] == 0, result
    assert result["duplicated_rounds"] == 0, result
    assert result["acknowledged_rounds_lost"] == 0, result
