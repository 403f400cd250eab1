"""The real game server for the load and chaos benchmarks: a temporary database and gunicorn.

The server is started the way ``make play`` starts it (``flask --app wsgi setup``, then gunicorn
with the Makefile's ``GUNICORN_OPTS``), on a free port of 127.0.0.1, in its own process group so
the chaos benchmark can SIGKILL it whole. Its database is a temporary SQLite file or a fresh
PostgreSQL database that is dropped afterwards.

The simulated players all connect from 127.0.0.1, so the server sees what a lab, a school or a
carrier NAT looks like: many distinct players behind one address. `crowd_behind_one_address` sets
the per-address rate limits (``DA_LIMIT_*_PER_ADDRESS``) to what that many players may do between
them; the per-player limits and the anti-cheat stay as shipped, so every simulated player is still
held to what an honest player is held to.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import requests
import sqlalchemy as sa
from limits import parse_many

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("DA_TEST_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def gunicorn_options(workers: int | None = None) -> list[str]:
    """The Makefile's GUNICORN_OPTS (one owner of how the game is served) and ``--workers`` if
    given (otherwise gunicorn.conf.py decides, as for ``make play``)."""
    makefile = (REPO / "Makefile").read_text()
    found = re.search(r"^GUNICORN_OPTS \?= (.*)$", makefile, re.MULTILINE)
    if found is None:
        raise RuntimeError("GUNICORN_OPTS not found in the Makefile")
    options = shlex.split(found.group(1))
    if workers is not None:
        options += ["--workers", str(workers)]
    return options


def crowd_behind_one_address(players: int) -> dict[str, str]:
    """``DA_LIMIT_*_PER_ADDRESS`` for ``players`` distinct players behind one address: each
    per-address limit becomes the per-player limit (``DA_LIMIT_ROUND_STARTS``,
    ``DA_LIMIT_BATCHES``, as configured) times ``players``, and that many players may be made.

    The shipped per-address limits are sized for one household, not for a crowd of simulated
    players on 127.0.0.1, which would otherwise be refused (429) for sharing an address.
    """
    from webapp.config import from_env

    config = from_env("instance")
    env = {}
    for per_player, per_address in (("LIMIT_ROUND_STARTS", "LIMIT_ROUND_STARTS_PER_ADDRESS"),
                                    ("LIMIT_BATCHES", "LIMIT_BATCHES_PER_ADDRESS")):
        env[f"DA_{per_address}"] = ";".join(
            f"{item.amount * players} per {item.multiples} {item.GRANULARITY.name}"
            for item in parse_many(str(config[per_player])))
    # every simulated player is made (by consent) from the same address, once
    env["DA_LIMIT_NEW_PLAYERS_PER_ADDRESS"] = f"{max(players, 1)} per minute"
    return env


#: the Redis that ``load --rate-limits redis`` keeps the server's rate-limit counters in
REDIS_URL = os.environ.get("DA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def shared_rate_limits() -> dict[str, str]:
    """The settings of a deployment with several workers (docs/load.md): the rate-limit
    counters in Redis at `REDIS_URL`, under a key prefix of this run's own so that no earlier
    run's counters count. Raises `DatabaseUnavailable` when no Redis answers there."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no shared store here"
        raise DatabaseUnavailable(f"no Redis answers at {REDIS_URL} (DA_TEST_REDIS_URL): "
                                  f"{type(exc).__name__}") from None
    return {"DA_RATELIMIT_STORAGE_URI": REDIS_URL,
            "DA_RATELIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:12]}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DatabaseUnavailable(RuntimeError):
    """The PostgreSQL server for ``--database postgresql`` cannot be reached."""


class TempDatabase:
    """A throw-away database: ``sqlite`` (a file in a temp folder) or ``postgresql``."""

    def __init__(self, kind: str) -> None:
        if kind not in ("sqlite", "postgresql"):
            raise ValueError("database must be sqlite or postgresql")
        self.kind = kind
        self._tmp = tempfile.TemporaryDirectory(prefix="da-bench-")
        if kind == "sqlite":
            self.url = f"sqlite:///{Path(self._tmp.name) / 'bench.sqlite3'}"
            self.name = None
        else:
            self.name = f"da_bench_{uuid.uuid4().hex[:10]}"
            try:
                with self._admin().connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            except sa.exc.OperationalError as exc:
                self._tmp.cleanup()
                raise DatabaseUnavailable(
                    f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} (set DA_TEST_POSTGRES_URL): "
                    f"{str(exc).splitlines()[0]}") from None
            self.url = f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{self.name}"

    @staticmethod
    def _admin() -> sa.Engine:
        return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

    @property
    def folder(self) -> Path:
        return Path(self._tmp.name)

    def drop(self) -> None:
        if self.name is not None:
            engine = self._admin()
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :n"), {"n": self.name})
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            engine.dispose()
        self._tmp.cleanup()


