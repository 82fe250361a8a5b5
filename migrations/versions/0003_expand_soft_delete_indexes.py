"""Expand: soft deletes, a metadata document, and the indexes the services' queries need.

`deleted_at` lets catalog and orders keep what the legacy app hard-deletes (products,
cancelled orders). `metadata` is a JSON document (JSONB on PostgreSQL) for what clients
attach to products and orders through v2 without a schema change per field. The indexes
serve the extracted services' hot queries: a user's order history, newest first and
paged by cursor; the sales report's date range; an order's lines; a user's cart.
`benchmarks/schema_explain.py` shows PostgreSQL using each of them at 100,000 orders.

Revision ID: 0003_expand_soft_delete_indexes
Revises: 0002_expand_uuids
"""

from __future__ import annotations

import sqlalchemy as sa

from migrations.ops import (
    add_column_once,
    create_index_online,
    document,
    drop_index_online,
    rebuilt,
    short_transactions,
)

revision = "0003_expand_soft_delete_indexes"
down_revision = "0002_expand_uuids"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = (
    "deleted_at (soft-deleted products and orders come back as live) and the metadata "
    "documents of products and orders"
)

SOFT_DELETED = ("products", "orders")
WITH_METADATA = ("products", "orders")
INDEXES = (
    ("orders", ("user_id", "created_at", "id")),  # history: WHERE user_id ORDER BY created_at, id
    ("orders", ("created_at",)),  # sales report: WHERE created_at BETWEEN
    ("order_items", ("order_id",)),  # an order's lines (the N+1's inner query)
    ("cart_items", ("user_id",)),  # a user's cart
)


def upgrade() -> None:
    with short_transactions():
        for table in SOFT_DELETED:
            add_column_once(table, sa.Column("deleted_at", sa.DateTime(timezone=True)))
        for table in WITH_METADATA:
            add_column_once(table, sa.Column("metadata", document()))
        for table, columns in INDEXES:
            create_index_online(table, columns)


def downgrade() -> None:
    with short_transactions():
        for table, columns in reversed(INDEXES):
            drop_index_online(table, columns)
    for table in sorted(set(SOFT_DELETED) | set(WITH_METADATA)):
        with rebuilt(table) as batch:
            if table in WITH_METADATA:
                batch.drop_column("metadata")
            if table in SOFT_DELETED:
                batch.drop_column("deleted_at")
