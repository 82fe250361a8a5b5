"""Expand: the tables the extracted services need and the legacy app never had.

- `outbox_events`: events committed in the same transaction as the change that caused
  them; a relay publishes them to RQ and stamps `published_at` (the partial index keeps
  the relay's "what is left to publish" query small however long the history grows).
- `idempotency_records`: one row per (scope, Idempotency-Key): the request's hash, and
  once it is done the stored answer to replay (IETF draft semantics, issue #5).
- `stock_reservations`: stock held for a checkout until its order commits or the hold
  is released or expires, so two checkouts can never sell the same unit.

Revision ID: 0004_expand_service_tables
Revises: 0003_expand_soft_delete_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import (
    create_index_online,
    create_table_once,
    document,
    drop_index_online,
    short_transactions,
)

revision = "0004_expand_service_tables"
down_revision = "0003_expand_soft_delete_indexes"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = "the outbox, idempotency records and stock reservations (with their rows)"


def upgrade() -> None:
    with short_transactions():
        create_table_once(
            "outbox_events",
            sa.Column("id", sa.Uuid(), primary_key=True),
            sa.Column("topic", sa.String(100), nullable=False),  # e.g. order.placed
            sa.Column("aggregate_id", sa.String(64), nullable=False),
            sa.Column("payload", document(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True)),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("last_error", sa.Text),
        )
        create_index_online("outbox_events", ["created_at"], where="published_at IS NULL")
        create_table_once(
            "idempotency_records",
            sa.Column("scope", sa.String(200), primary_key=True),  # e.g. "POST /v2/orders"
            sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("request_hash", sa.String(64), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("claim_token", sa.String(36)),  # who may answer for an in-flight key
            sa.Column("response_status", sa.Integer),
            sa.Column("response_headers", document()),
            sa.Column("response_body", sa.LargeBinary),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.CheckConstraint("state IN ('in_flight', 'completed')", name="state"),
        )
        create_index_online("idempotency_records", ["expires_at"])
        create_table_once(
            "stock_reservations",
            sa.Column("id", sa.Uuid(), primary_key=True),
            # No foreign key: the legacy app still hard-deletes products, and a key would turn
            # that into an error the legacy code does not expect.
            sa.Column("product_id", sa.Integer, nullable=False),
            sa.Column("order_uuid", sa.Uuid()),
            sa.Column("quantity", sa.Integer, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.CheckConstraint("quantity > 0", name="quantity_positive"),
            sa.CheckConstraint("state IN ('held', 'committed', 'released')", name="state"),
        )
        create_index_online("stock_reservations", ["product_id", "state"])
        create_index_online("stock_reservations", ["expires_at"], where="state = 'held'")


def downgrade() -> None:
    with short_transactions():
        drop_index_online("stock_reservations", ["expires_at"])
        drop_index_online("stock_reservations", ["product_id", "state"])
        drop_index_online("idempotency_records", ["expires_at"])
        drop_index_online("outbox_events", ["created_at"])
    for table in ("stock_reservations", "idempotency_records", "outbox_events"):
        op.drop_table(table)
