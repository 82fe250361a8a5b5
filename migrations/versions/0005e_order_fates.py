"""Expand: `order_fates`, what became of each order a checkout charged for.

A checkout charges the card, then commits the order. If the orders service dies between
the two, the payment stays captured with no order. The orders service's settler gives such
a payment back, and the retry of that checkout must then fail rather than place an order on
money that was returned. A row per order uuid decides which one happens: the order's
commit writes `placed`, and the settler writes `abandoned`. The primary key lets only the
first of the two in. The orders service owns this table; the legacy app never sees it.

It goes before the contract step (`0006_contract_orders`), as every expand does while
that step is still pending everywhere (migrations/README.md).

Revision ID: 0005e_order_fates
Revises: 0005d_ids_never_reused
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_table_once, short_transactions

revision = "0005e_order_fates"
down_revision = "0005d_ids_never_reused"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = (
    "what became of each charged checkout (a retry of a checkout whose payment was given "
    "back could then place its order)"
)


def upgrade() -> None:
    with short_transactions():
        create_table_once(
            "order_fates",
            sa.Column("order_uuid", sa.Uuid(), primary_key=True),
            sa.Column("fate", sa.String(16), nullable=False),  # placed | abandoned
            sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("order_fates")
