"""Online schema operations the revisions share, one definition per dialect.

Revisions are history: change a helper here only in ways every revision that calls it
still wants (or copy the old version into the revision first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.uuid_sql import uuid4_sql


def document() -> sa.types.TypeEngine[Any]:
    """A JSON document column: JSONB on PostgreSQL (indexable, compact), JSON elsewhere."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def dialect() -> str:
    return op.get_bind().dialect.name


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
    """CREATE INDEX that lets writes go on: CONCURRENTLY on PostgreSQL (outside the
    revision's transaction, as PostgreSQL requires); SQLite builds indexes quickly enough
    under its single writer lock."""
    name = index_name(table, columns, unique=unique)
    condition = sa.text(where) if where else None
    if dialect() == "postgresql":
        with op.get_context().autocommit_block():
            # A concurrent build that failed (a lock timeout, a duplicate) leaves an INVALID
            # index behind; drop it so the rerun builds a real one instead of skipping it.
            invalid = op.get_bind().execute(
                sa.text(
                    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = :name AND NOT i.indisvalid"
                ),
                {"name": name},
            )
            if invalid.first() is not None:
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
            op.create_index(
                name,
                table,
                list(columns),
                unique=unique,
                postgresql_concurrently=True,
                postgresql_where=condition,
                if_not_exists=True,
            )
    else:
        op.create_index(name, table, list(columns), unique=unique, sqlite_where=condition)


def drop_index_online(table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    name = index_name(table, columns, unique=unique)
    if dialect() == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(name, table_name=table)


def uuid_trigger_name(table: str) -> str:
    return f"trg_{table}_uuid"


def mint_uuids_for_new_rows(table: str) -> None:
    """Rows the legacy app inserts from now on get a UUID without the app knowing:
    a column default on PostgreSQL; on SQLite, whose ALTER TABLE cannot add a volatile
    default, a trigger that fills it right after the insert."""
    if dialect() == "postgresql":
        op.alter_column(table, "uuid", server_default=sa.text(uuid4_sql("postgresql")))
    else:
        op.execute(  # table names come from the revisions, never from input
            f"CREATE TRIGGER {uuid_trigger_name(table)} AFTER INSERT ON {table} "  # noqa: S608
            f"FOR EACH ROW WHEN NEW.uuid IS NULL BEGIN "
            f"UPDATE {table} SET uuid = {uuid4_sql('sqlite')} WHERE id = NEW.id; END"
        )


def stop_minting_uuids(table: str) -> None:
    if dialect() == "postgresql":
        op.alter_column(table, "uuid", server_default=None)
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {uuid_trigger_name(table)}")


def _constraint_exists(name: str) -> bool:
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_constraint WHERE conname = :name"), {"name": name}
    )
    return found.first() is not None


def set_not_null_online(table: str, column: str) -> None:
    """SET NOT NULL without scanning the table under an exclusive lock (PostgreSQL 12+):
    a NOT VALID check is added in an instant, validated while writes go on, and then
    lets SET NOT NULL skip its scan. Each statement commits on its own and can be rerun."""
    check = f"ck_{table}_{column}_not_null"
    with op.get_context().autocommit_block():
        if not _constraint_exists(check):
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID"
            )
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}")
        op.alter_column(table, column, nullable=False)
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check}")


def add_foreign_key_online(table: str, column: str, parent: str) -> str:
    """A foreign key added NOT VALID and validated separately, so existing rows are checked
    without blocking writes to either table (PostgreSQL)."""
    name = f"fk_{table}_{column}_{parent}"
    with op.get_context().autocommit_block():
        if not _constraint_exists(name):
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
                f"REFERENCES {parent} (id) NOT VALID"
            )
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
    return name
