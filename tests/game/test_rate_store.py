"""``memory-sweep://`` (webapp/rate_store.py): limits' memory store, swept without timer threads.

The plain ``memory://`` store is the control: under the same counting it starts timer threads
(what cost the server 11–12 % of its CPU at 200 players), and these tests would fail on it.
"""

from __future__ import annotations

import threading
import time

import pytest
from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from webapp import rate_store
from webapp.rate_store import SweepingMemoryStorage


@pytest.fixture
def timers_started(monkeypatch) -> list[float]:
    """Counts the `threading.Timer`s started from now on (limits' memory store uses them)."""
    started: list[float] = []
    real_start = threading.Timer.start

    def counting_start(self) -> None:  # noqa: ANN001
        started.append(time.monotonic())
        real_start(self)

    monkeypatch.setattr(threading.Timer, "start", counting_start)
    return started


def _count(storage, keys: int, hits: int) -> None:
    limiter = FixedWindowRateLimiter(storage)
    item = parse("1000/second")
    for i in range(hits):
        limiter.hit(item, f"player:{i % keys}", "batches/player")
        if i % 50 == 0:
            time.sleep(0.011)  # past the plain store's 10 ms timer, as a live server is


def test_the_default_store_is_the_sweeping_one(game_app) -> None:
    from webapp.extensions import limiter

    assert game_app.config["RATELIMIT_STORAGE_URI"] == "memory-sweep://"
    with game_app.app_context():
        assert isinstance(limiter.storage, SweepingMemoryStorage)
    assert isinstance(storage_from_string("memory-sweep://"), SweepingMemoryStorage)


def test_counting_starts_no_thread(timers_started) -> None:
    plain = MemoryStorage()
    _count(plain, keys=20, hits=500)
    assert len(timers_started) > 5  # the control: limits' own store starts timer after timer
    storage = SweepingMemoryStorage()
    timers_started.clear()
    _count(storage, keys=20, hits=500)
    assert timers_started == []


def test_it_counts_as_limits_memory_store_does() -> None:
    item = parse("3/second")
    for storage in (MemoryStorage(), SweepingMemoryStorage()):
        limiter = FixedWindowRateLimiter(storage)
        assert [limiter.hit(item, "player:a") for _ in range(4)] == [True, True, True, False]
        assert limiter.hit(item, "player:b")  # another key has its own counter
        assert limiter.get_window_stats(item, "player:a").remaining == 0
        time.sleep(1.05)  # the window is over: counting starts again
        assert limiter.hit(item, "player:a")


def test_expired_counters_are_swept_from_later_calls(monkeypatch) -> None:
    monkeypatch.setattr(rate_store, "SWEEP_EVERY_S", 0.2)
    storage = SweepingMemoryStorage()
    limiter = FixedWindowRateLimiter(storage)
    for player in range(50):
        limiter.hit(parse("5/second"), f"player:{player}")
    assert len(storage.storage) == 50
    time.sleep(1.3)  # every one of those windows is over, and a sweep is due
    limiter.hit(parse("5/minute"), "player:new")
    assert list(storage.storage) == [parse("5/minute").key_for("player:new")]
