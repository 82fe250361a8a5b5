"""One way to connect to the shop's database, for the services and the migration tools.

SQLite: WAL, a 30 s busy timeout, and real transactions (`BEGIN IMMEDIATE`: pysqlite
otherwise sends no BEGIN before DDL and takes the write lock late, where a concurrent
writer makes it fail at once instead of waiting). PostgreSQL: a pool, and optionally a
`lock_timeout` so a statement stuck behind a long transaction gives up instead of
queueing everyone behind it.

`single_statement_reads(engine)` is the same pool for reads made of one statement, which
need no transaction around them: on PostgreSQL that spares a BEGIN and a ROLLBACK, two
round trips of the three such a read would otherwise take.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import JSON, Engine, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeEngine

_ONE_STATEMENT = "strangler_single_statement_read"


def _env_int(name: str, default: int) -> int:
    """A pool size from the environment, read where DATABASE_URL is: a stack whose every
    process keeps its pool on one PostgreSQL server (CI runs two test stacks on one server
    of 100 connections) sets a smaller one."""
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def make_engine(url: str, lock_timeout: str | None = None) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we send BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            if not conn.get_execution_options().get(_ONE_STATEMENT):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(
        url,
        pool_size=_env_int("DATABASE_POOL_SIZE", 10),
        max_overflow=_env_int("DATABASE_MAX_OVERFLOW", 10),
        pool_pre_ping=True,
    )
    if lock_timeout is not None:

        @event.listens_for(engine, "connect")
        def _postgres(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
            cursor.close()
            dbapi_connection.commit()

    return engine


def single_statement_reads(engine: Engine) -> Engine:
    """`engine` for reads of one statement each, outside any transaction: one statement
    sees one snapshot either way. PostgreSQL runs them in autocommit; SQLite (no round
    trips to spare) without `BEGIN IMMEDIATE`, so a read does not wait for the write lock."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_ONE_STATEMENT: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def json_document() -> TypeEngine[Any]:
    """The type of a JSON column as the migrations make it: JSONB on PostgreSQL, JSON
    (text) on SQLite."""
    return JSON().with_variant(JSONB(), "postgresql")
