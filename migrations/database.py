"""How migration tools connect: the shop's database URL, patient locks, real transactions.

SQLite: pysqlite normally sends no BEGIN before DDL, so each statement of a revision
would commit on its own and a failure would leave half a revision behind. We take over
transaction control (SQLAlchemy's documented recipe) and begin with `BEGIN IMMEDIATE`:
the write lock is taken up front, waiting up to 30 s for the legacy app's writer, so a
revision or a backfill batch is one atomic unit.

PostgreSQL: a `lock_timeout` (STRANGLER_MIGRATE_LOCK_TIMEOUT, default 2s), so a DDL
statement stuck behind a long transaction gives up quickly, and is retried
(migrations/ops.py), instead of queueing every request behind it: the classic way an
"online" migration takes a site down.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

LOCK_TIMEOUT = os.environ.get("STRANGLER_MIGRATE_LOCK_TIMEOUT", "2s")


def connect_url() -> str:
    """DATABASE_URL, else the laptop stack's SQLite file."""
    from strangler.settings import Settings

    return Settings.from_env().shop_database_url


def make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we send BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _postgres(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_TIMEOUT,))
        cursor.close()
        dbapi_connection.commit()

    return engine
