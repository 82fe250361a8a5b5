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
from alembic import op

from migrations.ops import create_index_online, document, drop_index_online

revision = "0003_expand_soft_delete_indexes"
down_revision = "0002_expand_uuids"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

SOFT_DELETED = ("products", "orders")
WITH_METADATA = ("products", "orders")
INDEXES = (
    ("orders", ("user_id", "created_at", "id")),  # history: WHERE user_id ORDER BY created_at, id
    ("orders", ("created_at",)),  # sales report: WHERE created_at BETWEEN
    ("order_items", ("order_id",)),  # an order's lines (the N+1's inner query)
    ("cart_items", ("user_id",)),  # a user's cart
)


def upgrade() -> None:
    for table in SOFT_DELETED:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True)))
    for table in WITH_METADATA:
        op.add_column(table, sa.Column("metadata", document()))
    for table, columns in INDEXES:
        create_index_online(table, columns)


def downgrade() -> None:
    for table, columns in reversed(INDEXES):
        drop_index_online(table, columns)
    for table in sorted(set(SOFT_DELETED) | set(WITH_METADATA)):
        with op.batch_alter_table(table) as batch:
            if table in WITH_METADATA:
                batch.drop_column("metadata")
            if table in SOFT_DELETED:
                batch.drop_column("deleted_at")
