"""Engine tweaks that depend on the database backend."""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_engine_events(engine: Engine) -> None:
    """SQLite: WAL journal (readers never block the writer), foreign keys on, a busy timeout
    so concurrent gunicorn threads wait for the write lock instead of failing, and
    ``secure_delete`` so deleted rows (a withdrawn participant) are overwritten with zeros
    instead of lingering in free pages of the file.

    ``synchronous=NORMAL`` is SQLite's recommended setting for WAL: a commit no longer waits
    for an fsync (7 ms each on this machine's disk, with the write lock held, which capped the
    whole game at ~50 batches/s). A committed transaction still survives the server process
    being killed (`python -m benchmarks chaos` checks it); only an OS crash or power loss can
    roll back the last commits before a checkpoint. Use PostgreSQL where that matters.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


def begin_write() -> None:
    """End the session's current unit of work and open a transaction that is going to write.

    On SQLite this is ``BEGIN IMMEDIATE``: the database's write lock is taken now, waiting up to
    the busy timeout for it. A deferred transaction that has already read and later tries to
    write fails at once with "database is locked" when another writer committed in between
    (its snapshot is stale and SQLite cannot wait that out), and it could have acted on stale
    reads (lost updates, duplicate inserts). Taking the lock first makes every read in the
    transaction current. Keep such transactions short: never run the classifier inside one.

    PostgreSQL needs nothing here: writers lock the rows they change (``SELECT ... FOR
    UPDATE``, atomic ``UPDATE``s) and do not block readers.
    """
    from .extensions import db

    db.session.commit()
    if db.session.get_bind().dialect.name == "sqlite":
        # pysqlite (legacy transaction control) opens its own deferred transaction only
        # before a write statement; an explicit BEGIN IMMEDIATE replaces it.
        # On the session's connection directly: it is run for every write, and the ORM's
        # statement handling cost more than the statement.
        db.session.connection().exec_driver_sql("BEGIN IMMEDIATE")
def purge_deleted_rows() -> None:
    """After a deletion that must leave no trace: on SQLite, copy the WAL into the database
    file and truncate it to zero bytes, so the old page images (which still hold the deleted
    rows) are gone from ``-wal`` too; ``secure_delete`` has already zeroed them in the file.
    PostgreSQL needs nothing here (its WAL is not a copy a user can open)."""
    from .extensions import db

    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        logging.getLogger(__name__).warning(
            "WAL checkpoint after a deletion was blocked by a reader; the WAL is truncated at "
            "the next checkpoint")
