"""How migration tools connect: the shop's database URL, patient locks, no surprises.

SQLite waits up to 30 s for a writer (the legacy app keeps writing during expand and
backfill). PostgreSQL gets a `lock_timeout`, so a DDL statement stuck behind a long
transaction fails after a few seconds instead of queueing every request behind it
(the classic way an "online" migration takes a site down); run it again later.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

LOCK_TIMEOUT = os.environ.get("STRANGLER_MIGRATE_LOCK_TIMEOUT", "5s")


def connect_url() -> str:
    """DATABASE_URL, else the laptop stack's SQLite file."""
    from strangler.settings import Settings

    return Settings.from_env().shop_database_url


def make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _postgres(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_TIMEOUT,))
        cursor.close()
        dbapi_connection.commit()

    return engine
