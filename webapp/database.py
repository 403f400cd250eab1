"""Engine tweaks that depend on the database backend."""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.engine import Engine


def configure_engine_events(engine: Engine) -> None:
    """SQLite: WAL journal (readers never block the writer), foreign keys on, a busy timeout
    so concurrent gunicorn threads wait for the write lock instead of failing, and
    ``secure_delete`` so deleted rows (a withdrawn participant) are overwritten with zeros
    instead of lingering in free pages of the file."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


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
