"""Online schema operations the revisions share, one definition per dialect.

On PostgreSQL, DDL runs in `short_transactions()`: each statement commits on its own, so
no ACCESS EXCLUSIVE lock outlives the statement that took it, and a statement that
cannot get its lock within `lock_timeout` is retried a few times instead of queueing
every request behind it. That gives up the revision's atomicity, so every operation here
is re-entrant: a revision that failed half-way is simply run again. On SQLite a revision
is one transaction (migrations/database.py), and a column change rebuilds the table.

Revisions are history: change a helper here only in ways every revision that calls it
still wants (or copy the old version into the revision first).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations
from sqlalchemy.dialects import postgresql

from migrations.database import LOCK_TIMEOUT
from migrations.uuid_sql import uuid4_sql

LOCK_ATTEMPTS = 5
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout


def document() -> sa.types.TypeEngine[Any]:
    """A JSON document column: JSONB on PostgreSQL (indexable, compact), JSON elsewhere."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def dialect() -> str:
    return op.get_bind().dialect.name


@contextmanager
def short_transactions() -> Iterator[None]:
    """PostgreSQL: every statement inside commits on its own (Alembic's autocommit block).
    SQLite: nothing changes; the revision stays one transaction."""
    if dialect() == "postgresql":
        with op.get_context().autocommit_block():
            yield
    else:
        yield


def with_lock_retries(action: Callable[[], object]) -> None:
    """Run one DDL statement; when its lock times out, wait a little longer each time and
    retry, so a busy table delays the migration instead of the shop."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            action()
            return
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            if attempt == LOCK_ATTEMPTS:
                raise RuntimeError(
                    f"gave up after {LOCK_ATTEMPTS} lock timeouts of {LOCK_TIMEOUT}: a long "
                    "transaction holds the table; run the same command again later"
                ) from exc
            time.sleep(attempt)


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def add_column_once(table: str, column: sa.Column[Any]) -> None:
    if column.name not in _columns(table):
        with_lock_retries(lambda: op.add_column(table, column))


def create_table_once(name: str, *items: Any) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        with_lock_retries(lambda: op.create_table(name, *items))


def index_name(table: str, columns: Sequence[str], *, unique: bool = False) -> str:
    """`ix_<table>_<columns>`, or `uq_...` for a unique index (migrations/naming.py)."""
    return f"{'uq' if unique else 'ix'}_{table}_{'_'.join(columns)}"


def create_index_online(
    table: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    where: str | None = None,
) -> None:
    """CREATE INDEX that lets writes go on: CONCURRENTLY on PostgreSQL (call it inside
    `short_transactions()`, as PostgreSQL requires); SQLite builds indexes quickly enough
    under its single writer lock."""
    name = index_name(table, columns, unique=unique)
    condition = sa.text(where) if where else None
    if dialect() != "postgresql":
        op.create_index(
            name, table, list(columns), unique=unique, sqlite_where=condition, if_not_exists=True
        )
        return
    # A concurrent build that failed (a timeout, a duplicate) leaves an INVALID index
    # behind; drop it so the rerun builds a real one instead of skipping it.
    invalid = op.get_bind().execute(
        sa.text(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = :name AND NOT i.indisvalid"
        ),
        {"name": name},
    )
    if invalid.first() is not None:
        op.drop_index(name, table_name=table, postgresql_concurrently=True)
    # CONCURRENTLY waits for every older transaction to end; that wait blocks nobody,
    # so it must not be cut short by the lock_timeout meant for ACCESS EXCLUSIVE locks.
    op.execute("SET lock_timeout = 0")
    try:
        op.create_index(
            name,
            table,
            list(columns),
            unique=unique,
            postgresql_concurrently=True,
            postgresql_where=condition,
            if_not_exists=True,
        )
    finally:
        op.execute(
            sa.text("SELECT set_config('lock_timeout', :t, false)").bindparams(t=LOCK_TIMEOUT)
        )


def drop_index_online(table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    name = index_name(table, columns, unique=unique)
    if dialect() == "postgresql":
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(name, table_name=table, if_exists=True)


@contextmanager
def rebuilt(table: str, **options: Any) -> Iterator[BatchOperations]:
    """`batch_alter_table` that keeps the table's triggers: SQLite drops them with the old
    table when it rebuilds one, and nothing would say so."""
    triggers: Sequence[str] = ()
    if dialect() == "sqlite":
        triggers = (
            op.get_bind()
            .execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                {"t": table},
            )
            .scalars()
            .all()
        )
    with op.batch_alter_table(table, **options) as batch:
        yield batch
    for sql in triggers:
        op.execute(sql)


def uuid_trigger_name(table: str) -> str:
    return f"trg_{table}_uuid"


def mint_uuids_for_new_rows(table: str) -> None:
    """Rows the legacy app inserts from now on get a UUID without the app knowing:
    a column default on PostgreSQL; on SQLite, whose ALTER TABLE cannot add a volatile
    default, a trigger that fills it right after the insert."""
    if dialect() == "postgresql":
        with_lock_retries(
            lambda: op.alter_column(table, "uuid", server_default=sa.text(uuid4_sql("postgresql")))
        )
    else:
        op.execute(  # table names come from the revisions, never from input
            f"CREATE TRIGGER IF NOT EXISTS {uuid_trigger_name(table)} "  # noqa: S608
            f"AFTER INSERT ON {table} FOR EACH ROW WHEN NEW.uuid IS NULL BEGIN "
            f"UPDATE {table} SET uuid = {uuid4_sql('sqlite')} WHERE id = NEW.id; END"
        )


def stop_minting_uuids(table: str) -> None:
    if dialect() == "postgresql":
        with_lock_retries(lambda: op.alter_column(table, "uuid", server_default=None))
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {uuid_trigger_name(table)}")


def _constraint_exists(name: str) -> bool:
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_constraint WHERE conname = :name"), {"name": name}
    )
    return found.first() is not None


def set_not_null_online(table: str, column: str) -> None:
    """SET NOT NULL without scanning the table under an exclusive lock (PostgreSQL 12+,
    inside `short_transactions()`): a NOT VALID check is added in an instant, validated
    while writes go on, and then lets SET NOT NULL skip its scan."""
    check = f"ck_{table}_{column}_not_null"
    if not _constraint_exists(check):
        with_lock_retries(
            lambda: op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID"
            )
        )
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}")
    with_lock_retries(lambda: op.alter_column(table, column, nullable=False))
    with_lock_retries(lambda: op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check}"))


def add_foreign_key_online(table: str, column: str, parent: str) -> str:
    """A foreign key added NOT VALID and validated separately, so existing rows are checked
    without blocking writes to either table (PostgreSQL, inside `short_transactions()`)."""
    name = f"fk_{table}_{column}_{parent}"
    if not _constraint_exists(name):
        with_lock_retries(
            lambda: op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
                f"REFERENCES {parent} (id) NOT VALID"
            )
        )
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
    return name