def uncredited_rounds(url: str) -> dict[str, int]:
    """Ended rounds the anti-cheat did not credit, by the rule they broke (``flag_reason``'s code).

    The simulated players brush like honest ones, so every figure should be 0: a non-zero one
    means the load generator (or the server's clock under load) looks like a cheat.
    """
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT flag_reason FROM round WHERE NOT credited AND status <> 'active'")).all()
    engine.dispose()
    by_rule: dict[str, int] = {}
    for (reason,) in rows:
        rule = (reason or "no reason stored").split(":", 1)[0]
        by_rule[rule] = by_rule.get(rule, 0) + 1
    return by_rule


def stimulus_ids(url: str) -> list[int]:
    """The ids of the stimuli stored in the database at ``url``."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM stimulus ORDER BY id")).scalars())
    engine.dispose()
    return ids


def proc_stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name, so ``[0]`` is field 3 (state);
    the name is cut at its last ``)`` because it may itself hold spaces and parentheses."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class GameServer:
    """gunicorn serving ``wsgi:app`` on a free 127.0.0.1 port against ``database``; ``env`` adds
    settings (the benchmarks pass `crowd_behind_one_address`)."""

    def __init__(self, database: TempDatabase, workers: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.database = database
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = database.folder / "server.log"
        self.env = {**os.environ, "DATABASE_URL": database.url, "DA_EXPOSE_STATS": "1",
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), **(env or {})}
        self.proc: subprocess.Popen | None = None

    def setup(self) -> None:
        """Migrations and the default stimulus set, as ``make play`` does."""
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "setup"], cwd=REPO,
                       env=self.env, check=True, stdout=subprocess.DEVNULL)

    def start(self, ready_timeout_s: float = 60.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *gunicorn_options(self.workers),
                 "--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
                cwd=REPO, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.base_url}/api/openapi.json", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {ready_timeout_s} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole process group (master and workers): no clean shutdown at all."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def cpu_seconds(self, pids: list[int]) -> float:
        """User + system CPU seconds used so far by the master and the given worker processes.

        On a shared machine latency depends on the other tenants; CPU per request does not,
        so the load benchmark reports it too.
        """
        total = 0
        for pid in {self.proc.pid, *pids} if self.proc is not None else pids:
            fields = proc_stat_fields(pid)
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / os.sysconf("SC_CLK_TCK")

    def database_cpu_seconds(self) -> float | None:
        """CPU seconds used so far by the PostgreSQL backends serving this server's database
        (None on SQLite, whose work is done inside the workers). On one machine the database
        shares the cores with the game, so its CPU belongs in the cost of a batch."""
        name = self.database.name
        if name is None:
            return None
        total = 0
        for folder in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (folder / "cmdline").read_bytes().decode(errors="replace")
                if not cmdline.startswith("postgres: ") or f" {name} " not in cmdline:
                    continue
                fields = proc_stat_fields(int(folder.name))
            except OSError:  # ended while we looked, or not ours to read
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def worker_pids(self) -> set[int]:
        """The gunicorn master's live child processes: the workers that can serve requests."""
        if self.proc is None:
            return set()
        master, children = self.proc.pid, set()
        for folder in Path("/proc").glob("[0-9]*"):
            try:
                fields = proc_stat_fields(int(folder.name))
            except OSError:  # the process ended while we looked
                continue
            if int(fields[1]) == master:  # ppid (field 4)
                children.add(int(folder.name))
        return children

    def pipeline_stats(self, timeout_s: float = 30.0) -> dict[int, dict[str, int]]:
        """``{pid: {"forward_passes", "images", "ticks", "requests"}}`` of every worker process.

        Each worker has its own pipeline, and which worker accepts a connection is up to the
        kernel: a few sequential requests can all land on the same worker (CI once saw one
        of two workers after eight). So this asks in concurrent bursts, on fresh connections,
        until every live worker (`worker_pids`) has answered or ``timeout_s`` passes; a worker
        still missing then is left out, which `measure`'s ``worker_processes_seen`` shows.
        """
        wanted = self.worker_pids()
        per_pid: dict[int, dict[str, int]] = {}

        def ask(_: int) -> tuple[int, dict[str, int]]:
            answer = requests.get(f"{self.base_url}/_bench/stats", timeout=10).json()
            return answer.pop("pid"), answer

        burst = 4 * max(len(wanted), self.workers or 1)
        deadline = time.monotonic() + timeout_s
        with ThreadPoolExecutor(burst) as pool:
            while True:
                per_pid.update(pool.map(ask, range(burst)))
                if wanted <= per_pid.keys() or time.monotonic() > deadline:
                    return per_pid


def temp_databases(choice: str) -> Iterator[TempDatabase]:
    """A temporary database per kind in ``choice`` (sqlite, postgresql, or both), dropped after
    use. With ``both``, PostgreSQL is skipped (and said so) when it does not answer; naming it
    alone raises `DatabaseUnavailable` instead."""
    for kind in (["sqlite", "postgresql"] if choice == "both" else [choice]):
        try:
            database = TempDatabase(kind)
        except DatabaseUnavailable as exc:
            if choice != "both":
                raise
            print(f"{kind}: skipped ({exc})")
            continue
        try:
            yield database
        finally:
            database.drop()
