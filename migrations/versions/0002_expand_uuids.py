"""Expand: a UUID on every table the services will own, minted for new rows at once.

Additive only; the legacy app keeps working and never learns about UUIDs. Rows that
exist already are filled by `strangler migrate backfill` in small batches: filling them
here would rewrite each table in one long locking statement. `backfill_progress` keeps
the backfill's checkpoints so a crashed run continues where it stopped.

Revision ID: 0002_expand_uuids
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import (
    add_column_once,
    create_index_online,
    create_table_once,
    drop_index_online,
    mint_uuids_for_new_rows,
    rebuilt,
    short_transactions,
    stop_minting_uuids,
)

revision = "0002_expand_uuids"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = (
    "every row's uuid: an upgrade mints new ones, so a UUID a client was given is unknown"
)

# Users stay in the legacy app for now, but v2 APIs name them by UUID too.
OWNED_TABLES = ("users", "products", "cart_items", "orders", "order_items")


def upgrade() -> None:
    with short_transactions():
        create_table_once(
            "backfill_progress",
            sa.Column("step", sa.String(100), primary_key=True),
            sa.Column("last_id", sa.Integer, nullable=False),
            sa.Column("rows_filled", sa.Integer, nullable=False),
            sa.Column("batches", sa.Integer, nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True)),
        )
        for table in OWNED_TABLES:
            add_column_once(table, sa.Column("uuid", sa.Uuid(), nullable=True))
            mint_uuids_for_new_rows(table)
        for table in OWNED_TABLES:
            create_index_online(table, ["uuid"], unique=True)


def downgrade() -> None:
    with short_transactions():
        for table in OWNED_TABLES:
            drop_index_online(table, ["uuid"], unique=True)
            stop_minting_uuids(table)
    for table in OWNED_TABLES:
        with rebuilt(table) as batch:
            batch.drop_column("uuid")
    op.drop_table("backfill_progress")
