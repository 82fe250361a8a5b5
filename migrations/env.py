"""Alembic's entry point: one connection, one transaction per revision, safe lock waits.

`strangler migrate` passes its own connection in `config.attributes["connection"]`;
plain `alembic -c migrations/alembic.ini ...` connects to DATABASE_URL (else the laptop's
SQLite file under STRANGLER_HOME).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from migrations.database import connect_url, make_engine
from migrations.naming import conventional_metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # Not the head schema: revisions here are written by hand (autogenerate cannot write
        # CONCURRENTLY, batches or triggers). It carries the naming convention to `op`.
        target_metadata=conventional_metadata(),
        transaction_per_migration=True,  # a failed step leaves the ones before it applied
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit(
        "offline (--sql) mode is not supported: the revisions check preconditions and "
        "choose their SQL by looking at the database"
    )

given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or connect_url())
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()
